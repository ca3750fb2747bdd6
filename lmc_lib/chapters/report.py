"""Claim verdicts: each chapter's "Result" cell records one per claim; the index shows them all.

Live verdicts (this build) go to `$LMC_RESULTS` (default `_build/results/<profile>/`; a kernel run
with other parameters than its chapter's, e.g. in `make lab`, writes to its variant folder); verdicts
recorded by a paper-profile run on a GPU are committed under `results/paper/` by the code in
`lmc_lib.chapters.record`. Nothing in either is typed by hand.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

from lmc_lib.chapters import notebook, params, resultview, stability
from lmc_lib.core import records
from lmc_lib.core.data import DATASET_NAMES
from lmc_lib.core.utils import REPO, LmcError, build_dir, jsonable
from lmc_lib.lmc import claims

RECORDED = REPO / "results"
BOOK = REPO / "book"
VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "not run")
CLAIM_ID = re.compile(r"[A-Za-z][A-Za-z0-9.-]*")

CLAIMS = {
    "C1": "Merged accuracy at λ = 1/2 rises with width towards the endpoints' accuracy",
    "C2": "Raw loss barrier stays large; calibrated loss barrier shrinks to about 0 with width",
    "C3": "Wide nets: random permutations change nothing; weight matching helps less with width",
    "C4": "LEWC cosine rises with width at every layer, to about 1 at the logits",
    "C5": "Weak-additivity cosine rises with width, above the Gaussian 0.9304 for wide nets",
    "C6": "Most units have tiny second moments; active-unit overlap falls with width (not with WM)",
    "C7": "Reciprocal-orthogonality ratio falls with width; the cosine of merged and endpoint features after W_a rises to 1",
    "C8": "Weaker weight decay breaks LEWC, both conditions and LMC",
    "C9": "Without permutations commutativity fails; with weight matching it holds",
    "C10": "Fitted inverse temperature grows with width (its size, $2^{L-1}$, is finding B1)",
    "C11": "Merged MLP activation norms decay exponentially with depth; BN nets do not",
    "C12": "Random-direction flatness improves with width but does not separate independent models",
}


def results_dir(profile: str, chapter: str | None = None) -> Path:
    """Where live verdicts of `profile` are written: $LMC_RESULTS (made absolute against the cwd);
    without it, a kernel running `chapter` with parameters other than its parameters cell's (an
    edited cell in JupyterLab, papermill -p) writes to the variant folder bookbuild would use."""
    env = os.environ.get("LMC_RESULTS")
    if env:
        return Path(env).expanduser().absolute() / profile
    found = kernel_variant(chapter) if chapter else None
    if found:
        return build_dir() / "variants" / params.variant_name(*found) / "results" / profile
    return build_dir() / "results" / profile


def chapter_source(chapter: str) -> Path | None:
    """The kernel's chapter file NN_topic.py: the notebook JupyterLab opened, else in the cwd or book/."""
    number = str(chapter).split("-")[0]
    opened = Path(os.environ.get("JPY_SESSION_NAME") or "")
    if opened.name.startswith(f"{number}_") and opened.suffix == ".py" and opened.is_file():
        return opened
    found = sorted(Path.cwd().glob(f"{number}_*.py")) or sorted(BOOK.glob(f"{number}_*.py"))
    return found[0] if found else None


def kernel_variant(chapter: str) -> tuple[str, dict] | None:
    """(chapter stem, variant parameters) when this kernel's parameters differ from its chapter's
    parameters cell (a profile equal to the build's $LMC_PROFILE is the book's); None otherwise."""
    shell, source = notebook.shell(), chapter_source(chapter)
    if shell is None or source is None:
        return None
    known, given = params.schema(source.name[:2], source), {}
    for name, default in params.chapter_defaults(source).items():
        now, then = _parsed(name, shell.user_ns.get(name, default), known), _parsed(name, default, known)
        if name in known and now is not None and now != then:
            given[name] = now
    if given.get("profile") == os.environ.get("LMC_PROFILE"):
        given.pop("profile", None)
    if not given:
        return None
    profile = _parsed("profile", shell.user_ns.get("profile", "cpu"), known) or "cpu"
    picked = params.variant(dict(given, profile=profile))
    return (source.stem, picked) if picked else None


def _parsed(name: str, value, known: dict):
    """The parameter's value as bookbuild checks it; None when it is no longer one (rebound)."""
    try:
        return params.parse(name, value, known[name]) if name in known else None
    except params.ParamError:
        return None


def git_commit() -> str:
    """The current commit hash (or 'unknown' outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
        return (out.stdout or "").strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class ClaimError(LmcError):
    """A claim id the book cannot record (unknown without a statement, or not a plain id)."""


def judge(checks: dict, core=None) -> str:
    """Verdict from named checks (True / False / None = undecided); see claims.judge."""
    return claims.judge(checks, core)


def setting_of(setup, widths=None) -> str:
    """A verdict's setting: the figure title plus the epochs of the widest run."""
    ws = list(widths or setup.widths)
    return setup.title(widths=ws, epochs=setup.config(ws[-1]).epochs)


def _check_claim(claim: str, statement: str | None) -> str:
    """The claim's statement; a clear error for ids that are not plain or unknown without one."""
    if not isinstance(claim, str) or not CLAIM_ID.fullmatch(claim):
        raise ClaimError(f"claim id {claim!r} is not a plain id; use letters, digits, '.' or '-' "
                         "starting with a letter, e.g. 'B1' or 'H1'")
    if claim not in CLAIMS and not statement:
        raise ClaimError(f"unknown claim {claim!r}: the paper's are {', '.join(CLAIMS)}; for a claim "
                         f"of your own pass statement='what {claim} says' to record_verdict")
    return CLAIMS.get(claim) or statement


def record_verdict(claim: str, chapter: str, profile: str, checks: dict, measured: dict,
                   setting: str = "", verdict: str | None = None, statement: str | None = None,
                   dataset: str = "", judgement: claims.Judgement | None = None) -> dict:
    """Judge a claim from its checks, write it as JSON, and return the record (any id with a statement).

    With a judgement (lmc_lib.lmc.claims), its checks, core, verdict, rows and sentences are
    recorded: what the Result table and the chapter's sentences show. With a dataset, the file is
    `<claim>_<chapter>_<dataset>.json`, so one chapter run on two datasets keeps both verdicts."""
    statement = _check_claim(claim, statement)
    j = judgement
    if j is not None:
        checks, verdict = j.checks, verdict or j.verdict
    if verdict is not None and verdict not in VERDICTS:
        raise ClaimError(f"verdict {verdict!r} is not one of {VERDICTS}")
    record = dict(claim=claim, chapter=chapter, profile=profile, dataset=dataset, statement=statement,
                  verdict=verdict or judge(checks), checks=checks, measured=measured,
                  setting=setting, date=_dt.datetime.now().isoformat(timespec="seconds"),
                  commit=git_commit(), core=list(j.core) if j else list(checks),
                  rows=list(j.rows.values()) if j else [],
                  sentences=list(j.sentences) if j else [])
    out = results_dir(profile, chapter)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{claim}_{chapter}" + (f"_{dataset}" if dataset else "")
    records.write(out / f"{stem}.json", jsonable(record, digits=5))  # whole or absent, checksummed
    return record


def result_markdown(records: list[dict]) -> str:
    """A chapter's Result cell: a MyST Result admonition, per claim its verdict and a table of
    its checks (quantity, mean ± std over pairs, rule, p-value, outcome); see resultview."""
    return resultview.result_markdown(records, CLAIMS)


def _judged(verdicts, runs, thresholds) -> list[dict]:
    return [r for result, setup in runs if setup for r in verdicts(result, setup, **thresholds)]


def show_result(verdicts, runs, **thresholds) -> list[dict]:
    """A chapter's Result cell in one call: `verdicts(result, setup, **thresholds)` for every
    (result, setup) run (a run whose setup is None, e.g. a skipped second dataset, is left out),
    shown as the Result admonition; the records are returned."""
    from IPython.display import Markdown, display

    records = _judged(verdicts, runs, thresholds)
    display(Markdown(result_markdown(records)))
    return records


def show_sentences(verdicts, run, claim_ids, **thresholds) -> list[dict]:
    """Show what the named claims' checks found in this run (`run` = (result, setup)): the
    sentences their claim functions wrote from the values the checks used; records returned."""
    from IPython.display import Markdown, display

    records = _judged(verdicts, [run], thresholds)
    display(Markdown(resultview.sentences_markdown(records, set(claim_ids))))
    return records


def found(chapter: str, profile: str) -> list[dict]:
    """This build's verdict records of one chapter (its own and its "-suffix" parts)."""
    recs = [r for rs in load_verdicts(results_dir(profile, chapter)).values() for r in rs
            if str(r["chapter"]).split("-")[0] == chapter]
    return sorted(recs, key=lambda r: (_natural(r["claim"]), r.get("dataset", "")))


def show_found(chapter: str, profile: str, regime=None) -> list[dict]:
    """The chapter's ending, "What this chapter found", computed from its verdict records;
    `regime(record) -> sentence or None` adds one sentence per claim about its training regime."""
    from IPython.display import Markdown, display

    recs = found(chapter, profile)
    display(Markdown(resultview.found_markdown(recs, CLAIMS, regime)))
    return recs


def _statement(record: dict) -> str:
    return CLAIMS.get(record["claim"]) or record.get("statement") or ""


def load_verdicts(folder: Path) -> dict[str, list[dict]]:
    """All verdict records in a folder (every claim id), grouped by claim."""
    found: dict[str, list[dict]] = {}
    for path in sorted(Path(folder).glob("*_*.json")):
        try:
            rec = records.read(path)
        except FileNotFoundError:  # removed while listed
            continue
        except records.DamagedRecord as err:  # reported, never trusted, never fatal to a render
            print(f"warning: skipping {err}; run its chapter again to write it anew",
                  file=sys.stderr, flush=True)
            continue
        if "claim" in rec and "verdict" in rec:
            found.setdefault(rec["claim"], []).append(rec)
    return found


def verdict_table(live_profile: str | None = None, cpu_records: dict | None = None) -> str:
    """Markdown tables of every claim's verdicts (live build; the paper recipe recorded on a CPU,
    `cpu_records` = regimes.all_verdicts(); recorded paper runs on a GPU): the paper's claims, then
    a section of claims beyond the paper; each verdict links to its chapter's Result."""
    live_profile = live_profile or os.environ.get("LMC_PROFILE", "cpu")
    cols = [load_verdicts(results_dir(live_profile)), cpu_records or {},
            load_verdicts(RECORDED / "paper")]
    seeds = stability.load(stability.folder_of())
    head = (f"| claim | what it says | verdict, `{live_profile}` profile (this build; "
            f"{_scale(cols[0])}) | same verdict with seed offset {stability.SEED}? (a recorded "
            f"second build) | verdict, paper recipe recorded on a CPU ({_scale(cols[1])}) | "
            f"verdict, `paper` profile recorded on a GPU ({_scale(cols[2])}) |"
            "\n|---|---|---|---|---|---|")
    line = lambda c, t: (f"| {c} | {t} | {_cell(cols[0].get(c))} | {_stable(cols[0].get(c), seeds)} | "  # noqa: E731
                         + " | ".join(_cell(col.get(c)) for col in cols[1:]) + " |")
    rows = [head] + [line(c, t) for c, t in CLAIMS.items()]
    extra = sorted({c for col in cols for c in col if c not in CLAIMS}, key=_natural)
    if extra:
        rows += ["", "### Claims beyond the paper and your own", "", head]
        rows += [line(c, _statement(next(col[c] for col in cols if col.get(c))[0])) for c in extra]
    live = [r for recs in cols[0].values() for r in recs]
    rows += ["", stability.summary(live, seeds, _judged_in)]
    return "\n".join(rows)


def _natural(claim: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", claim)]


def _scale(records: dict) -> str:
    """At what scale a column was measured: widths, pairs and epochs over its records' settings."""
    settings = [r.get("setting", "") for recs in records.values() for r in recs]
    if not settings:
        return "nothing recorded"
    widths, pairs, epochs = set(), set(), set()
    for s in settings:
        widths.update(_widths_of(s))
        pairs.update(re.findall(r"(\d+) pair", s))
        epochs.update(re.findall(r"epochs (\d+)|(\d+) epochs?\b", s))
    epochs = {a or b for a, b in epochs}
    parts = [f"w = {_span(widths)} (each verdict: its own)" if widths else "",
             f"{'-'.join(sorted({min(pairs, key=int), max(pairs, key=int)}, key=int))} pairs"
             if pairs else "",
             f"{', '.join(sorted(epochs, key=int))} epoch{'s' * (epochs != {'1'})}" if epochs else ""]
    return "; ".join(p for p in parts if p) or "see each chapter"


def _widths_of(setting: str) -> set:
    """The width labels a verdict's setting names ("w = 1/8, 1/4 | 3 pairs")."""
    widths = set()
    for m in re.finditer(r"w = ([0-9/., ]+)", setting):
        found = [w.strip() for w in m.group(1).split(",") if w.strip()]
        # "at w = 1/8, 1/4, 3 pairs": the last number counts pairs, it is not a width
        widths.update(found[:-1] if setting[m.end():].startswith("pair") else found)
    return widths


def _span(widths) -> str:
    ordered = sorted(widths, key=_value)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}"


def _value(label: str) -> float:
    try:
        return float(Fraction(label))
    except (ValueError, ZeroDivisionError):
        return float("inf")


def _cell(records) -> str:
    if not records:
        return "not run"
    def scale(r):
        ws = _widths_of(r.get("setting", ""))
        return f"; w = {_span(ws)}" if ws else ""
    return "; ".join(f"{_link(r)} (ch. {r['chapter']}{_dataset_label(r)}{scale(r)})" for r in records)


def _stable(records, seeds: dict) -> str:
    """The stability cell: whether each live verdict survives the recorded seed-shifted build."""
    return stability.cell(records or [], seeds, _judged_in)


def _judged_in(record: dict) -> str:
    """Where a verdict was judged, as the stability column and its summary name it."""
    return f"ch. {record['chapter']}{_dataset_label(record)}"


def _dataset_label(record: dict) -> str:
    ds = record.get("dataset") or ""
    return f", {DATASET_NAMES.get(ds, ds)}" if ds else ""


def _link(record: dict) -> str:
    """The verdict as a link to its chapter's Result section (plain text if no chapter file)."""
    number = str(record["chapter"]).split("-")[0]
    found = sorted(BOOK.glob(f"{number}_*.py")) if number else []
    return f"[{record['verdict']}]({found[0].stem}.ipynb#result)" if found else record["verdict"]
