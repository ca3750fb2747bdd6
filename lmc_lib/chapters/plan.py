"""The plan step: which models a chapter's study will ask for, without training any.

`configs(chapter, setup)` lists the TrainConfigs that `studies.chNN.run(setup)` requests through
Setup.pairs -> cache.model_pairs -> cache.load_or_train: by default every width of the setup with
seeds 0 .. 2 * n_pairs - 1; a study module with its own `plan(setup)` says otherwise.
`grouped` puts together configs that differ only in seed / init_seed (one group = one batch of
models the group trainer can train at once); `table` prints a plan with estimated training times
(lmc_lib.core.cost: steps x (FLOPs per optimiser step / rate + per-step overhead), per model), the
rate from cached models of the same size, else from the median of a few timings per process.
Every number here is an estimate and says so.
"""
from __future__ import annotations

import math

from lmc_lib.chapters import studies
from lmc_lib.core import cache, cost
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import MLP_HIDDEN, scaled
from lmc_lib.core.train_group import recipe_key


def pair_configs(setup, widths=None, **overrides) -> list[TrainConfig]:
    """The 2 * n_pairs configs (seeds 0, 1, ...) that setup.pairs(w, **overrides) trains, per width."""
    out = []
    for w in (setup.widths if widths is None else widths):
        base = setup.config(w, **overrides)
        out += [base.replace(seed=base.seed + k) for k in range(2 * setup.n_pairs)]
    return out


def _ends(setup) -> list[TrainConfig]:
    """Chapter 1: one pair's path at the narrowest width, the symmetry check at the widest."""
    return pair_configs(setup, sorted({setup.widths[0], setup.widths[-1]}))


LOCAL_PLANS = {"01": _ends}  # chapters whose study module has no plan() of its own


def unique(configs) -> list[TrainConfig]:
    """The configs without repeats, in first-seen order."""
    return list(dict.fromkeys(configs))


def configs(chapter: str, setup) -> list[TrainConfig]:
    """Every TrainConfig the study of `chapter` asks for under `setup` (trains nothing)."""
    mod = studies.load(chapter)
    planner = getattr(mod, "plan", None) or LOCAL_PLANS.get(chapter) or pair_configs
    return unique(planner(setup))


def grouped(configs) -> list[list[TrainConfig]]:
    """Configs grouped by everything but seed / init_seed, groups and members in first-seen order."""
    groups: dict = {}
    for c in unique(configs):
        groups.setdefault(recipe_key(c), []).append(c)
    return list(groups.values())


def is_cached(config: TrainConfig, cache_dir=None) -> bool:
    """Whether the model cache holds a complete entry (its .json sidecar) for `config`."""
    root = cache.cache_dir() if cache_dir is None else cache_dir
    return (root / f"{config.key()}.json").exists()


def rate_for(config: TrainConfig, device, entries, measure: bool = True) -> cost.Rate | None:
    """The rate for models of the config's size: cached models' wall times, else the calibration
    of this process (None when there are no cached ones and `measure` is False)."""
    return cost.cache_rate(entries, config, device) or (cost.calibrate(device) if measure else None)


def estimate(group, rate: cost.Rate | None) -> float:
    """Seconds to train `group`'s models one after another (Rate.seconds of each)."""
    if rate is None:
        return math.nan
    return sum(rate.seconds(c) for c in group)


def duration(seconds: float) -> str:
    """12 s, 41 min, 3.2 h, 4.1 d ('-' without an estimate)."""
    if math.isnan(seconds):
        return "-"
    for unit, size, digits in (("d", 86400, 1), ("h", 3600, 1), ("min", 60, 0)):
        if seconds >= 1.5 * size:
            return f"{seconds / size:.{digits}f} {unit}"
    return f"{seconds:.0f} s"


def _pflop(group, rate: cost.Rate | None) -> str:
    """PFLOP(-equivalents) to train the group on the rate's device type."""
    flops = sum(cost.train_flops(c, rate.device if rate else "cpu") for c in group) / 1e15
    return f"{flops:.3g}" if flops < 1000 else f"{flops:.0f}"


def _origin(rate: cost.Rate | None) -> str:
    """Where a row's rate came from: 'timed (cpu)' (the calibration), 'cache (cpu)' or '-'."""
    return f"{'timed' if rate.origin == 'measured' else rate.origin} ({rate.device})" if rate else "-"


def rates_text(rates: dict) -> str:
    """What an estimate rests on: each rate used once, with the architectures it served."""
    archs: dict = {}
    for key, rate in rates.items():
        if rate is not None:
            archs.setdefault(rate, []).append(key[0] if isinstance(key, tuple) else key)
    cached = [(r, a) for r, a in archs.items() if r.origin == "cache"]
    ranged = len(cached) > 1  # one cache rate per size: their range, once
    parts = [f"{r.describe()} ({', '.join(dict.fromkeys(a))})"
             for r, a in archs.items() if not (ranged and r.origin == "cache")]
    if ranged:
        lo, hi = min(r.flops for r, _ in cached) / 1e9, max(r.flops for r, _ in cached) / 1e9
        names = ", ".join(dict.fromkeys(x for _, a in cached for x in a))
        parts.append(f"from the wall times of cached models of each of {len(cached)} sizes: "
                     f"{lo:.3g}-{hi:.3g} GFLOP/s ({names})")
    return "; ".join(parts) or "nothing to train"


def _summary(configs, total: float, rates: dict) -> str:
    """The closing line: models, how many to train, the total, and what the estimate rests on."""
    todo = sum(not is_cached(c) for c in unique(configs))
    return (f"{len(unique(configs))} models, {todo} to train; estimated training time "
            f"\u2248 {duration(total)} if trained one after another (estimate, not a measurement: "
            f"cost model with a rate {rates_text(rates)}). Evaluation not included.")


WM_CHAPTERS = ("02", "03", "08")  # studies that weight-match every MLP pair at every width
WM_SECONDS = (2048, 5.5, 3.4)  # (units, seconds, exponent): WM of one trained MLP pair, one CPU
# thread, certified sparse solves, measured 5.5 s at 2048 units and 59.6 s at 4096 units (exponent
# log2(59.6 / 5.5); docs/BENCHMARKS.md, benchmarks/sparse_assignment.py): seconds x (units / 2048) ** exponent


def wm_line(chapters, setup, matchings=None) -> str:
    """The plan's weight-matching line: an estimate of its CPU time for the chapters that use it
    (chapter 02 only when `matchings`, its --matchings, is None or names wm)."""
    skip = {"02"} if matchings is not None and "wm" not in matchings else set()
    uses = [ch for ch in chapters if ch in WM_CHAPTERS and ch not in skip]
    if not uses or setup.arch != "mlp":
        return "weight matching: " + ("none in these chapters" if not uses else "not estimated for conv nets")
    units, secs, power = WM_SECONDS
    per_pair = [secs * (scaled(MLP_HIDDEN, w) / units) ** power for w in setup.widths]
    total = len(uses) * setup.n_pairs * sum(per_pair)
    return (f"weight matching (chapters {' '.join(uses)}, {setup.n_pairs} pairs per width): \u2248 "
            f"{duration(total)} on one CPU thread (estimate: {duration(per_pair[-1])} per pair at the "
            f"widest width, scaled from a measured {secs:g} s at {units} units by (units / {units})^{power:g}).")


def table(configs, device="auto", measure: bool = True) -> str:
    """The plan as text: one line per group (arch, width, variant, epochs, models, cached, estimate)."""
    entries, rates = cache.entries(), {}
    head = f"{'dataset':14} {'arch':8} {'width':>7} {'variant':7} {'opt':6} {'epochs':>6} " \
           f"{'models':>6} {'cached':>6} {'PFLOP':>8} {'estimate':>9}  rate"
    lines, total = [head], 0.0
    for group in grouped(configs):
        c, missing = group[0], [g for g in group if not is_cached(g)]
        size = cost.size_key(c)
        if missing and size not in rates:
            rates[size] = rate_for(c, device, entries, measure)
        secs = estimate(missing, rates.get(size)) if missing else 0.0
        total += secs  # nan (no rate) makes the total "-"
        lines.append(f"{c.dataset:14} {c.arch:8} {c.width:7.4g} {c.variant:7} {c.optimizer:6} "
                     f"{c.epochs:6d} {len(group):6d} {len(group) - len(missing):6d} "
                     f"{_pflop(missing, rates.get(size)):>8} {duration(secs):>9}  {_origin(rates.get(size))}")
    lines.append(_summary(configs, total, rates))
    return "\n".join(lines)
