"""Before any training: what a run will train, how long that takes by the plan's estimate (with the
rate it rests on), and a stop above max_train_minutes, so that no run starts days of work unawares.

bookbuild calls `check_book` for every chapter of a build before a kernel starts; inside a kernel
`announce` (from Setup.from_params) does the same for its chapter, unless the build already did.
"""
from __future__ import annotations

import sys

from lmc_lib.chapters import notebook, params, plan
from lmc_lib.core import cache
from lmc_lib.core.data import DATASETS
from lmc_lib.core.utils import LmcError

BUILD_CHECKED = "LMC_TRAIN_CHECKED"  # set by bookbuild for its kernels: the build checked the total


class TooLong(params.ParamError):
    """The estimated training time of a run is above max_train_minutes."""


def planned(chapter: str | None, setup, second: str = "") -> list:
    """The configs a chapter trains under `setup`, and on its `second_dataset` when there is one."""
    setups = [setup] + ([setup.but(dataset=second)] if second in DATASETS and second != setup.dataset
                        else [])
    out = []
    for s in setups:
        try:
            out += plan.configs(chapter, s) if chapter else plan.pair_configs(s)
        except LmcError:  # a new chapter without a study module: the default plan
            out += plan.pair_configs(s)
    return plan.unique(out)


def _seconds(missing: list, device, entries, rates: dict) -> float:
    """Seconds to train `missing` (one group) by the plan's estimate; the rate goes into `rates`."""
    arch = missing[0].arch
    if arch not in rates:  # the plan's FLOP model: one rate per architecture
        rates[arch] = plan.rate_for(missing[0], device, entries)
    return plan.estimate(missing, rates[arch])


def estimate(configs, device) -> tuple[float, int, dict]:
    """(seconds to train the configs not cached yet, one after another; how many; rate per arch)."""
    entries, rates, total, todo = cache.entries(), {}, 0.0, 0
    for group in plan.grouped(configs):
        missing = [c for c in group if not plan.is_cached(c)]
        if missing:
            total += _seconds(missing, device, entries, rates)
            todo += len(missing)
    return total, todo, rates


def rates_text(rates: dict) -> str:
    """'mlp: calibrated by ... at 3.1 GFLOP/s' for every rate used."""
    return "; ".join(f"{arch}: {rate.describe()}"
                     for arch, rate in rates.items() if rate) or "nothing to train"


def check(seconds: float, limit_min: float, what: str, go_on: str) -> None:
    """Refuse (TooLong) when `seconds` is above the limit in minutes (0: no limit)."""
    if limit_min and seconds > 60 * limit_min:
        raise TooLong(f"{what}: the estimated training time {plan.duration(seconds)} is above "
                      f"max_train_minutes = {limit_min:g}; nothing was trained. To go on anyway: "
                      f"{go_on}; or train less (width, epochs, n_pairs, profile smoke) or on a GPU")


def announce(setup) -> None:
    """In a notebook kernel outside a build: print the chapter's training estimate and its rate;
    stop above max_train_minutes (papermill -p max_train_minutes 0: no limit)."""
    if notebook.shell() is None or notebook.environ().get(BUILD_CHECKED):
        return
    chapter, values = params.kernel_chapter(), notebook.values()
    announce_configs(planned(chapter, setup, values.get("second_dataset") or ""), setup.device,
                     "training", f"chapter {chapter or ''}".strip())


def announce_configs(configs, device, label: str, what: str) -> None:
    """On the terminal's stderr: `label`: how many of `configs` are missing from the cache and about
    how long they take, with the rate; TooLong (naming `what`) above max_train_minutes."""
    seconds, todo, rates = estimate(configs, device)
    limit = params.train_limit_minutes()
    print(f"{label}: {todo} of {len(configs)} models to train, \u2248 {plan.duration(seconds)} one "
          f"after another (estimate: FLOP model, {rates_text(rates)}); limit max_train_minutes = "
          f"{limit:g}", file=sys.__stderr__, flush=True)
    check(seconds, limit, what, "give -p max_train_minutes 0 (no limit) or a larger limit")


def check_book(runs, limit_min: float) -> float:
    """Before a build's kernels start: one line per chapter and the total; TooLong above the limit.
    `runs`: (chapter source, Setup, second dataset or "") per chapter."""
    total, rates, lines, seen = 0.0, {}, [], set()
    for src, setup, second in runs:  # a model two chapters share is trained (and counted) once
        configs = planned(src.name[:2], setup, second)
        seconds, todo, used = estimate([c for c in configs if c not in seen], setup.device)
        total, rates, seen = total + seconds, {**rates, **used}, seen | set(configs)
        lines.append(f"  {src.stem}: {len(configs)} models, {todo} to train here, "
                     f"\u2248 {plan.duration(seconds)}")
    print("training estimate (one model after another; evaluation not included):\n"
          + "\n".join(lines) + f"\n  total \u2248 {plan.duration(total)} (FLOP model, "
          f"{rates_text(rates)}); limit max_train_minutes = {limit_min:g}", flush=True)
    check(total, limit_min, "this build", "add -p max_train_minutes 0 (make chapter ARGS=...; "
          "no limit) or a larger limit, or MAX_TRAIN_MINUTES=0 make book")
    return total
