"""Training a group of seeds of one MLP recipe as one stacked model (batched matmuls over members).

Members differ only in `seed` / `init_seed`. Each keeps its own initialisation (train.init_model),
its own data order (a generator seeded by its seed, the same draws as train.train) and its own
optimiser state: the group minimises the SUM over members of each member's mean cross-entropy,
so with an elementwise optimiser (Adam, AdamW, SGD) one optimiser over the stacked tensors takes
exactly each member's own step. Layers run as `torch.baddbmm` over a leading member axis with
weights stored [k, in, out] (measured on the 2-core CPU, 1 thread, k=4: as fast as
torch.vmap(functional_call), and 5-10% faster than the [k, out, in] layout). On CUDA the
forward runs under bf16 autocast as in train.py, the optimiser is fused, and (Adam/AdamW at a
constant lr) the whole step is replayed from a CUDA graph (lmc_lib.core.cudagraph).
Everything else (BatchNorm MLPs, conv nets, Sophia, augmentation, compile) falls back to training
the members one by one with train.train. A group is capped by memory: see `max_group_size` and
`group_bytes` (GROUP_BYTES on a CPU, a share of the free memory of a GPU). A config's ingredients
(lmc_lib.core.ingredient) are honoured member by member: a "loss" replaces each member's mean
cross-entropy, a "transform" changes each member's batch with its own generator, an "init" changes
each member's initial model (train.init_model) before stacking; no CUDA graph then.
Progress: a line after an epoch, at most once a minute (runlog.epoch_reporter).
"""
from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from tqdm import tqdm

from lmc_lib.core import cudagraph, ingredient, runlog, train
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import MLP_DEPTH, MLP_HIDDEN, scaled
from lmc_lib.core.utils import generator, resolve_device

GROUP_OPTIMIZERS = ("adam", "adamw", "sgd")
MAX_GROUP = 16          # members per group at most
GROUP_BYTES = 2 << 30   # on a CPU: stacked weights + grads + optimiser state per group at most
GPU_SHARE = 0.5         # on a GPU: this share of its free memory per group at most


def groupable(config: TrainConfig) -> bool:
    """True when `config` can be trained stacked (MLP plain/skip, Adam/AdamW/SGD, no augmentation)."""
    return (config.arch == "mlp" and config.variant in ("plain", "skip") and not config.augment
            and config.optimizer in GROUP_OPTIMIZERS and not config.compile)


def recipe_key(config: TrainConfig) -> TrainConfig:
    """The config with seed and init_seed blanked: equal for configs that can share a group."""
    return config.replace(seed=0, init_seed=None)


def mlp_params_bound(config: TrainConfig) -> int:
    """Parameters of the config's MLP, bounded above (3x32x32 inputs, 100 classes)."""
    h = scaled(MLP_HIDDEN, config.width)
    return (3 * 32 * 32 + 1) * h + (MLP_DEPTH - 1) * (h + 1) * h + (h + 1) * 100


def group_bytes(device="cpu") -> int:
    """Bytes a group may use on `device`: GROUP_BYTES on a CPU, GPU_SHARE of a GPU's free memory."""
    dev = resolve_device(device)
    if dev.type != "cuda":
        return GROUP_BYTES
    return int(GPU_SHARE * torch.cuda.mem_get_info(dev)[0])


def max_group_size(config: TrainConfig, budget: int = GROUP_BYTES) -> int:
    """Members per group: MAX_GROUP at most, and `budget` bytes of fp32 weights, grads, 2 moments."""
    return max(1, min(MAX_GROUP, budget // (16 * mlp_params_bound(config))))


def plan_groups(configs: list[TrainConfig], budget: int = GROUP_BYTES) -> list[list[TrainConfig]]:
    """Split configs into groups of one groupable recipe (capped by max_group_size); others alone."""
    groups: dict = {}
    out = []
    for c in configs:
        if groupable(c):
            groups.setdefault(recipe_key(c), []).append(c)
        else:
            out.append([c])
    for members in groups.values():
        cap = max_group_size(members[0], budget)
        out += [members[i:i + cap] for i in range(0, len(members), cap)]
    return out


def _forward(params: list[torch.Tensor], x: torch.Tensor, skip: bool, bias: bool) -> torch.Tensor:
    """Stacked MLP: x [k, B, D] -> logits [k, B, C]; weights stacked as [k, in, out]."""
    per = 2 if bias else 1
    layers = [params[i:i + per] for i in range(0, len(params), per)]
    h = x
    for i, wb in enumerate(layers):
        z = torch.baddbmm(wb[1].unsqueeze(1), h, wb[0]) if bias else torch.bmm(h, wb[0])
        if i == len(layers) - 1:
            return z
        out = F.relu(z)
        h = out + h if skip and i > 0 else out
    return h


def _stack(models, dev) -> list[torch.Tensor]:
    """One leaf tensor per parameter, members along dim 0 (weights as [in, out]: faster bmm)."""
    per_model = [[p.detach().t() if p.dim() == 2 else p.detach() for p in m.parameters()]
                 for m in models]
    return [torch.stack(ps).to(dev).requires_grad_() for ps in zip(*per_model)]


@torch.no_grad()
def _unstack(params: list[torch.Tensor], models) -> None:
    """Copy each member's slice of the stacked tensors back into its model."""
    for j, m in enumerate(models):
        for p, stacked in zip(m.parameters(), params):
            p.copy_(stacked[j].t() if p.dim() == 2 else stacked[j])


def mean_cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's mean cross-entropy [k] of stacked logits [k, B, C] and labels [k, B]."""
    k, b = y.shape
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none").view(k, b).mean(1)


def member_losses(own, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each member's loss [k] under the "loss" ingredient `own` (called once per member)."""
    return torch.stack([ingredient.mean_loss(own, logits[j], y[j]) for j in range(len(y))])


def make_step(config, params, opt, dev, graphs: bool = False):
    """A function (x [k,B,D], y [k,B]) -> (per-member loss [k], per-member n_correct [k]);
    `graphs`: replayed from a CUDA graph (cudagraph.graphed), the autocast cast cache off.
    The loss: mean_cross_entropy, or the config's "loss" ingredient member by member."""
    autocast = train.autocast_for(config, dev, cache=not graphs)
    skip = config.variant == "skip"
    own = ingredient.function(config, "loss")

    def step(x, y):
        with autocast():
            logits = _forward(params, x, skip, config.bias).float()
        ce = mean_cross_entropy(logits, y) if own is None else member_losses(own, logits, y)
        opt.zero_grad(set_to_none=True)
        ce.sum().backward()
        opt.step()
        return ce.detach(), (logits.detach().argmax(2) == y).sum(1)
    return cudagraph.graphed(step) if graphs else step


def _check_members(host: list, configs, epoch: int) -> None:
    """Raise train.TrainingError naming the first member whose step losses are non-finite."""
    for j, c in enumerate(configs):
        train._check_finite([row[j] for row in host], c, epoch)


def _fit(configs, params, ds, dev, progress, at_epoch=None) -> dict:
    """Train the stacked params in place; per-member loss/accuracy history
    (`at_epoch(epochs_done, hist)` is called after every epoch but the last)."""
    c0, k = configs[0], len(configs)
    n = len(ds.y_train)
    bs = min(c0.batch_size, n)
    per_epoch, gens = n // bs, [generator(c.seed, dev) for c in configs]
    total = c0.epochs * per_epoch
    warm = min(round(c0.warmup_epochs * per_epoch), total)
    graphs = cudagraph.usable(c0, dev) and not c0.ingredients  # a chapter's code: run it eagerly
    opt = train.make_optimizer(c0, params, bs, fused=dev.type == "cuda", capturable=graphs)
    step, batch = make_step(c0, params, opt, dev, graphs), train.batch_source(c0, ds, dev)
    transform = ingredient.function(c0, "transform")
    hist = dict(epoch_losses=[[] for _ in configs], step_losses=[[] for _ in configs], train_acc=[])
    seeds = ",".join(str(c.seed) for c in configs)
    report = runlog.epoch_reporter(c0, c0.epochs, progress, seeds=seeds)
    for epoch in tqdm(range(c0.epochs), desc=f"{c0.arch} w={c0.width:g} seeds={seeds}",
                      disable=not runlog.bars_on(progress)):
        perm = torch.stack([torch.randperm(n, device=dev, generator=g) for g in gens])
        losses = torch.zeros(per_epoch, k, device=dev)
        correct = torch.zeros(k, device=dev, dtype=torch.long)
        for i in range(per_epoch):
            for group in opt.param_groups:
                group["lr"] = c0.lr * train.lr_factor(epoch * per_epoch + i, total, warm, c0.schedule)
            idx = perm[:, i * bs:(i + 1) * bs]
            x = batch(idx, None)
            if transform is not None:
                x = torch.stack([ingredient.transformed(transform, x[j], g) for j, g in enumerate(gens)])
            losses[i], n_correct = step(x.flatten(2), ds.y_train[idx])
            correct += n_correct
        host = losses.tolist()
        _check_members(host, configs, epoch)
        for j in range(k):
            hist["step_losses"][j] += [row[j] for row in host]
            hist["epoch_losses"][j].append(sum(row[j] for row in host) / len(host))
        hist["train_acc"] = [c / (per_epoch * bs) for c in correct.tolist()]
        report(epoch + 1, sum(h[-1] for h in hist["epoch_losses"]) / k, sum(hist["train_acc"]) / k)
        if at_epoch is not None and epoch + 1 < c0.epochs:
            at_epoch(epoch + 1, hist)
    return hist


def _check_group(configs: list[TrainConfig]) -> None:
    """Raise train.TrainingError unless the configs are one groupable recipe."""
    if not configs:
        raise train.TrainingError("train_group needs at least one config; got an empty list")
    bad = [c for c in configs if recipe_key(c) != recipe_key(configs[0])]
    if bad:
        raise train.TrainingError(f"train_group trains configs that differ only in seed/init_seed; "
                                  f"{bad[0]} differs from {configs[0]}: use plan_groups first")


def train_group(configs: list[TrainConfig], device="auto", progress: bool = True, data=None,
                snapshots=(), on_snapshot=None):
    """Train configs that differ only in seed/init_seed; [(model, metrics)] as train.train gives.

    `snapshots`: epochs (below the configs' own) at which `on_snapshot(config, model, metrics)` gets
    each member as it stands then, `config` being the member's config with `epochs` set to that
    epoch. With a constant learning rate (schedule "none") the data order and every step up to
    there are those of a run of that many epochs, so a snapshot is that run's model bit for bit
    (tests/test_train_group.py); a scheduled recipe has no snapshots (the lr depends on the total).

    Groupable recipes (see `groupable`) train as one stacked model, a single config too, so a
    config's weights do not depend on the group it was trained in; anything else (BN variants,
    conv nets, Sophia, augmentation, compile) falls back to train.train one by one.
    wall_time_s of a stacked member is its share (group wall time / members).
    """
    configs = list(configs)
    _check_group(configs)
    if not groupable(configs[0]):
        return [train.train(c, device=device, progress=progress, data=data) for c in configs]
    for c in configs:
        train.check_config(c)
    dev = resolve_device(device)
    c0 = configs[0]
    ds = train.prepare_data(c0, dev) if data is None else train._subset(data, c0.n_train)
    models = [train.init_model(c, ds).to(dev) for c in configs]
    params = _stack(models, dev)
    start = time.perf_counter()
    at_epoch = _snapshotter(configs, params, models, ds, dev, start, snapshots, on_snapshot)
    hist = _fit(configs, params, ds, dev, progress, at_epoch)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    share = (time.perf_counter() - start) / len(configs)
    _unstack(params, models)
    out = [(model, _metrics(model, ds, hist, j, share, dev)) for j, model in enumerate(models)]
    for c, (_, m) in zip(configs, out):
        runlog.log_trained(c, share * len(configs), m["test_acc"], progress, group=len(configs))
    return out


def _snapshotter(configs, params, models, ds, dev, start, snapshots, on_snapshot):
    """The per-epoch callback of _fit that hands snapshots to `on_snapshot` (None: no snapshots)."""
    wanted = {int(e) for e in snapshots if 0 < int(e) < configs[0].epochs}
    if not wanted or on_snapshot is None:
        return None
    if configs[0].schedule != "none":
        raise train.TrainingError(f"snapshots need a constant learning rate; schedule "
                                  f"{configs[0].schedule!r} depends on the total epochs")

    def at_epoch(done: int, hist: dict) -> None:
        if done not in wanted:
            return
        share = (time.perf_counter() - start) / len(configs)
        copies = [copy.deepcopy(m) for m in models]
        _unstack(params, copies)
        for j, (c, m) in enumerate(zip(configs, copies)):
            own = {k: [list(v) for v in hist[k]] if k != "train_acc" else list(hist[k]) for k in hist}
            on_snapshot(c.replace(epochs=done), m, _metrics(m, ds, own, j, share, dev))
    return at_epoch


def _metrics(model, ds, hist: dict, j: int, share: float, dev) -> dict:
    """Member j's metrics, as train.train gives them (wall_time_s: its share of the group's)."""
    own = dict(epoch_losses=hist["epoch_losses"][j], step_losses=hist["step_losses"][j],
               train_acc=hist["train_acc"][j])
    return train.metrics_of(model, ds, own, share, dev)
