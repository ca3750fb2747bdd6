"""Helpers for a chapter of your own: compare a model with the probability ensemble, sweep a
measurement over widths and pairs, summarise it and judge a trend against the spread over pairs.

Used by the chapter template (`make new-chapter NAME=...`, lmc_lib/templates/chapter.py.tmpl);
see book/guide.md. Ensembles come from lmc_lib.merge (ensemble_probs: mean of softmax).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from . import calibrate as cal
from .merge import ensemble_probs
from .train import evaluate
from .utils import LmcError

__all__ = ["kl_divergence", "agreement", "compare_to_ensemble", "sweep", "mean_std", "per_pair",
           "trend", "level"]


def _as_probs(p, name: str) -> torch.Tensor:
    """A [N, classes] float64 tensor of probabilities (rows sum to 1), or an LmcError naming `name`."""
    p = torch.as_tensor(p).double()
    if p.ndim != 2 or len(p) == 0:
        raise LmcError(f"{name} must be a [N, classes] tensor of probabilities; got shape {tuple(p.shape)}")
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise LmcError(f"{name} rows must be probabilities (>= 0, summing to 1); pass softmax outputs, "
                       "not logits")
    return p


def kl_divergence(p, q) -> float:
    """Mean over rows of KL(p || q) = sum_c p_c log(p_c / q_c), in nats (q clamped at 1e-30)."""
    p, q = _as_probs(p, "p"), _as_probs(q, "q")
    if p.shape != q.shape:
        raise LmcError(f"p and q must have the same shape; got {tuple(p.shape)} and {tuple(q.shape)}")
    return float((torch.special.xlogy(p, p) - p * q.clamp_min(1e-30).log()).sum(1).mean())


def agreement(p, q) -> float:
    """Top-1 agreement: the share of rows where p and q (probabilities or logits) have the same argmax."""
    p, q = torch.as_tensor(p), torch.as_tensor(q)
    if p.shape != q.shape or p.ndim != 2:
        raise LmcError(f"agreement needs two [N, classes] tensors of one shape; got {tuple(p.shape)}, "
                       f"{tuple(q.shape)}")
    return float((p.argmax(1) == q.argmax(1)).double().mean())


def compare_to_ensemble(model, models, x, y=None, calib_frac: float = 0.2, seed: int = 0) -> dict:
    """KL(ensemble || model) and top-1 agreement with the probability ensemble of `models` on x.

    With labels y the model is calibrated first (SPEC Def 2): beta is fitted on a seeded `calib_frac`
    of x and both numbers are measured on the rest; without y, beta = 1 on all of x.
    Returns {"kl": nats, "agreement": share in [0, 1], "beta": the inverse temperature used}.
    """
    logits, ens = evaluate(model, x).double(), ensemble_probs(models, x).double()
    beta, rows = 1.0, torch.arange(len(x))
    if y is not None:
        fit, rows = (torch.as_tensor(i) for i in cal.split_indices(len(x), calib_frac, seed))
        beta = cal.fit_inverse_temperature(logits[fit], torch.as_tensor(y).cpu()[fit])
    log_q = torch.log_softmax(beta * logits[rows], dim=1)
    p = ens[rows]
    kl = float((torch.special.xlogy(p, p) - p * log_q).sum(1).mean())
    return {"kl": kl, "agreement": agreement(p, log_q), "beta": float(beta)}


def sweep(setup, fn, widths=None) -> dict:
    """{width: [fn(model_a, model_b, pair_index) for each pair of setup at that width]} (cached models)."""
    widths = setup.widths if widths is None else tuple(float(w) for w in widths)
    return {float(w): [fn(a, b, i) for i, (a, b) in enumerate(setup.pairs(w))] for w in widths}


def per_pair(swept: dict, key: str | None = None) -> np.ndarray:
    """The swept values as a [pairs, widths] array (widths in the sweep's order); `key` picks a dict entry."""
    cols = [[v[key] if key is not None else v for v in vals] for vals in swept.values()]
    if len({len(c) for c in cols}) != 1:
        raise LmcError(f"every width needs the same number of pairs; got {[len(c) for c in cols]}")
    return np.asarray(cols, dtype=float).T


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof = 1; 0 for a single value) of a list of numbers."""
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size == 0:
        raise LmcError("mean_std needs at least one value")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def _stderr(values) -> float:
    """Standard error of the mean of a list of numbers."""
    return mean_std(values)[1] / math.sqrt(len(values))


def trend(widths, values, direction: str = "rises", min_change: float = 0.0, z: float = 2.0,
          min_pairs: int = 2) -> dict:
    """Does the mean over pairs rise (or fall) from the narrowest to the widest width beyond the spread?

    values: [pairs, widths]. The change of the mean between the two end widths must exceed both
    `min_change` and z standard errors of that difference, sqrt(se_first^2 + se_last^2).
    Fewer than 2 widths or fewer than `min_pairs` pairs: "enough" is False (the verdict is inconclusive).
    Returns {"enough", "holds", "change", "spread"}.
    """
    if direction not in ("rises", "falls"):
        raise LmcError(f"direction must be 'rises' or 'falls'; got {direction!r}")
    arr = np.atleast_2d(np.asarray(values, dtype=float))
    if arr.shape[1] != len(widths):
        raise LmcError(f"values must be [pairs, widths] with {len(widths)} widths; got shape {arr.shape}")
    order = np.argsort(widths)
    first, last = arr[:, order[0]], arr[:, order[-1]]
    sign = 1.0 if direction == "rises" else -1.0
    change = float(sign * (last.mean() - first.mean()))
    spread = float(math.hypot(_stderr(first), _stderr(last))) if len(arr) > 1 else math.inf
    enough = len(widths) >= 2 and len(arr) >= max(2, min_pairs)
    holds = enough and change > min_change and change > z * spread
    return {"enough": bool(enough), "holds": bool(holds), "change": change, "spread": spread}


def level(values, threshold: float, side: str = "above", z: float = 1.0) -> bool:
    """True when the mean of `values` lies beyond `threshold` by more than z standard errors."""
    if side not in ("above", "below"):
        raise LmcError(f"side must be 'above' or 'below'; got {side!r}")
    arr = np.asarray(values, dtype=float).ravel()
    margin = z * _stderr(arr) if arr.size > 1 else 0.0
    mean = float(arr.mean())
    return bool(mean - margin > threshold if side == "above" else mean + margin < threshold)
