"""Before training: does a model fit the device's memory, and how long will it take on a CPU?

The estimate counts weights, gradients and optimiser state (4 bytes each per parameter) plus the
activations of one training batch kept for the backward pass, from lmc_lib.core.cost.counts (a
forward pass on torch's "meta" device: nothing is allocated).
"""
from __future__ import annotations

import torch

from lmc_lib.core import cost
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.utils import LmcError

CPU_FLOPS = 3e10  # measured training throughput of one CPU thread (benchmarks/train_speed.py)


class ResourceError(LmcError):
    """A run needs more memory than the device has."""


def footprint(config: TrainConfig) -> tuple[int, int]:
    """(bytes to train `config`, multiply-adds of one forward pass of one image)."""
    n_params, acts, macs = cost.counts(config)
    states = 2 + cost.OPT_STATES.get(config.optimizer, 2)
    return 4 * (n_params * states + 2 * acts * config.batch_size), macs


def available_bytes(device: torch.device) -> int:
    """Free memory of the device: torch.cuda.mem_get_info, else the host's available RAM."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        import psutil

        return psutil.virtual_memory().available
    except ImportError:
        with open("/proc/meminfo") as f:
            info = dict(line.split(":", 1) for line in f)
        return int(info["MemAvailable"].split()[0]) * 1024


def largest_width(config: TrainConfig, free: int) -> float | None:
    """The largest power-of-two width (1/64 .. 1024) whose training fits in `free` bytes."""
    best = None
    for k in range(-6, 11):
        if footprint(config.replace(width=2.0 ** k))[0] <= free:
            best = 2.0 ** k
    return best


def check(config: TrainConfig, device: torch.device, free: int | None = None) -> None:
    """Refuse a model whose training does not fit the device, naming the largest width that does."""
    need = footprint(config)[0]
    free = available_bytes(device) if free is None else free
    if need > 0.9 * free:
        best = largest_width(config, int(0.9 * free))
        fix = f"the largest width that fits is {best:g}" if best else "no width of this model fits"
        raise ResourceError(
            f"width {config.width:g} ({config.arch}, {config.dataset}) needs about {need / 2**30:.1f} "
            f"GiB to train (weights, gradients, {config.optimizer} state, activations of a batch "
            f"of {config.batch_size}); {device} has {free / 2**30:.1f} GiB free: {fix}")


def cpu_hours(config: TrainConfig, n_train: int = 60000) -> float:
    """Estimated hours to train one model of `config` on one CPU thread (3 x forward FLOPs)."""
    n = min(n_train, config.n_train or n_train)
    return 6 * footprint(config)[1] * n * config.epochs / CPU_FLOPS / 3600
