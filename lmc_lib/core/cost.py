"""What training costs, in FLOPs, and a rate that turns FLOPs into seconds (the plan's estimate).

One optimiser step on a batch of B images costs 6 x B x (multiply-adds of one forward pass)
FLOPs (2 per multiply-add forward, twice that backward) plus the elementwise memory traffic --
the optimiser's update of every parameter, ReLU / BatchNorm / adds over every activation --
counted at BYTE_FLOPS FLOPs per byte (the device's FLOP rate over its memory bandwidth: the H100's
w = 16 step spends half its time in Adam, docs/BENCHMARKS.md). Per-step overhead is not counted,
so steps of the smallest models take longer than this says.
A training run is `steps(config)` such steps, so its cost grows with width, epochs and data.
The rate: `calibrate(device)` times a few trainer steps of one MLP, once per process per device
(well under 2 s; the fastest step counts), or `cache_rate` takes it from the wall times of cached
models of an architecture, when there are any big enough for the matmuls to dominate.
"""
from __future__ import annotations

import functools
import time
from typing import NamedTuple

import torch

from lmc_lib.core import train
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import build_model
from lmc_lib.core.utils import generator, resolve_device

N_TRAIN = {"mnist": 60000, "fashion_mnist": 60000, "cifar10": 50000, "cifar100": 50000}
SHAPES = {"mnist": (1, 28, 10), "fashion_mnist": (1, 28, 10), "cifar10": (3, 32, 10),
          "cifar100": (3, 32, 100)}  # input channels, image size, classes
OPT_STATES = {"adam": 2, "adamw": 2, "sgd": 1, "sophia": 2}  # tensors of optimiser state per weight
BYTE_FLOPS = {"cpu": 8.0}  # FLOP-equivalents per byte of elementwise traffic; other devices: 80
ACT_BYTES = 24        # fp32 bytes moved per activation per image: ~3 reads/writes forward, 3 backward
CALIBRATION_WIDTH = {"cpu": 0.5}  # the timed MLP (mnist, batch 512, Adam); other devices: 16
CALIBRATION_S = 0.3   # time steps until this long (at least MIN_STEPS, at most MAX_STEPS)
MIN_STEPS, MAX_STEPS = 2, 20


class Counts(NamedTuple):
    """Parameters of a model, and activations and multiply-adds of its forward pass on one image."""

    params: int
    acts: int
    macs: int


class Rate(NamedTuple):
    """FLOP-equivalents per second on a device type ("cpu", "cuda"), where that number came from, and
    how it was found ("measured": a timing here, "cache": cached models' wall times)."""

    flops: float
    source: str
    device: str = "cpu"
    origin: str = "measured"

    def describe(self) -> str:
        """'calibrated by <source> at 3.1 GFLOP/s'."""
        return f"calibrated by {self.source} at {self.flops / 1e9:.3g} GFLOP/s"


def shape(config: TrainConfig) -> tuple[int, int, int]:
    """(input channels, image size, classes) of the config's dataset as the model sees it."""
    channels, size, classes = SHAPES[config.dataset]
    return channels, (size if config.arch == "mlp" else 32), classes


@functools.lru_cache(maxsize=256)
def _counts(arch: str, width: float, variant: str, bias: bool, dims: tuple) -> Counts:
    channels, size, classes = dims
    acts, macs = [0], [0]

    def hook(mod, inp, out):
        acts[0] += out.numel()
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            macs[0] += out.numel() * mod.weight[0].numel()

    with torch.device("meta"):
        model = build_model(arch, width, in_channels=channels, image_size=size, n_classes=classes,
                            variant=variant, bias=bias)
        handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
        model.eval()(torch.zeros(1, channels, size, size))  # eval: BatchNorm takes a batch of one
        for h in handles:
            h.remove()
    return Counts(sum(p.numel() for p in model.parameters()), acts[0], macs[0])


def counts(config: TrainConfig) -> Counts:
    """Parameters, activations and multiply-adds per image of the config's model (a meta-device pass)."""
    return _counts(config.arch, float(config.width), config.variant, config.bias, shape(config))


def batch_size(config: TrainConfig) -> int:
    """The batch the trainer uses: config.batch_size, at most the training set."""
    return min(config.batch_size, config.n_train or N_TRAIN[config.dataset])


def steps(config: TrainConfig) -> int:
    """Optimiser steps of a training run (the trainer drops the last partial batch)."""
    n = config.n_train or N_TRAIN[config.dataset]
    return config.epochs * max(1, n // batch_size(config))


def step_flops(config: TrainConfig, device: str = "cpu") -> float:
    """FLOP-equivalents of one optimiser step on a device type: 6 x B x forward multiply-adds plus
    BYTE_FLOPS x elementwise bytes (optimiser: read w, g, states; write w, states; activations)."""
    p, acts, macs = counts(config)
    bs = batch_size(config)
    opt_bytes = 4 * (3 + 2 * OPT_STATES.get(config.optimizer, 2))
    return 6.0 * bs * macs + BYTE_FLOPS.get(device, 80.0) * (opt_bytes * p + ACT_BYTES * bs * acts)


def train_flops(config: TrainConfig, device: str = "cpu") -> float:
    """FLOP-equivalents of training one model of `config` on a device type (steps x step_flops)."""
    return steps(config) * step_flops(config, device)


def calibration_config(device) -> TrainConfig:
    """The MLP whose steps calibrate `device`: big enough that its matmuls dominate the step."""
    dev = resolve_device(device)
    return TrainConfig(dataset="mnist", width=CALIBRATION_WIDTH.get(dev.type, 16.0))


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def time_steps(device) -> tuple[float, float]:
    """(FLOP-equivalents, seconds) of the fastest of a few trainer steps of calibration_config
    after one warm-up (the fastest: other processes on a shared machine only ever slow a step)."""
    dev = resolve_device(device)
    c = calibration_config(dev)
    chans, size, classes = shape(c)
    with torch.device(dev):  # initialised where it trains (w = 16 on a GPU: no slow CPU init)
        model = build_model("mlp", c.width, in_channels=chans, image_size=size, n_classes=classes).train()
    opt = train.make_optimizer(c, model.parameters(), c.batch_size)
    step = train.make_step(c, model, opt, dev, generator(0, dev))
    x = torch.randn(c.batch_size, chans, size, size, device=dev)
    y = torch.randint(0, classes, (c.batch_size,), device=dev)
    step(x, y, 0)
    _sync(dev)
    times, start = [], time.perf_counter()
    while len(times) < MIN_STEPS or (len(times) < MAX_STEPS and time.perf_counter() - start < CALIBRATION_S):
        t0 = time.perf_counter()
        step(x, y, len(times) + 1)
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return step_flops(c, dev.type), min(times)


_RATES: dict[str, Rate] = {}


def calibrate(device) -> Rate:
    """The FLOP rate of `device`, from one short timing (time_steps), measured once per process."""
    dev = resolve_device(device)
    if str(dev) not in _RATES:
        start = time.perf_counter()
        flops, secs = time_steps(dev)
        took = time.perf_counter() - start
        _RATES[str(dev)] = Rate(flops / secs, f"one {took:.1f} s timing on this {dev.type}", dev.type)
    return _RATES[str(dev)]


def _device_type(entry: dict) -> str | None:
    try:
        return torch.device(entry.get("device") or "").type
    except RuntimeError:  # an older sidecar without a device
        return None


def cache_rate(entries, arch: str, device, min_flops: float = 0.0) -> Rate | None:
    """The FLOP rate from cached `arch` models trained on the device's type, at least as big per
    step as the calibration MLP and, in all, at least `min_flops` to train (a short smoke run is
    mostly fixed cost: no rate for a long one); total FLOPs over total wall time; None when none."""
    dev = resolve_device(device)
    least = step_flops(calibration_config(dev), dev.type)
    flops = wall = n = 0
    for e in entries:
        secs, c = e.get("wall_time_s"), e.get("config") or {}
        if (e.get("status") != "ok" or not isinstance(secs, (int, float)) or secs <= 0
                or c.get("arch") != arch or _device_type(e) != dev.type):
            continue
        try:
            config = TrainConfig(**c)
        except TypeError:  # a sidecar of an older TrainConfig: not a rate to trust
            continue
        total = train_flops(config, dev.type) if config.dataset in SHAPES else 0.0
        if total >= min_flops and step_flops(config, dev.type) >= least:
            flops, wall, n = flops + total, wall + secs, n + 1
    return Rate(flops / wall, f"the wall times of {n} cached {arch} models", dev.type, "cache") if n else None
