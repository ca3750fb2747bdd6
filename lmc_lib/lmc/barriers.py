"""Def 2.1 (loss barrier, after Entezari et al.): loss and accuracy barriers along theta(lam), and mean +- std.

Convention: theta(lam) = lam * theta_a + (1 - lam) * theta_b, so lam = 1 is model a, lam = 0 is model b.
Both barriers return {"half": value at lam = 1/2, "max": max over the lam grid}.
- "half" is the raw value at lam = 1/2 and may be negative (a curve below its chord, e.g. a
  convex loss curve or an accuracy curve above the chord).
- "max" is the max over the grid including the endpoints, where the barrier is exactly 0, so
  "max" >= 0 always (it is 0 when the curve never rises above its chord).
"""
from __future__ import annotations

import numpy as np

from lmc_lib.core.stats import mean_std
from lmc_lib.core.utils import LmcError


class BarrierError(LmcError):
    """Bad input to a barrier computation (grid without 0, 1/2 or 1; unsorted; non-finite values)."""


_ATOL = 1e-9  # how close a grid point must be to 0, 1/2 or 1 to count as that point


def _columns(curve_or_lams, values, which: str):
    """Read (lams, values) from a curve with .column(name), or take the two arrays as given."""
    if hasattr(curve_or_lams, "column"):
        if isinstance(values, str):  # loss_barrier(curve, "loss"): `which` passed positionally
            which, values = values, None
        if values is not None:
            raise BarrierError("pass either a curve (and `which`) or two arrays (lams, values), not both")
        return curve_or_lams.column("lam"), curve_or_lams.column(which)
    if values is None:
        raise BarrierError("values missing: call f(lams, values) or f(curve, which=...)")
    return curve_or_lams, values


def _validate(lams, values) -> tuple[np.ndarray, np.ndarray]:
    """Check the lam grid (1-D, sorted, within [0, 1], holding 0 and 1) and finite values of equal length."""
    lam = np.asarray(lams, dtype=np.float64)
    val = np.asarray(values, dtype=np.float64)
    if lam.ndim != 1 or val.shape != lam.shape:
        raise BarrierError(f"lams and values must be 1-D of equal length; got shapes {lam.shape}, {val.shape}")
    if not np.all(np.isfinite(lam)):
        raise BarrierError(f"lams must be finite; got {lam.tolist()}")
    if lam.size < 2 or np.any(np.diff(lam) <= 0):
        raise BarrierError(f"lams must be strictly increasing (sorted, no repeats); got {lam.tolist()}")
    if not (abs(lam[0]) <= _ATOL and abs(lam[-1] - 1) <= _ATOL):
        raise BarrierError(f"lams must run from 0 to 1 (both endpoints on the grid); got {lam.tolist()}")
    if not np.all(np.isfinite(val)):
        bad = lam[~np.isfinite(val)].tolist()
        raise BarrierError(f"values are not finite at lam = {bad}; a diverged model cannot give a barrier")
    return lam, val


def _summarize_curve(lam: np.ndarray, barrier: np.ndarray) -> dict:
    """{"half": barrier at lam = 1/2, "max": max over the grid} for a pointwise barrier array."""
    at_half = np.flatnonzero(np.abs(lam - 0.5) <= _ATOL)
    if at_half.size == 0:
        raise BarrierError(f"lam = 0.5 is not on the grid {lam.tolist()}; use an odd number of lams, e.g. 11")
    return {"half": float(barrier[at_half[0]]), "max": float(np.max(barrier))}


def barrier_curve(lams, values, kind: str = "loss") -> np.ndarray:
    """Def 2.1 pointwise: loss L(lam) - chord(lam), or accuracy chord(lam) - Acc(lam), per grid point."""
    lam, val = _validate(lams, values)
    chord = lam * val[-1] + (1 - lam) * val[0]
    if kind == "loss":
        return val - chord
    if kind == "accuracy":
        return chord - val
    raise BarrierError(f"kind must be 'loss' or 'accuracy'; got {kind!r}")


def loss_barrier(curve_or_lams, values=None, which: str = "cal_loss") -> dict:
    """Def 2.1 loss barrier: L(theta(lam)) - (lam L(theta_a) + (1 - lam) L(theta_b)); half and max."""
    lams, vals = _columns(curve_or_lams, values, which)
    lam, _ = _validate(lams, vals)
    return _summarize_curve(lam, barrier_curve(lams, vals, "loss"))


def accuracy_barrier(curve_or_lams, accs=None, which: str = "acc") -> dict:
    """Def 2.1's accuracy counterpart: (lam Acc_a + (1 - lam) Acc_b) - Acc(theta(lam)); half and max."""
    lams, vals = _columns(curve_or_lams, accs, which)
    lam, _ = _validate(lams, vals)
    return _summarize_curve(lam, barrier_curve(lams, vals, "accuracy"))


def summarize(values) -> dict:
    """Mean +- std over pairs (the paper: 3 pairs per point); std uses ddof=1 for n > 1 and is 0 for n = 1."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        raise BarrierError("summarize needs at least one value (one pair)")
    if not np.all(np.isfinite(v)):
        raise BarrierError(f"summarize got non-finite values {v.tolist()}")
    mean, std = mean_std(v)
    return {"mean": mean, "std": std, "n": int(v.size)}
