"""The plan step: which models a chapter's study will ask for, without training any.

`configs(chapter, setup)` lists the TrainConfigs that `studies.chNN.run(setup)` requests through
Setup.pairs -> cache.model_pairs -> cache.load_or_train: by default every width of the setup with
seeds 0 .. 2 * n_pairs - 1; a study module with its own `plan(setup)` says otherwise.
`grouped` puts together configs that differ only in seed / init_seed (one group = one batch of
models the group trainer can train at once); `table` prints a plan with estimated training times.
"""
from __future__ import annotations

import math
import time

import torch

from lmc_lib.chapters import studies
from lmc_lib.core import cache
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import build_model
from lmc_lib.core.train_group import recipe_key
from lmc_lib.core.utils import generator, resolve_device

N_TRAIN = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000}


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


def steps(config: TrainConfig) -> int:
    """Optimiser steps of a training run (the trainer drops the last partial batch)."""
    n = config.n_train or N_TRAIN[config.dataset]
    return config.epochs * max(1, n // min(config.batch_size, n))


def _same_recipe(entry: dict, config: TrainConfig) -> bool:
    c = entry.get("config") or {}
    return all(c.get(k) == getattr(config, k) for k in
               ("arch", "width", "variant", "optimizer", "batch_size", "dataset"))


def cached_seconds(config: TrainConfig, entries) -> float | None:
    """Training time from cached entries of the same arch/width/recipe, scaled by steps."""
    rates = []
    for e in entries:
        wall = e.get("wall_time_s")
        if e.get("status") == "ok" and isinstance(wall, (int, float)) and _same_recipe(e, config):
            try:
                rates.append(wall / steps(TrainConfig(**e["config"])))
            except TypeError:  # a sidecar of an older TrainConfig: not a rate to trust
                continue
    return steps(config) * sum(rates) / len(rates) if rates else None


def measured_seconds(config: TrainConfig, device, n_steps: int = 3) -> float:
    """Training time from timing n_steps optimiser steps (after one warm-up) on `device`."""
    from lmc_lib.core.train import make_optimizer, make_step  # the trainer's own step (autocast, Sophia)

    dev = resolve_device(device)
    chans, size = (3, 32) if config.dataset.startswith("cifar") else (1, 28 if config.arch == "mlp" else 32)
    model = build_model(config.arch, config.width, in_channels=chans, image_size=size,
                        n_classes=100 if config.dataset == "cifar100" else 10,
                        variant=config.variant, bias=config.bias).to(dev).train()
    bs = min(config.batch_size, config.n_train or N_TRAIN[config.dataset])
    step = make_step(config, model, make_optimizer(config, model.parameters(), bs), dev,
                      generator(0, dev))
    x, y = torch.randn(bs, chans, size, size, device=dev), torch.randint(0, 10, (bs,), device=dev)
    step(x, y, 0)
    _sync(dev)
    t0 = time.perf_counter()
    for t in range(n_steps):
        step(x, y, t + 1)
    _sync(dev)
    return steps(config) * (time.perf_counter() - t0) / n_steps


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def estimate(group, device, entries, measure: bool = True) -> tuple[float, str]:
    """(seconds to train the group's missing members one after another, where the rate came from)."""
    one = cached_seconds(group[0], entries)
    if one is not None:
        return one * len(group), "cache"
    if not measure:
        return math.nan, "-"
    return measured_seconds(group[0], device) * len(group), f"measured ({resolve_device(device)})"


def table(configs, device="auto", measure: bool = True) -> str:
    """The plan as text: one line per group (arch, width, variant, epochs, models, cached, est. time)."""
    entries = cache.entries()
    head = f"{'dataset':14} {'arch':8} {'width':>7} {'variant':7} {'opt':6} {'epochs':>6} " \
           f"{'models':>6} {'cached':>6} {'est_s':>8}  rate from"
    lines, total = [head], 0.0
    for group in grouped(configs):
        c, missing = group[0], [g for g in group if not is_cached(g)]
        secs, src = estimate(missing, device, entries, measure) if missing else (0.0, "-")
        total += 0.0 if math.isnan(secs) else secs
        lines.append(f"{c.dataset:14} {c.arch:8} {c.width:7.4g} {c.variant:7} {c.optimizer:6} "
                     f"{c.epochs:6d} {len(group):6d} {len(group) - len(missing):6d} "
                     f"{secs:8.1f}  {src}")
    n = len(unique(configs))
    lines.append(f"{n} models, {sum(not is_cached(c) for c in unique(configs))} to train; "
                 f"estimated training time {total:.0f} s if trained one after another "
                 "(rates: 'cache' = wall_time_s of cached entries of the same arch/width/recipe "
                 "scaled by steps; 'measured' = timed optimiser steps here). Evaluation not included.")
    return "\n".join(lines)
