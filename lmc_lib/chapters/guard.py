"""Before any training: what a run will train, how long that takes by the plan's estimate (with the
rate it rests on), and a stop above max_train_minutes for runs that leave their profile, so that no
run starts days of work unawares -- and no default run (`make book`, `make chapter CH=NN`) is ever
refused on an estimate: it prints the estimate and goes on.

bookbuild calls `check_book` for every chapter of a build before a kernel starts; inside a kernel
`announce` (from Setup.from_params) does the same for its chapter, unless the build already did.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

from lmc_lib.chapters import notebook, params, plan
from lmc_lib.core import cache, cost, textout
from lmc_lib.core.config import book_settings, make_config
from lmc_lib.core.data import DATASETS
from lmc_lib.core.utils import LmcError

BUILD_CHECKED = "LMC_TRAIN_CHECKED"  # set by bookbuild for its kernels: the build checked the total
TRAINING_CALLS = {"pairs", "sweep", "barriers", "load_or_train", "model_pairs", "ensure_trained",
                  "trained_with"}  # the calls through which a chapter of your own trains models
OWN_PROFILES = ("cpu", "smoke")  # profiles made for this machine: their default runs are never refused


class TooLong(params.ParamError):
    """The estimated training time of a run is above max_train_minutes."""


def trains(source: Path) -> bool:
    """Whether a chapter's source calls anything that trains models (TRAINING_CALLS); a chapter
    that does not parse is assumed to train."""
    try:
        tree = ast.parse(Path(source).read_text())
    except (OSError, SyntaxError, ValueError):
        return True
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name in TRAINING_CALLS:
                return True
    return False


def planned(chapter: str | None, setup, second: str = "", source: Path | None = None) -> list:
    """The configs a chapter trains under `setup`, and on its `second_dataset` when there is one. A
    chapter of your own (no study module) is charged the setup's pairs only when its `source` calls
    something that trains (TRAINING_CALLS); without a source, the setup's pairs."""
    setups = [setup] + ([setup.but(dataset=second)] if second in DATASETS and second != setup.dataset
                        else [])
    out = []
    for s in setups:
        try:
            out += plan.configs(chapter, s) if chapter else plan.pair_configs(s)
        except LmcError:  # a chapter of your own without a study module
            out += plan.pair_configs(s) if source is None or trains(source) else []
    return plan.unique(out)


def estimate(configs, device) -> tuple[float, int, dict]:
    """(seconds to train the configs not cached yet, one after another; how many; rate per size)."""
    entries, rates, total, todo = cache.entries(), {}, 0.0, 0
    for group in plan.grouped(configs):
        missing = [c for c in group if not plan.is_cached(c)]
        if missing:
            size = cost.size_key(missing[0])
            if size not in rates:
                rates[size] = plan.rate_for(missing[0], device, entries)
            total += plan.estimate(missing, rates[size])
            todo += len(missing)
    return total, todo, rates


def rates_text(rates: dict) -> str:
    """'from the median of 5 timings on this cpu (...): 3.1 GFLOP/s + 2 ms per step (mlp)'."""
    return plan.rates_text(rates)


def check(seconds: float, limit_min: float, what: str, go_on: str) -> None:
    """Refuse (TooLong) when `seconds` is above the limit in minutes (0: no limit)."""
    if limit_min and seconds > 60 * limit_min:
        raise TooLong(f"{what}: the estimated training time {plan.duration(seconds)} is above "
                      f"max_train_minutes = {limit_min:g}; nothing was trained. To go on anyway: "
                      f"{go_on}; or train less (width, epochs, n_pairs, profile smoke) or on a GPU")


def limit_text(limit: float) -> str:
    """How the limit applies, for the estimate line."""
    return (f"limit max_train_minutes = {limit:g}" if limit else
            "no limit (a default run is never stopped on an estimate)")


def leaves_profile(setup) -> bool:
    """Whether a Setup trains more than its profile's own runs do: a profile not made for this
    machine (paper), a width beyond the profile's widest, more pairs or more epochs."""
    if setup.profile not in OWN_PROFILES:
        return True
    book = book_settings(setup.profile)
    widest = max([*book["widths"], *book["costly_widths"], *book["conv_widths"]])
    own = make_config(setup.profile, setup.dataset, setup.arch, setup.widths[0])
    return (max(setup.widths) > widest or setup.n_pairs > book["n_pairs"]
            or setup.config(setup.widths[0]).epochs > own.epochs)


def kernel_limit(setup) -> float:
    """The limit inside a kernel: an explicit one (-p max_train_minutes, $MAX_TRAIN_MINUTES, which
    a build sets for its kernels) always; the default only when the run leaves its profile (papermill
    -p values other than the chapter's own, or a Setup beyond the profile)."""
    explicit = ("max_train_minutes" in notebook.values()
                or notebook.environ().get("MAX_TRAIN_MINUTES") not in (None, ""))
    if explicit or params.left_defaults() or leaves_profile(setup):
        return params.train_limit_minutes()
    return 0.0


def announce(setup) -> None:
    """In a notebook kernel outside a build: print the chapter's training estimate and its rate;
    stop above max_train_minutes when the run leaves its profile (papermill -p max_train_minutes 0:
    no limit)."""
    if notebook.shell() is None or notebook.environ().get(BUILD_CHECKED):
        return
    chapter, values = params.kernel_chapter(), notebook.values()
    announce_configs(planned(chapter, setup, values.get("second_dataset") or ""), setup.device,
                     "training", f"chapter {chapter or ''}".strip(), kernel_limit(setup))


def announce_configs(configs, device, label: str, what: str, limit: float | None = None) -> None:
    """On the terminal's stderr: `label`: how many of `configs` are missing from the cache and about
    how long they take, with the rate; TooLong (naming `what`) above `limit` (None: the limit of
    params.train_limit_minutes)."""
    seconds, todo, rates = estimate(configs, device)
    limit = params.train_limit_minutes() if limit is None else limit
    textout.say(f"{label}: {todo} of {len(configs)} models to train, estimated \u2248 "
                f"{plan.duration(seconds)} one after another (an estimate, not a measurement; rate "
                f"{rates_text(rates)}); {limit_text(limit)}", sys.__stderr__)
    check(seconds, limit, what, "give -p max_train_minutes 0 (no limit) or a larger limit")


def check_book(runs, limit_min: float) -> float:
    """Before a build's kernels start: one line per chapter and the total; TooLong above the limit
    (0: none, the build's default runs). `runs`: (chapter source, Setup, second dataset or "")."""
    total, rates, lines, seen = 0.0, {}, [], set()
    for src, setup, second in runs:  # a model two chapters share is trained (and counted) once
        configs = planned(src.name[:2], setup, second, source=src)
        seconds, todo, used = estimate([c for c in configs if c not in seen], setup.device)
        total, rates, seen = total + seconds, {**rates, **used}, seen | set(configs)
        lines.append(f"  {src.stem}: {len(configs)} models, {todo} to train here, "
                     f"\u2248 {plan.duration(seconds)}")
    textout.say("training estimate (one model after another; evaluation not included; an estimate, "
                "not a measurement):\n" + "\n".join(lines) + f"\n  total \u2248 {plan.duration(total)}"
                f" (rate {rates_text(rates)}); {limit_text(limit_min)}", sys.stdout)
    check(total, limit_min, "this build", "add -p max_train_minutes 0 (make chapter ARGS=...; "
          "no limit) or a larger limit, or MAX_TRAIN_MINUTES=0 make book")
    return total
