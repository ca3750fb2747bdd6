"""The recorded regimes beside the live run: the paper's recipe recorded on a CPU, at several lengths.

`python -m lmc_lib.chapters.record --profile paper --widths 0.25 0.5 1 2 --device cpu --root results/cpu
--epochs 100 3 10 30 ...` trains each model once for 100 epochs (constant learning rate) and keeps
it at 3, 10 and 30 epochs (snapshots: the 3-epoch one is the `cpu` profile's model bit for bit), then
records every chapter at each length under `results/cpu/e<E>/`. This module reads those records
back and judges them with today's rules (`rejudge`: a record's stored verdicts would go stale when a
rule changes, so the book never shows them).
"""
from __future__ import annotations

import torch

from lmc_lib.chapters import record, studies
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core.config import PROFILES, book_settings, width_label
from lmc_lib.core.utils import build_dir, env_set

CPU_RECORDS = record.RECORDED / "cpu"
LENGTHS = (3, 10, 30, 100)  # the training-length axis: epochs of the snapshots and of the full run
FULL = 100                  # the paper's epochs (the record drawn beside each chapter's live run)
PROFILE = "paper"           # the profile of the records


def root_of(epochs: int | None = None):
    """The folder of the CPU records of one training length (default FULL)."""
    return record.epochs_root(CPU_RECORDS, FULL if epochs is None else epochs)


def load(chapter: str, dataset: str, epochs: int | None = None) -> dict | None:
    """The CPU record of a chapter on a dataset at a training length (None: not recorded)."""
    return record.load(chapter, dataset, PROFILE, root_of(epochs))


def regime_line(rec: dict) -> str:
    """The regime of a record in words: "paper recipe, 100 epochs, w = 1/4-1, 3 pairs, recorded on a CPU"."""
    p = rec["provenance"]
    ws = [width_label(w) for w in p["widths"]]
    where = "a GPU" if str(p.get("device", "")).startswith("cuda") else "a CPU"
    return (f"{p['profile']} recipe, {p.get('epochs') or epochs_of(p['profile'])} epochs, "
            f"w = {ws[0]}-{ws[-1]}, {p['n_pairs']} pairs, recorded on {where}")


def epochs_of(profile: str) -> int:
    """The MLP epochs of a profile."""
    return PROFILES[profile]["mlp"]["epochs"]


def setup_of(rec: dict) -> Setup:
    """The Setup a record was made with (from its provenance; nothing is checked or estimated)."""
    p, book = rec["provenance"], book_settings(rec["provenance"]["profile"])
    epochs = p.get("epochs") or epochs_of(p["profile"])
    over = {} if epochs == epochs_of(p["profile"]) else {"epochs": epochs}
    return Setup(profile=p["profile"], dataset=p["dataset"], arch=p["arch"],
                 widths=tuple(p["widths"]), n_pairs=p["n_pairs"], device=torch.device("cpu"),
                 n_eval=book["n_eval"], bn_batches=book["bn_batches"], overrides=over,
                 curve_precision=book["curve_precision"])


def rejudge(chapter: str, dataset: str, epochs: int | None = None, **thresholds) -> list[dict]:
    """The verdict records of a CPU record under today's rules ([] when not recorded); written
    to <build>/recorded/cpu-e<E>/ so they never mix with the live build's verdicts."""
    rec = load(chapter, dataset, epochs)
    mod = studies.load(chapter)
    if rec is None or not hasattr(mod, "verdicts"):
        return []
    with env_set("LMC_RESULTS", str(verdict_root(epochs))):
        return list(mod.verdicts(rec["result"], setup_of(rec), **thresholds))


def verdict_root(epochs: int | None = None):
    """Where rejudge writes the verdict records of one training length."""
    return build_dir() / "recorded" / f"cpu-e{FULL if epochs is None else epochs}"


def recorded_chapters(epochs: int | None = None) -> list[tuple[str, str]]:
    """(chapter, dataset) of every CPU record of a training length, sorted."""
    base = root_of(epochs) / PROFILE
    if not base.is_dir():
        return []
    return sorted((p.stem[2:], p.parent.name) for p in base.glob("*/ch*.json"))


def all_verdicts(epochs: int | None = None) -> dict[str, list[dict]]:
    """Every CPU record of a training length judged with today's rules, grouped by claim."""
    out: dict[str, list[dict]] = {}
    for chapter, dataset in recorded_chapters(epochs):
        for r in rejudge(chapter, dataset, epochs):
            out.setdefault(r["claim"], []).append(r)
    return out


def command(chapter: str, dataset: str) -> str:
    """The command that makes a chapter's CPU records at every training length."""
    return ("python -m lmc_lib.chapters.record --profile paper --device cpu --widths 0.25 0.5 1 2 "
            f"--root results/cpu --epochs 100 3 10 30 --chapters {chapter} --datasets {dataset}")


def show(chapter: str, dataset: str, draws, table=None, **thresholds) -> list[dict]:
    """A chapter's section for the paper recipe recorded on a CPU: the record drawn by the
    chapter's own plot functions `draw(result, title)`, its table, and its verdicts under today's
    rules as a Result table; without a record, "not recorded" and the command that makes it."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    from lmc_lib.chapters import report

    rec = load(chapter, dataset)
    if rec is None:
        display(Markdown(f"Not recorded: {regime_line_missing()} for chapter {chapter} on "
                         f"{dataset}. It is made by `{command(chapter, dataset)}`."))
        return []
    p = rec["provenance"]
    display(Markdown(f"**Recorded run** ({regime_line(rec)}; not re-executed in this build): "
                     f"{p['device_name'] or 'cpu'}, {p['date'][:10]}, commit {p['commit']}, "
                     f"{p.get('threads') or '?'} torch thread(s); evaluation {p['seconds']:.0f} s"
                     + (f", training {p['train_seconds'] / 3600:.1f} h" if p.get("train_seconds") else "")
                     + "."))
    own = (rec["result"].get("settings") or {}).get("title") or setup_of(rec).title()
    title = f"RECORDED: {regime_line(rec)} | {own}"
    for draw in draws:  # chapters pass their figures only from a cell that captions them
        draw(rec["result"], title)
        plt.show()
    if table is not None:
        display(Markdown(table(rec["result"])))
    recs = rejudge(chapter, dataset, **thresholds)
    if recs:
        display(Markdown(report.result_markdown(recs).replace(
            "{admonition} Result", "{admonition} Result of the recorded run", 1)))
    return recs


def regime_line_missing() -> str:
    """The regime of the CPU records in words, before any exists."""
    return (f"the paper recipe ({FULL} epochs, constant learning rate) at the paper's smallest "
            "widths, recorded on a CPU")
