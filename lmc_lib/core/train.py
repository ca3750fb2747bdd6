"""Training one model of a TrainConfig: device-resident data, batched augmentation, no DataLoader.

The whole (uint8) training set lives on the device; every epoch draws a permutation from a
generator seeded by `config.seed`, batches are index gathers, random crop (pad 4) and flip are
batched tensor ops, normalisation happens per batch on the device (without augmentation: once
for the whole split, then batches are gathers of it -- the same values). Initialisation comes from
`torch.manual_seed(config.effective_init_seed)` inside a forked RNG (the global RNG is untouched),
so two configs with equal `init_seed` start from the same weights ("spawning"). On CUDA with
precision "auto" the forward runs under bf16 autocast (conv nets in channels_last); on CPU
everything is fp32 and the same config gives bit-identical weights. The final partial batch of an
epoch is dropped (a fresh permutation each epoch, so no sample is always left out).
Several seeds of one MLP recipe train as one stacked model in train_group.py. A config's
ingredients (lmc_lib.core.ingredient: a chapter's loss, batch transform or init) replace the
cross-entropy, transform each batch after its gather, or change the initial weights. Progress:
bars on a terminal, else a line per trained model and, at most once a minute, a line after an
epoch (lmc_lib.core.runlog).
"""
from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from lmc_lib.core import data as data_mod
from lmc_lib.core import ingredient
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import build_model
from lmc_lib.core.runlog import bars_on, epoch_reporter, log_trained
from lmc_lib.core.sophia import HESSIAN_INTERVAL, SophiaG
from lmc_lib.core.utils import LmcError, generator, resolve_device

OPTIMIZERS = ("adam", "adamw", "sgd", "sophia")
SCHEDULES = ("none", "linear")
PRECISIONS = ("auto", "fp32", "bf16")
CROP_PAD = 4
PRENORM_BYTES = 1 << 30  # without augmentation, a split up to this size (fp32) is normalised once
_DATA_CACHE: OrderedDict = OrderedDict()
_DATA_CACHE_SIZE = 4


class TrainingError(LmcError):
    """Training was asked for with impossible settings, or diverged (non-finite loss)."""


# ---------------------------------------------------------------- data

def _subset(ds: data_mod.Dataset, n_train: int | None) -> data_mod.Dataset:
    """The dataset with only its first n_train training samples (mean/std stay the full split's)."""
    if n_train is None:
        return ds
    n = len(ds.y_train)
    if not 1 <= n_train <= n:
        raise TrainingError(f"n_train={n_train} is outside 1..{n} (the size of {ds.name}'s training "
                            "split); use None for all")
    return dataclasses.replace(ds, x_train=ds.x_train[:n_train], y_train=ds.y_train[:n_train])


def prepare_data(config: TrainConfig, device="auto") -> data_mod.Dataset:
    """The config's dataset on `device` (28x28 padded to 32x32 for conv nets, first n_train samples)."""
    dev = resolve_device(device)
    key = (config.dataset, config.arch != "mlp", str(dev), config.n_train)
    if key not in _DATA_CACHE:
        ds = data_mod.load(config.dataset, dev)
        if config.arch != "mlp" and ds.image_size < 32:
            ds = data_mod.load(config.dataset, dev, pad_to=32)
        _DATA_CACHE[key] = _subset(ds, config.n_train)
        while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
            _DATA_CACHE.popitem(last=False)
    _DATA_CACHE.move_to_end(key)
    return _DATA_CACHE[key]


def normalizer(ds: data_mod.Dataset, device):
    """uint8 -> float32 (x/255 - mean)/std on `device` (same arithmetic as Dataset.normalize)."""
    mean = torch.tensor(ds.mean, dtype=torch.float32, device=device).view(-1, 1, 1)
    std = torch.tensor(ds.std, dtype=torch.float32, device=device).view(-1, 1, 1)
    return lambda x: (x.float() / 255.0 - mean) / std


def batch_source(config: TrainConfig, ds: data_mod.Dataset, dev):
    """A function (idx, gen) -> normalised float batch (same values as normalizer per batch).

    Without augmentation the split is normalised once (up to PRENORM_BYTES) and batches are
    gathers of it; with augmentation each uint8 batch is augmented, then normalised.
    """
    norm = normalizer(ds, dev)
    if config.augment or ds.x_train.numel() * 4 > PRENORM_BYTES:
        return lambda idx, gen: norm(augment(rows(ds.x_train, idx), gen) if config.augment
                                     else rows(ds.x_train, idx))
    x_all = norm(ds.x_train)
    return lambda idx, gen: rows(x_all, idx)


def rows(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x[idx] for an index tensor of any shape, via index_select (5x faster than x[idx] on CPU)."""
    return x.index_select(0, idx.flatten()).view(*idx.shape, *x.shape[1:])


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Per-image random crop of the zero-padded batch back to its size (one offset per image)."""
    n, c, h, w = x.shape
    dev = x.device
    xp = F.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), device=dev, generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), device=dev, generator=gen)
    rows = (dy + torch.arange(h, device=dev))[:, None, :, None]
    cols = (dx + torch.arange(w, device=dev))[:, None, None, :]
    return xp[torch.arange(n, device=dev)[:, None, None, None],
              torch.arange(c, device=dev)[None, :, None, None], rows, cols]


def random_flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    mask = torch.rand(x.shape[0], device=x.device, generator=gen) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(-1), x)


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random crop (pad 4) then horizontal flip, as batched ops (any dtype, shape kept)."""
    return random_flip(random_crop(x, CROP_PAD, gen), gen)


# ---------------------------------------------------------------- recipe

def check_config(config: TrainConfig) -> None:
    """Raise TrainingError naming the bad value and the options for an impossible config."""
    for field, options in (("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                           ("precision", PRECISIONS)):
        if getattr(config, field) not in options:
            raise TrainingError(f"unknown {field} {getattr(config, field)!r}; choose one of {options}")
    if config.epochs < 1 or config.batch_size < 1:
        raise TrainingError(f"epochs and batch_size must be >= 1; got epochs={config.epochs}, "
                            f"batch_size={config.batch_size}")
    if not (config.lr >= 0 and config.weight_decay >= 0 and config.warmup_epochs >= 0):
        raise TrainingError(f"lr, weight_decay and warmup_epochs must be >= 0; got {config.lr}, "
                            f"{config.weight_decay}, {config.warmup_epochs}")
    check_momentum(config)
    for item in config.ingredients:
        ingredient.function(config, item.kind)  # a recorded ingredient without its function


def check_momentum(config: TrainConfig) -> None:
    """momentum / nesterov: SGD's only (others keep the defaults), momentum in [0, 1), Nesterov
    only with momentum > 0."""
    default = (TrainConfig.momentum, TrainConfig.nesterov)
    if config.optimizer != "sgd" and (config.momentum, config.nesterov) != default:
        raise TrainingError(f"momentum={config.momentum}, nesterov={config.nesterov} apply to "
                            f"optimizer 'sgd' only; {config.optimizer!r} keeps the defaults "
                            f"{default} (drop them, or use optimizer='sgd')")
    if not 0 <= config.momentum < 1:
        raise TrainingError(f"momentum must be in [0, 1); got {config.momentum}")
    if config.nesterov and config.momentum == 0:
        raise TrainingError("nesterov=True needs momentum > 0; for plain SGD pass momentum=0, "
                            "nesterov=False")


def lr_factor(step: int, total_steps: int, warmup_steps: int, schedule: str = "linear") -> float:
    """Multiplier of the base lr at 0-based `step`: 1, or linear warm-up then linear decay to 0."""
    if schedule == "none":
        return 1.0
    if schedule != "linear":
        raise TrainingError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def make_optimizer(config: TrainConfig, params, batch_size: int, fused: bool = False,
                   capturable: bool = False) -> torch.optim.Optimizer:
    """Adam (coupled L2), AdamW, SGD (config.momentum, config.nesterov) or SophiaG; `fused` (CUDA);
    `capturable` Adam/AdamW can be captured in a CUDA graph (lmc_lib.core.cudagraph)."""
    lr, wd = config.lr, config.weight_decay
    kw = dict(fused=True) if fused else {}
    adam_kw = dict(kw, capturable=True) if capturable else kw
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd, **adam_kw)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd, **adam_kw)
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=config.nesterov,
                               weight_decay=wd, **kw)
    if config.optimizer == "sophia":
        return SophiaG(params, lr=lr, weight_decay=wd, bs=batch_size)
    raise TrainingError(f"unknown optimizer {config.optimizer!r}; choose one of {OPTIMIZERS}")


def init_model(config: TrainConfig, ds: data_mod.Dataset) -> nn.Module:
    """The untrained model, built on CPU from torch.manual_seed(effective_init_seed) in a forked RNG
    (then changed by the config's "init" ingredient, in the same RNG)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.effective_init_seed)
        model = build_model(config.arch, config.width, in_channels=ds.in_channels,
                            image_size=ds.image_size, n_classes=ds.n_classes,
                            variant=config.variant, bias=config.bias)
        tweak = ingredient.function(config, "init")
        if tweak is not None:
            ingredient.tweak(tweak, model)
        return model


# ---------------------------------------------------------------- loop

def _refresh_hessian(fwd, opt, x, gen, autocast) -> None:
    """Sophia's GNB estimate: backprop the CE against labels sampled from the model's softmax."""
    with autocast():
        logits = fwd(x).float()
    y_hat = torch.multinomial(torch.softmax(logits.detach(), 1), 1, generator=gen).squeeze(1)
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(logits, y_hat).backward()
    opt.update_hessian()
    opt.zero_grad(set_to_none=True)


def uses_bf16(config: TrainConfig, dev: torch.device) -> bool:
    """bf16 autocast of the forward: precision "bf16" on any device, "auto" on CUDA only."""
    return config.precision == "bf16" or (dev.type == "cuda" and config.precision == "auto")


def channels_last(config: TrainConfig, dev: torch.device) -> bool:
    """Conv nets under bf16 autocast on CUDA train in channels_last (model and inputs)."""
    return dev.type == "cuda" and uses_bf16(config, dev) and config.arch != "mlp"


def native_bf16(dev: torch.device) -> bool:
    """Whether bf16 matrix products run natively on `dev`: CUDA, or a CPU with AVX512-BF16 or AMX.
    Elsewhere torch emulates them and bf16 autocast is slower than fp32 (an AVX2 CPU: 7-8x slower
    for an MLP forward, docs/BENCHMARKS.md)."""
    if dev.type == "cuda":
        return True
    if dev.type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def bf16_context(dev: torch.device, on: bool, cache: bool = True):
    """bf16 autocast on `dev` when `on`, else a no-op context (`cache=False`: no cast cache)."""
    return (torch.autocast(dev.type, dtype=torch.bfloat16, cache_enabled=cache) if on
            else contextlib.nullcontext())


def autocast_for(config: TrainConfig, dev: torch.device, cache: bool = True):
    """A context factory: bf16 autocast on `dev` when uses_bf16, else a no-op (`cache=False`:
    no cast cache, as a step captured in a CUDA graph needs)."""
    amp = uses_bf16(config, dev)
    return lambda: bf16_context(dev, amp, cache)


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The training loss of the recipe: the batch's mean cross-entropy."""
    return F.cross_entropy(logits, y)


def make_step(config, model, opt, dev, gen):
    """A function (x, y, t) -> (loss, n_correct) that does one optimiser step on a float batch
    (the loss: cross_entropy, or the config's "loss" ingredient)."""
    fwd = torch.compile(model) if config.compile and dev.type == "cuda" else model
    to_channels_last = channels_last(config, dev)
    autocast = autocast_for(config, dev)
    own = ingredient.function(config, "loss")

    def step(x, y, t):
        if to_channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast():
            logits = fwd(x).float()
        loss = cross_entropy(logits, y) if own is None else ingredient.mean_loss(own, logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if isinstance(opt, SophiaG) and t % HESSIAN_INTERVAL == HESSIAN_INTERVAL - 1:
            _refresh_hessian(fwd, opt, x, gen, autocast)
        return loss.detach(), (logits.detach().argmax(1) == y).sum()
    return step


def _check_finite(losses: list, config: TrainConfig, epoch: int) -> None:
    """Raise TrainingError (with the config) at the first non-finite step loss."""
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None:
        raise TrainingError(f"training diverged: loss {losses[bad]} at epoch {epoch + 1}, step "
                            f"{bad + 1} of the epoch (lower lr or weight_decay); config: {config}")


def _fit(config: TrainConfig, model: nn.Module, ds, dev, progress: bool) -> dict:
    """Train `model` in place; return the loss/accuracy history."""
    n = len(ds.y_train)
    bs = min(config.batch_size, n)
    per_epoch, gen = n // bs, generator(config.seed, dev)
    total = config.epochs * per_epoch
    warm = min(round(config.warmup_epochs * per_epoch), total)
    opt = make_optimizer(config, model.parameters(), bs)
    step, batch = make_step(config, model, opt, dev, gen), batch_source(config, ds, dev)
    transform = ingredient.function(config, "transform")
    hist = dict(epoch_losses=[], step_losses=[], train_acc=float("nan"))
    bar = tqdm(range(config.epochs), desc=f"{config.arch} w={config.width:g} seed={config.seed}",
               disable=not bars_on(progress))
    report = epoch_reporter(config, config.epochs, progress)
    model.train()
    for epoch in bar:
        perm = torch.randperm(n, device=dev, generator=gen)
        losses = torch.zeros(per_epoch, device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        for i in range(per_epoch):
            t = epoch * per_epoch + i
            for group in opt.param_groups:
                group["lr"] = config.lr * lr_factor(t, total, warm, config.schedule)
            idx = perm[i * bs:(i + 1) * bs]
            x = batch(idx, gen)
            if transform is not None:
                x = ingredient.transformed(transform, x, gen)
            losses[i], n_correct = step(x, ds.y_train[idx], t)
            correct += n_correct
        host = losses.tolist()
        _check_finite(host, config, epoch)
        hist["step_losses"] += host
        hist["epoch_losses"].append(sum(host) / len(host))
        hist["train_acc"] = correct.item() / (per_epoch * bs)
        bar.set_postfix(loss=f"{hist['epoch_losses'][-1]:.4f}", acc=f"{hist['train_acc']:.4f}")
        report(epoch + 1, hist["epoch_losses"][-1], hist["train_acc"])
    return hist


def train(config: TrainConfig, device="auto", progress: bool = True, data=None):
    """Train the model of `config`; return (model in eval mode on device, metrics dict).

    `data` (a Dataset) replaces the config's dataset -- for tests and experiments; the model
    cache never passes it.
    """
    check_config(config)
    dev = resolve_device(device)
    ds = prepare_data(config, dev) if data is None else _subset(data, config.n_train)
    model = init_model(config, ds).to(dev)
    if channels_last(config, dev):
        model = model.to(memory_format=torch.channels_last)
    start = time.perf_counter()
    hist = _fit(config, model, ds, dev, progress)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    model = model.to(memory_format=torch.contiguous_format).eval()
    metrics = metrics_of(model, ds, hist, wall, dev)
    log_trained(config, wall, metrics["test_acc"], progress)
    return model, metrics


def metrics_of(model: nn.Module, ds, hist: dict, wall: float, dev) -> dict:
    """A trained model's metrics (the cache's sidecar): its history plus test accuracy and loss."""
    model.eval()
    test_acc, test_loss = accuracy_and_loss(model, ds, "test")
    return dict(train_loss=hist["epoch_losses"][-1], train_acc=hist["train_acc"],
                test_loss=test_loss, test_acc=test_acc, epoch_losses=hist["epoch_losses"],
                step_losses=hist["step_losses"], wall_time_s=wall, device=str(dev),
                n_params=sum(p.numel() for p in model.parameters()))


# ---------------------------------------------------------------- evaluation

EVAL_PRECISIONS = ("fp32", "bf16")


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor, batch_size: int, transform=None,
            precision: str = "fp32") -> torch.Tensor:
    """fp32 CPU logits of `model` (eval mode, its training flag restored) on x, batch by batch;
    precision "bf16": the forward under bf16 autocast (weights stay fp32, logits returned as fp32)."""
    if len(x) == 0 or int(batch_size) < 1:
        raise LmcError(f"evaluate needs a non-empty input and batch_size >= 1; got {len(x)} "
                       f"inputs, batch_size={batch_size}")
    if precision not in EVAL_PRECISIONS:
        raise LmcError(f"evaluation precision must be one of {EVAL_PRECISIONS}; got {precision!r}")
    dev = next(model.parameters()).device
    was_training, out = model.training, []
    model.eval()
    try:
        for i in range(0, len(x), int(batch_size)):
            xb = x[i:i + int(batch_size)].to(dev, non_blocking=True)
            with bf16_context(dev, precision == "bf16"):
                out.append(model(transform(xb) if transform else xb).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out)


def evaluate(model: nn.Module, x_float: torch.Tensor, batch_size: int = 2048,
             precision: str = "fp32") -> torch.Tensor:
    """Logits (float32, CPU) of `model` in eval mode, no grad, on a batch of normalised inputs
    (`precision` "bf16": the forward under bf16 autocast)."""
    if x_float.dtype == torch.uint8:
        raise LmcError("evaluate expects normalised float inputs; use data.normalize(x) first "
                       "(or accuracy_and_loss(model, data))")
    return _logits(model, x_float, batch_size, precision=precision)


def accuracy_and_loss(model: nn.Module, data: data_mod.Dataset, split: str = "test",
                      batch_size: int = 2048):
    """(accuracy, mean cross-entropy) of `model` on a split ("train" or "test") of `data`."""
    if split not in ("train", "test"):
        raise LmcError(f"unknown split {split!r}; choose 'train' or 'test'")
    x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}").cpu()
    dev = next(model.parameters()).device
    logits = _logits(model, x, batch_size, normalizer(data, dev))
    return (logits.argmax(1) == y).float().mean().item(), F.cross_entropy(logits, y).item()
