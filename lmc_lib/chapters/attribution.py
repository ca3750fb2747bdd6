"""Is a verdict the short training or the paper? docs/VERDICTS.md, "Attribution", as code.

For a claim on a dataset: L (the live `cpu` verdict), R (the paper recipe's verdict, recorded on a
CPU at the paper's smallest widths) and M (how the claim's core quantity moves between the 3- and the 100-epoch snapshot
of the same runs at the widest recorded width) give one statement. The core quantities and the
paper's direction are in CORE; `lengths` reads them at every recorded training length.
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from lmc_lib.chapters import regimes
from lmc_lib.chapters.results import per_pair
from lmc_lib.core.config import width_label


def _c1(r):  # endpoints' minus merged accuracy at lam = 1/2, pp
    return [100 * (np.asarray(e) - np.asarray(h)) for e, h in
            zip(per_pair(r, "none", "acc_end"), per_pair(r, "none", "acc_half"))]


def _c10(r):  # merged minus endpoints' fitted beta at lam = 1/2
    return [np.asarray(h) - np.asarray(e) for h, e in
            zip(per_pair(r, "none", "beta_half"), per_pair(r, "none", "beta_end"))]


def _layers(r, key):
    """[width] arrays [pairs, layers] of per_width[w][key] (NaN where a result predates the key)."""
    return [np.asarray(r["per_width"][str(w)].get(key, np.nan), dtype=float) for w in r["widths"]]


class Core(NamedTuple):
    """A claim's core quantity: the chapter whose record holds it, its name, the paper's
    direction (+1: up with width and training, -1: down) and how to read it ([width][pair])."""
    chapter: str
    name: str
    direction: int
    read: object


CORE = {
    "C1": Core("02", "endpoints' minus merged accuracy at λ = 1/2 (pp)", -1, _c1),
    "C2": Core("02", "calibrated-loss barrier (nats)", -1,
               lambda r: [np.asarray(v) for v in per_pair(r, "none", "cal_barrier_max")]),
    "C4": Core("04", "LEWC cosine at layer 1 (= weak-additivity cosine at layer 1)", +1,
               lambda r: [v[:, 0] for v in _layers(r, "cos")]),
    "C5": Core("05", "weak-additivity cosine, mean over layers 2 and up", +1,
               lambda r: [v[:, 1:].mean(axis=1) for v in _layers(r, "wa")]),
    "C6": Core("05", "share of tiny units (second moment below a tenth of the layer mean)", +1,
               lambda r: [np.nanmean(v, axis=1) if v.ndim > 1 else v for v in _layers(r, "tiny")]),
    "C10": Core("02", "merged minus endpoints' fitted β at λ = 1/2", +1, _c10),
}


def lengths(claim: str, dataset: str, epochs=None) -> dict:
    """{"widths": [...], "epochs": [...], "values": {epochs: [width][pair]}} of a claim's core
    quantity in the CPU records of every training length (lengths not recorded are left out)."""
    core = CORE[claim]
    found, widths = {}, None
    for e in epochs or regimes.LENGTHS:
        rec = regimes.load(core.chapter, dataset, e)
        if rec is None:
            continue
        r = rec["result"]
        found[e] = [np.asarray(v, dtype=float).tolist() for v in core.read(r)]
        widths = widths or list(r["widths"])
    return dict(claim=claim, name=core.name, direction=core.direction, widths=widths or [],
                epochs=sorted(found), values=found)


def movement(first, last, direction: int) -> tuple[str, float, float]:
    """(towards | away | no clear movement | cannot decide, mean, std) of d = direction x
    (last - first) over pairs: towards when mean - std > 0, away when mean + std < 0."""
    d = direction * (np.asarray(last, float) - np.asarray(first, float))
    if d.size < 2:
        return "cannot decide", float(d.mean()) if d.size else float("nan"), float("nan")
    mean, std = float(d.mean()), float(d.std(ddof=1))
    word = "towards" if mean - std > 0 else "away" if mean + std < 0 else "no clear movement"
    return word, mean, std


def claim_movement(claim: str, dataset: str) -> dict | None:
    """The movement of a claim's core quantity from the shortest to the longest recorded length
    at the widest recorded width (None: not on the training-length axis, or not recorded)."""
    if claim not in CORE:
        return None
    got = lengths(claim, dataset)
    if len(got["epochs"]) < 2:
        return None
    lo, hi = got["epochs"][0], got["epochs"][-1]
    word, mean, std = movement(got["values"][lo][-1], got["values"][hi][-1], got["direction"])
    return dict(word=word, mean=mean, std=std, first=lo, last=hi, width=got["widths"][-1],
                name=got["name"], direction=got["direction"])


HOLDS = ("reproduced", "partly")


def widest_width(setting: str) -> str:
    """The widest width named in a verdict's setting line ("... | w = 1/8, 1/4, 1 | 3 pairs ...")."""
    from fractions import Fraction
    found = re.search(r"w = ([0-9/., ]+)", setting)
    labels = [w.strip() for w in found.group(1).split(",") if w.strip()] if found else []
    return max(labels, key=lambda w: float(Fraction(w))) if labels else "?"

RECORDED_CHAPTERS = ("02", "03", "04", "05", "06", "08", "09")  # chapters with CPU records


def statement(live: str | None, recorded: str | None, move: dict | None, live_widest: str = "?",
              rec_widest: str = "?") -> str:
    """docs/VERDICTS.md's attribution rule: one statement from L, R and M (the widest widths of
    the live run and of the record name the scales in the statement)."""
    if recorded in (None, "not run"):
        return "not recorded"
    if live in (None, "not run"):
        return "no live verdict"
    for name, v in (("cpu", live), ("recorded", recorded)):
        if v == "inconclusive":
            return f"cannot decide in the {name} run"
    if live in HOLDS and recorded in HOLDS:
        return "holds in both regimes"
    if recorded in HOLDS:
        return "appears with training (the cpu verdict reflects the short training)"
    if live in HOLDS:
        return (f"holds in the short run only (the cpu run reaches w = {live_widest}, the record "
                f"w = {rec_widest})")
    if move is None:
        return "fails in both regimes"
    if move["word"] == "towards":
        return f"moves towards the paper with training, but is not there at w ≤ {rec_widest}"
    if move["word"] == "cannot decide":
        return "fails in both; movement cannot be decided"
    return "fails in both, no movement towards the paper with training (evidence against, at these widths)"


def movement_text(move: dict | None) -> str:
    """The movement in words: quantity, width, lengths, change in the paper's direction, answer."""
    if not move:
        return ""
    sign = "up" if move["direction"] > 0 else "down"
    return (f"{move['name']} at w = {width_label(move['width'])}, {move['first']} → {move['last']} "
            f"epochs, change in the paper's direction ({sign}) {move['mean']:+.3g} ± "
            f"{move['std']:.2g}: {move['word']}")


def attribute(live: dict[str, list[dict]], recorded: dict[str, list[dict]]) -> list[dict]:
    """One row per live verdict (claim, chapter, dataset): its recorded verdict (same chapter and
    dataset), the movement of the claim's core quantity, and the statement."""
    rows = []
    for claim, recs in live.items():
        for rec in recs:
            key = (str(rec["chapter"]), rec.get("dataset", ""))
            twin = next((r for r in recorded.get(claim, [])
                         if (str(r["chapter"]), r.get("dataset", "")) == key), None)
            move = claim_movement(claim, key[1]) if twin else None
            widest = dict(live_widest=widest_width(rec.get("setting", "")),
                          rec_widest=widest_width(twin.get("setting", "")) if twin else "?")
            rows.append(dict(claim=claim, chapter=key[0], dataset=key[1], live=rec["verdict"],
                             recorded=twin["verdict"] if twin else None, movement=move, **widest,
                             statement=statement(rec["verdict"], twin and twin["verdict"], move,
                                                 **widest)))
    return rows


def markdown(rows: list[dict]) -> str:
    """The attribution table: claim, chapter, dataset, live and recorded verdicts, the statement."""
    from lmc_lib.core.data import DATASET_NAMES
    if not rows:
        return "No verdict to attribute: no chapter has written a live verdict in this build yet."
    head = ("| claim | chapter | dataset | `cpu` (3 epochs, live) | paper recipe (100 epochs, "
            "recorded on a CPU) | core quantity with training | attribution |\n"
            "|---|---|---|---|---|---|---|")
    key = lambda r: ([int(t) if t.isdigit() else t for t in r["claim"].replace("C", "C ").split()],  # noqa: E731
                     r["chapter"], r["dataset"])
    lines = [head] + [
        f"| {r['claim']} | {r['chapter']} | {DATASET_NAMES.get(r['dataset'], r['dataset'])} | "
        f"{r['live']} | {r['recorded'] or 'not recorded'} | {movement_text(r['movement']) or '—'} | "
        f"{r['statement']} |" for r in sorted(rows, key=key)]
    return "\n".join(lines)


def rows_for(live_folder, chapter: str | None = None) -> list[dict]:
    """attribute() over a live build's verdict folder (one chapter's, or all) and the CPU records."""
    from lmc_lib.chapters import report
    live = report.load_verdicts(live_folder)
    if chapter is not None:
        live = {c: [r for r in rs if str(r["chapter"]).split("-")[0] == chapter] for c, rs in live.items()}
        live = {c: rs for c, rs in live.items() if rs}
    return attribute(live, regimes.all_verdicts())


def sentences(rows: list[dict]) -> str:
    """'Short training or the paper?' for a chapter's ending: one sentence per live verdict."""
    from lmc_lib.core.data import DATASET_NAMES
    out = []
    for r in rows:
        ds = DATASET_NAMES.get(r["dataset"], r["dataset"])
        if r["recorded"] is None:
            out.append(f"- **{r['claim']}**, {ds}: the paper recipe is not recorded on a CPU for "
                       f"this chapter yet (`{regimes.command(r['chapter'], r['dataset'])}`).")
            continue
        move = movement_text(r["movement"])
        out.append(f"- **{r['claim']}**, {ds}: `cpu` (3 epochs) {r['live']}, paper recipe "
                   f"(100 epochs, w ≤ {r['rec_widest']}) {r['recorded']}" + (f"; {move}" if move else "")
                   + f". So: **{r['statement']}**.")
    return ("**Short training or the paper?** (the rule of docs/VERDICTS.md, \"Attribution\")\n\n"
            + "\n".join(out)) if out else ""


def index_section(live_folder) -> str:
    """The index's "Short training or the paper?" section: the attribution table of the build."""
    return "\n".join([
        "### Short training or the paper?", "",
        "Each live verdict beside the same chapter's verdict on the paper's recipe (100 epochs, "
        "recorded on a CPU at the paper's smallest widths), how the claim's core quantity moves "
        "from 3 to 100 epochs of the same runs, and what follows by the rule fixed in "
        "`docs/VERDICTS.md` (\"Attribution\"); {doc}`chapter 12 <12_training_length>` draws the "
        "movement.", "", markdown(rows_for(live_folder))])


def regime_for(chapter: str, live_folder):
    """The hook of a chapter's ending (report.show_found(regime=...)): for a live verdict record,
    one sentence saying whether it is the short training or the paper (None for chapters without
    CPU records)."""
    if chapter not in RECORDED_CHAPTERS:
        return None
    rows = {(r["claim"], r["dataset"]): r for r in rows_for(live_folder, chapter)}

    def sentence(record: dict) -> str | None:
        row = rows.get((record["claim"], record.get("dataset", "")))
        return sentences([row]).split("\n\n", 1)[-1].lstrip("- ") if row else None
    return sentence
