"""What training costs, and how long it takes here: the plan's estimate of training time.

One optimiser step on a batch of B images costs 6 x B x (multiply-adds of one forward pass)
FLOPs (2 per multiply-add forward, twice that backward) plus the elementwise memory traffic --
the optimiser's update of every parameter, ReLU / BatchNorm / adds over every activation --
counted at BYTE_FLOPS FLOPs per byte (the device's FLOP rate over its memory bandwidth: the H100's
w = 16 step spends half its time in Adam, docs/BENCHMARKS.md), and every step also pays a fixed
overhead (Python, the optimiser's loop over tensors, the data slice): at batch 128 a run takes 4x
the steps of batch 512, and for small models that overhead, not the FLOPs, sets the time.
A training run is `steps(config)` such steps: seconds = steps x (FLOPs per step / rate + overhead).
Where the rate comes from, best first (`Rate.describe` says which):
- `cache_rate`: the wall times of cached models of the same architecture and size (same width,
  batch, optimiser, input shape) trained on this device type: what training really took here;
- `calibrate(device)`: ROUNDS short timings of a few trainer steps of one MLP (the FLOP rate) and of
  a tiny one (the per-step overhead), their median, once per process per device (about 1-2 s):
  one short timing swings tens of times with the machine's load; a median of several does not.
"""
from __future__ import annotations

import functools
import os
import statistics
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
ROUNDS = 5            # calibration timings; their median is the rate (robust to a busy moment)
ROUND_STEPS = 3       # trainer steps per timing (their median counts for that round)
OVERHEAD_WIDTH = 1 / 64  # the tiny MLP whose step time is almost all per-step overhead


class Counts(NamedTuple):
    """Parameters of a model, and activations and multiply-adds of its forward pass on one image."""

    params: int
    acts: int
    macs: int


class Rate(NamedTuple):
    """FLOP-equivalents per second on a device type ("cpu", "cuda"), where that number came from,
    how it was found ("measured": timings here, "cache": cached models' wall times) and the seconds
    every optimiser step costs on top of its FLOPs."""

    flops: float
    source: str
    device: str = "cpu"
    origin: str = "measured"
    overhead_s: float = 0.0

    def describe(self) -> str:
        """'from <source>: 3.1 GFLOP/s + 1.2 ms per step'."""
        extra = f" + {1e3 * self.overhead_s:.2g} ms per step" if self.overhead_s else ""
        return f"from {self.source}: {self.flops / 1e9:.3g} GFLOP/s{extra}"

    def seconds(self, config: TrainConfig) -> float:
        """Seconds to train one model of `config` at this rate: steps x (FLOPs / rate + overhead)."""
        return steps(config) * (step_flops(config, self.device) / self.flops + self.overhead_s)


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


class Timing(NamedTuple):
    """The calibration: FLOP-equivalents and median seconds of one step of calibration_config, the
    median seconds of one step of the tiny MLP (its FLOP-equivalents too), and how many rounds."""

    flops: float
    secs: float
    tiny_flops: float
    tiny_secs: float
    rounds: int


def _stepper(device, width: float):
    """(one-step function, its FLOP-equivalents) of the MLP of `width` as calibration_config trains it."""
    dev = resolve_device(device)
    c = calibration_config(dev).replace(width=width)
    chans, size, classes = shape(c)
    with torch.device(dev):  # initialised where it trains (w = 16 on a GPU: no slow CPU init)
        model = build_model("mlp", c.width, in_channels=chans, image_size=size, n_classes=classes).train()
    opt = train.make_optimizer(c, model.parameters(), c.batch_size)
    step = train.make_step(c, model, opt, dev, generator(0, dev))
    x = torch.randn(c.batch_size, chans, size, size, device=dev)
    y = torch.randint(0, classes, (c.batch_size,), device=dev)
    count = [0]

    def one() -> float:
        t0 = time.perf_counter()
        step(x, y, count[0])
        _sync(dev)
        count[0] += 1
        return time.perf_counter() - t0
    one()  # warm-up
    return one, step_flops(c, dev.type)


def time_steps(device) -> Timing:
    """ROUNDS timings, each the median of ROUND_STEPS trainer steps, of calibration_config and of
    the tiny MLP, interleaved; the medians of the rounds: a typical step as training will see it
    (the fastest step, on a loaded machine, is a lucky one and training runs many times slower)."""
    dev = resolve_device(device)
    big, big_flops = _stepper(dev, calibration_config(dev).width)
    tiny, tiny_flops = _stepper(dev, OVERHEAD_WIDTH)
    bigs, tinies = [], []
    for _ in range(ROUNDS):
        bigs.append(statistics.median(big() for _ in range(ROUND_STEPS)))
        tinies.append(statistics.median(tiny() for _ in range(ROUND_STEPS)))
    return Timing(big_flops, statistics.median(bigs), tiny_flops, statistics.median(tinies), ROUNDS)


def rate_of(timing: Timing, source: str, device: str) -> Rate:
    """The rate of a calibration: FLOPs / second from the big step less the tiny step's overhead."""
    extra = timing.secs - timing.tiny_secs
    flops = (timing.flops - timing.tiny_flops) / extra if extra > 0 else timing.flops / timing.secs
    overhead = max(0.0, timing.tiny_secs - timing.tiny_flops / flops)
    return Rate(flops, source, device, "measured", overhead)


_RATES: dict[str, Rate] = {}


def _load_text() -> str:
    """', load 6.6' (the 1-minute load average, where the system has one)."""
    try:
        return f", load {os.getloadavg()[0]:.1f}"
    except OSError:
        return ""


def calibrate(device) -> Rate:
    """The FLOP rate and per-step overhead of `device`: the median of ROUNDS timings, measured once
    per process."""
    dev = resolve_device(device)
    if str(dev) not in _RATES:
        start = time.perf_counter()
        timing = time_steps(dev)
        took = time.perf_counter() - start
        source = (f"the median of {timing.rounds} timings on this {dev.type} ({took:.1f} s"
                  f"{_load_text()})")
        _RATES[str(dev)] = rate_of(timing, source, dev.type)
    return _RATES[str(dev)]


def _device_type(entry: dict) -> str | None:
    try:
        return torch.device(entry.get("device") or "").type
    except RuntimeError:  # an older sidecar without a device
        return None


def size_key(config: TrainConfig) -> tuple:
    """What sets the time of one optimiser step: architecture, width, input shape, batch,
    optimiser, variant and bias (not the seed, the epochs or the number of images)."""
    return (config.arch, float(config.width), shape(config), batch_size(config), config.optimizer,
            config.variant, config.bias)


def cache_rate(entries, config: TrainConfig, device) -> Rate | None:
    """The rate for models of `config`'s size from the wall times of cached models of that size
    (size_key) trained on the device's type, with at least a tenth of its steps (a short smoke run
    is mostly fixed cost); the median seconds per step; None when there are none."""
    dev = resolve_device(device)
    want, least = size_key(config), steps(config) / 10
    per_step = []
    for e in entries:
        secs, c = e.get("wall_time_s"), e.get("config")
        if (e.get("status") != "ok" or not isinstance(secs, (int, float)) or secs <= 0
                or not isinstance(c, dict) or c.get("arch") != config.arch or _device_type(e) != dev.type):
            continue
        try:
            cached = TrainConfig(**c)
            if cached.dataset not in SHAPES or size_key(cached) != want or steps(cached) < least:
                continue
        except (TypeError, ValueError):  # a sidecar of an older TrainConfig: not a rate to trust
            continue
        per_step.append(secs / steps(cached))
    if not per_step:
        return None
    source = f"the wall times of {len(per_step)} cached {config.arch} models of this size"
    return Rate(step_flops(config, dev.type) / statistics.median(per_step), source, dev.type, "cache")
