"""Claim verdicts: each chapter's "Result" cell records one per claim; the index shows them all.

Live verdicts (this build) go to `$LMC_RESULTS` (default `_build/results/<profile>/`); verdicts
recorded by a paper-profile run on a GPU are committed under `results/paper/` by the code in
`lmc_lib.record`. Nothing in either is typed by hand.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RECORDED = REPO / "results"
VERDICTS = ("reproduced", "partly", "not reproduced", "not run")

CLAIMS = {
    "C1": "Merged accuracy at lam = 1/2 rises with width towards the endpoints' accuracy",
    "C2": "Raw loss barrier stays large; calibrated loss barrier shrinks to about 0 with width",
    "C3": "Wide nets: random permutations change nothing; weight matching helps less with width",
    "C4": "LEWC cosine rises with width at every layer, to about 1 at the logits",
    "C5": "Weak-additivity cosine rises with width, above the Gaussian 0.9304 for wide nets",
    "C6": "Most units have tiny second moments; active-unit overlap falls with width (not with WM)",
    "C7": "Reciprocal-orthogonality ratio falls with width; cos(W_a h_merged, W_a h_a) rises to 1",
    "C8": "Weaker weight decay breaks LEWC, both conditions and LMC",
    "C9": "Without permutations commutativity fails; with weight matching it holds",
    "C10": "Fitted inverse temperature grows with width (logits shrink by about 2^-(L-1))",
    "C11": "Merged MLP activation norms decay exponentially with depth; BN nets do not",
    "C12": "Random-direction flatness improves with width but does not separate independent models",
}


def results_dir(profile: str) -> Path:
    """Where live verdicts of `profile` are written."""
    root = Path(os.environ.get("LMC_RESULTS", REPO / "_build" / "results"))
    return root / profile


def git_commit() -> str:
    """The current commit hash (or 'unknown' outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 5)
    if isinstance(value, np.integer):
        return int(value)
    return value


def judge(checks: dict[str, bool]) -> str:
    """Verdict from named pass/fail checks: all pass -> reproduced, some -> partly, none -> not."""
    passed = sum(bool(v) for v in checks.values())
    if passed == len(checks):
        return "reproduced"
    return "partly" if passed else "not reproduced"


def rises(xs, ys, tol: float = 0.0) -> bool:
    """True when ys grows with xs: last above first by more than tol and Spearman rho > 0.5."""
    from scipy.stats import spearmanr

    ys = np.asarray(ys, dtype=float)
    if len(ys) < 2 or np.ptp(ys) == 0:
        return False
    rho = spearmanr(xs, ys)[0] if len(ys) > 2 else np.sign(ys[-1] - ys[0])
    return bool(ys[-1] - ys[0] > tol and rho > 0.5)


def falls(xs, ys, tol: float = 0.0) -> bool:
    """True when ys shrinks with xs (see `rises`)."""
    return rises(xs, -np.asarray(ys, dtype=float), tol)


def record_verdict(claim: str, chapter: str, profile: str, checks: dict[str, bool],
                   measured: dict, setting: str = "", verdict: str | None = None) -> dict:
    """Judge a claim from its checks, write it as JSON, and return the record."""
    if claim not in CLAIMS:
        raise KeyError(f"unknown claim {claim!r}; known: {list(CLAIMS)}")
    record = dict(claim=claim, chapter=chapter, profile=profile,
                  verdict=verdict or judge(checks), checks=checks, measured=measured,
                  setting=setting, date=_dt.datetime.now().isoformat(timespec="seconds"),
                  commit=git_commit())
    out = results_dir(profile)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{claim}_{chapter}.json").write_text(json.dumps(_jsonable(record), indent=1))
    return record


def result_markdown(records: list[dict]) -> str:
    """A chapter's Result cell: one line per claim with its verdict, checks and numbers."""
    lines = []
    for r in records:
        checks = "; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in r["checks"].items())
        nums = ", ".join(f"{k} = {_fmt(v)}" for k, v in r["measured"].items())
        lines.append(f"- **{r['claim']}** ({CLAIMS[r['claim']]}): **{r['verdict']}** "
                     f"at profile `{r['profile']}` ({r['setting']}). Checks: {checks}. "
                     f"Measured: {nums}.")
    return "\n".join(lines)


def _fmt(v) -> str:
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.3g}"
    return str(v)


def load_verdicts(folder: Path) -> dict[str, list[dict]]:
    """All verdict records in a folder, grouped by claim."""
    found: dict[str, list[dict]] = {}
    for path in sorted(Path(folder).glob("C*_*.json")):
        rec = json.loads(path.read_text())
        found.setdefault(rec["claim"], []).append(rec)
    return found


def verdict_table(live_profile: str | None = None) -> str:
    """Markdown table of every claim's verdicts: the live build's profile and recorded paper runs."""
    live_profile = live_profile or os.environ.get("LMC_PROFILE", "cpu")
    live = load_verdicts(results_dir(live_profile))
    recorded = load_verdicts(RECORDED / "paper")
    head = (f"| claim | what it says | verdict, `{live_profile}` profile (this build) "
            "| verdict, `paper` profile (recorded on a GPU) |\n|---|---|---|---|")
    rows = [head]
    for claim, text in CLAIMS.items():
        cells = [_cell(live.get(claim)), _cell(recorded.get(claim))]
        rows.append(f"| {claim} | {text} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def _cell(records) -> str:
    if not records:
        return "not run"
    return "; ".join(f"{r['verdict']} (ch. {r['chapter']})" for r in records)
