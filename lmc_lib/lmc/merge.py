"""Merging along the linear path theta(lam) = lam theta_a + (1 - lam) theta_b (Sec 2.2; barriers Def 2.1, calibration Sec 3.1).

Conventions:
- lam = 1 is model_a, lam = 0 is model_b. Every floating parameter AND floating buffer (BatchNorm
  running statistics) is interpolated; integer buffers (num_batches_tracked) are copied from model_a.
- BN nets: the merged model's running statistics are then recomputed on training data with
  `reset_bn` (REPAIR's "reset").
- `curve` evaluates the path with the Sec 3.1 protocol: ONE seeded fit/eval split of the test set
  shared by every lam; beta is fitted on the fit part (20%) and acc, loss, cal_loss are all reported
  on the eval part (80%). The endpoints lam = 0 and 1 are the models themselves, evaluated as they
  are (no BN reset: their running stats come from training); `reset_endpoints=True` resets them too.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lmc_lib.core.models import clone_architecture, has_batchnorm
from lmc_lib.core.train import evaluate
from lmc_lib.lmc import calibrate as cal
from lmc_lib.matching.perm import MergeError, apply_permutation, check_same_architecture, spec_for

__all__ = ["MergeError", "interpolate", "merge_many", "reset_bn", "bn_subset", "reset_bn_on_data",
           "merged_model", "Curve", "curve", "ensemble_logits", "ensemble_probs"]


def _combine(models, weights):
    """A new model with sum_i w_i theta_i on every floating state entry (integer ones from models[0])."""
    for m in models[1:]:
        check_same_architecture(models[0], m)
    states = [m.state_dict() for m in models]
    merged = {}
    for key, ref in states[0].items():
        if ref.is_floating_point():
            merged[key] = sum(w * s[key].to(ref.device) for w, s in zip(weights, states))
        else:
            merged[key] = ref.clone()
    out = clone_architecture(models[0])
    out.load_state_dict(merged)
    return out.eval()


def interpolate(model_a, model_b, lam, extrapolate: bool = False):
    """Merged model theta(lam) = lam theta_a + (1 - lam) theta_b, as a new model in eval mode."""
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise MergeError(f"lam must be a number in [0, 1]; got {lam!r}") from None
    if not math.isfinite(lam):
        raise MergeError(f"lam must be finite; got {lam}")
    if not extrapolate and not 0.0 <= lam <= 1.0:
        raise MergeError(f"lam = {lam} lies outside [0, 1]; pass extrapolate=True to leave the segment")
    return _combine([model_a, model_b], [lam, 1.0 - lam])


def merge_many(models, weights=None):
    """Convex combination sum_i w_i theta_i of N >= 2 same-architecture models (default: uniform)."""
    models = list(models)
    if len(models) < 2:
        raise MergeError(f"merge_many needs at least 2 models; got {len(models)}")
    w = np.full(len(models), 1.0 / len(models)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(models),):
        raise MergeError(f"need one weight per model: {len(models)} models, weights {w.tolist()}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
        raise MergeError(f"weights must be >= 0 and sum to 1 (tol 1e-6); got {w.tolist()} "
                         f"(sum {w.sum():.8g})")
    return _combine(models, [float(x) for x in w])


def _bn_layers(model) -> list:
    """All BatchNorm modules of the model."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _batch_indices(n: int, n_batches: int, batch_size: int, seed: int) -> list:
    """n_batches seeded batches of indices into 0..n-1, each without repeats (epochs of randperms)."""
    batch_size = min(batch_size, n)
    g = torch.Generator().manual_seed(int(seed))
    n_perms = math.ceil(n_batches * batch_size / n)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(n_perms)])
    return list(order[: n_batches * batch_size].split(batch_size))


def reset_bn(model, x_train_float, n_batches: int = 50, batch_size: int = 500, seed: int = 0):
    """"BN reset" (REPAIR): recompute BN running stats as the average over seeded training batches."""
    bns = _bn_layers(model)
    if not bns:
        return model
    if not torch.is_floating_point(x_train_float):
        raise MergeError(f"reset_bn needs normalised float inputs; got {x_train_float.dtype} "
                         "(use data.normalize(x_uint8))")
    if n_batches < 1 or batch_size < 2:
        raise MergeError(f"reset_bn needs n_batches >= 1 and batch_size >= 2; got {n_batches}, {batch_size}")
    device = next(model.parameters()).device
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.momentum = None  # cumulative moving average: running stat = mean over the batches seen
        bn.reset_running_stats()
    model.train()
    with torch.no_grad():
        for idx in _batch_indices(len(x_train_float), n_batches, batch_size, seed):
            model(x_train_float[idx.to(x_train_float.device)].to(device))
    for bn, mom in zip(bns, momenta):
        bn.momentum = mom
    return model.eval()


def bn_subset(data, n: int, seed: int = 0) -> torch.Tensor:
    """n normalised training images of a Dataset, a seeded random subset: what a BN reset sees."""
    if not hasattr(data, "x_train"):
        raise MergeError(f"bn_data must be a data.Dataset (e.g. setup.data()); got {type(data).__name__}")
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(data.x_train), generator=g)[:n]
    return data.normalize(data.x_train[idx.to(data.x_train.device)])


def reset_bn_on_data(model, data, n_batches: int = 50, batch_size: int = 500, seed: int = 0):
    """"BN reset" on a Dataset: n_batches seeded batches from bn_subset; no BN: a no-op."""
    if not has_batchnorm(model):
        return model
    return reset_bn(model, bn_subset(data, n_batches * batch_size, seed), n_batches=n_batches,
                    batch_size=batch_size, seed=seed)


def merged_model(model_a, model_b, lam=0.5, perm=None, bn_data=None, bn_batches: int = 50,
                 bn_batch_size: int = 500, seed: int = 0):
    """theta(lam) (model_b permuted by `perm` first), BN statistics reset on bn_data for BN nets."""
    check_same_architecture(model_a, model_b)
    if perm is not None:
        model_b = apply_permutation(spec_for(model_b), model_b, perm)
    merged = interpolate(model_a, model_b, lam)
    if not has_batchnorm(merged):
        return merged
    if bn_data is None:
        raise MergeError("the merged net has BatchNorm: its interpolated running statistics are wrong; "
                         "pass bn_data=<the training Dataset> (e.g. setup.data()) to reset them")
    return reset_bn_on_data(merged, bn_data, bn_batches, bn_batch_size, seed)


def ensemble_logits(models, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Logit average (Def 4.1 compares theta(1/2) with it); the probability ensemble is ensemble_probs."""
    models = list(models)
    if not models:
        raise MergeError("ensemble_logits needs at least one model")
    return sum(evaluate(m, x, batch_size) for m in models) / len(models)


def ensemble_probs(models, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Probability ensemble: the mean of the models' softmax outputs, [N, classes] on the CPU."""
    models = list(models)
    if not models:
        raise MergeError("ensemble_probs needs at least one model")
    return sum(torch.softmax(evaluate(m, x, batch_size), dim=1) for m in models) / len(models)


COLUMNS = ("lam", "acc", "loss", "cal_loss", "beta", "inv_beta")


@dataclass
class Curve:
    """Def 2.1 / Sec 3.1 measurements along the path: one row per lam (lam, acc, loss, cal_loss, beta, inv_beta)."""

    rows: list
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> np.ndarray:
        """One column as a float array, in row order."""
        if not self.rows or name not in self.rows[0]:
            raise MergeError(f"unknown column {name!r}; columns: {list(self.rows[0]) if self.rows else []}")
        return np.array([r[name] for r in self.rows], dtype=float)

    def to_csv(self, path) -> None:
        """Write the rows as CSV (meta is not included: use to_json to keep it)."""
        with open(path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)

    def to_json(self) -> str:
        """Rows and meta as one JSON string."""
        return json.dumps({"rows": self.rows, "meta": self.meta}, default=str)

    @classmethod
    def from_json(cls, text: str) -> "Curve":
        """Inverse of to_json."""
        d = json.loads(text)
        return cls(rows=d["rows"], meta=d.get("meta", {}))

    def __repr__(self) -> str:
        lam, acc, cl = (np.round(self.column(c), 4).tolist() for c in ("lam", "acc", "cal_loss"))
        return f"Curve(n={len(self)}, lam={lam}, acc={acc}, cal_loss={cl}, meta={self.meta})"


def lam_grid(lams) -> np.ndarray:
    """int n -> np.linspace(0, 1, n) (0 and 1 included, 0.5 when n is odd); or an explicit sequence."""
    if isinstance(lams, (int, np.integer)) and not isinstance(lams, bool):
        if lams < 2:
            raise MergeError(f"lams = {lams}: need at least 2 grid points (e.g. 11)")
        return np.linspace(0.0, 1.0, int(lams))
    grid = np.asarray(lams, dtype=float).ravel()
    if isinstance(lams, bool) or grid.size == 0 or not np.all((grid >= 0) & (grid <= 1)):
        raise MergeError(f"lams must be finite values in [0, 1]; got {grid.tolist()}")
    return grid


def _path_model(model_a, model_b, lam, x_bn, bn_kw, reset_endpoints):
    """theta(lam); BN-reset unless it is an endpoint evaluated as it is."""
    if lam in (0.0, 1.0) and not reset_endpoints:
        return model_a if lam == 1.0 else model_b
    merged = interpolate(model_a, model_b, lam)
    return reset_bn(merged, x_bn, **bn_kw) if x_bn is not None else merged


def curve(model_a, model_b, data, lams=11, calib_frac: float = 0.2, seed: int = 0, n_eval=None,
          bn_batches: int = 50, bn_batch_size: int = 500, perm=None, reset_endpoints: bool = False,
          batch_size: int = 2048, precision: str = "fp32", meta=None) -> Curve:
    """Def 2.1 / Sec 3.1: acc, loss, calibrated loss and beta of theta(lam) on one shared 20/80 test split.

    The first `n_eval` test images (all if None) are split once by calibrate.split_indices(n, calib_frac,
    seed); beta is fitted on the fit part and acc, loss, cal_loss are measured on the eval part, for
    every lam. `perm` (from weight_matching) is applied to model_b first. BN nets: every interior
    theta(lam) is BN-reset on a seeded training subset of bn_batches * bn_batch_size images.
    `precision` "bf16": every forward under bf16 autocast (the logits, beta and losses stay fp32).
    """
    check_same_architecture(model_a, model_b)
    if perm is not None:
        model_b = apply_permutation(spec_for(model_b), model_b, perm)
    grid = lam_grid(lams)
    if n_eval is not None and not 2 <= n_eval <= len(data.y_test):
        raise MergeError(f"n_eval = {n_eval} must be None or lie in 2..{len(data.y_test)} (test set size)")
    x = data.normalize(data.x_test[:n_eval])
    y = data.y_test[:n_eval].cpu()
    split = cal.split_indices(len(y), calib_frac, seed)
    x_bn = bn_subset(data, bn_batches * bn_batch_size, seed) if has_batchnorm(model_a) else None
    bn_kw = dict(n_batches=bn_batches, batch_size=bn_batch_size, seed=seed)
    rows = []
    for lam in grid:
        model = _path_model(model_a, model_b, float(lam), x_bn, bn_kw, reset_endpoints)
        stats = cal.calibrate(evaluate(model, x, batch_size, precision), y, split=split)
        rows.append({"lam": float(lam), **{c: float(stats[c]) for c in COLUMNS[1:]}})
    kw = model_a.build_kwargs
    info = dict(arch=kw["arch"], width=kw["width"], variant=kw["variant"], build_kwargs=dict(kw),
                dataset=getattr(data, "name", None), n_eval=len(y), n_calib=len(split[0]),
                calib_frac=calib_frac, seed=seed, bn_reset=x_bn is not None, bn_batches=bn_batches,
                bn_batch_size=bn_batch_size, reset_endpoints=reset_endpoints, permuted=perm is not None,
                precision=precision)
    return Curve(rows=rows, meta={**info, **(meta or {})})
