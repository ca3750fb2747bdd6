"""Calibrated loss (Sec 3.1): fit an inverse temperature beta > 0 and report CE of softmax(beta z).

Convention: ``beta`` multiplies the logits (softmax(beta * z)); ``inv_beta = 1 / beta`` is "the factor
the logits are divided by" (the paper's Fig 19 convention). A beta > 1 means the logits were too small.
All arithmetic is done in float64 numpy, whatever the input (torch tensors or numpy arrays).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, softmax

from lmc_lib.core.utils import LmcError


class CalibrationError(LmcError):
    """Bad input to the calibration routines (empty, mismatched, out-of-range or non-finite)."""


class CalibrationWarning(UserWarning):
    """The fitted inverse temperature sits at a search bound (the optimum lies outside it)."""


_SHOWN: dict = {}  # warnings' "default" action: each message once per process


def _warn(message: str) -> None:
    """A CalibrationWarning shown as `lmc_lib.lmc.calibrate: ...` (no local source path in book output)."""
    warnings.warn_explicit(message, CalibrationWarning, "lmc_lib.lmc.calibrate", 0,
                           module="lmc_lib.lmc.calibrate", registry=_SHOWN)


def _to_numpy(x) -> np.ndarray:
    """A numpy view of a torch tensor, numpy array or sequence (no torch import needed)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _check(logits, labels) -> tuple[np.ndarray, np.ndarray]:
    """Validate logits [N, K] (float, finite, K >= 2) and labels [N] (int in 0..K-1); float64 / int64."""
    z, y = _to_numpy(logits), _to_numpy(labels)
    if z.ndim != 2:
        raise CalibrationError(f"logits must have shape [N, K]; got shape {z.shape}")
    if y.ndim != 1:
        raise CalibrationError(f"labels must have shape [N]; got shape {y.shape}")
    n, k = z.shape
    if n == 0:
        raise CalibrationError("empty input: logits have N = 0 rows; pass at least one example")
    if k < 2:
        raise CalibrationError(f"logits have K = {k} class(es); calibration needs K >= 2")
    if y.shape[0] != n:
        raise CalibrationError(f"N mismatch: logits have {n} rows but labels have {y.shape[0]}")
    if y.dtype.kind not in "iu":
        raise CalibrationError(f"labels must be integer class indices; got dtype {y.dtype}")
    if not np.issubdtype(z.dtype, np.number) or z.dtype.kind == "c":
        raise CalibrationError(f"logits must be real floats; got dtype {z.dtype}")
    z = z.astype(np.float64)
    if not np.all(np.isfinite(z)):
        bad = int(np.sum(~np.isfinite(z)))
        raise CalibrationError(f"logits contain {bad} non-finite value(s) (nan/inf); fix the model output")
    if y.min() < 0 or y.max() >= k:
        raise CalibrationError(f"labels must lie in 0..{k - 1}; got range [{y.min()}, {y.max()}]")
    return z, y.astype(np.int64)


def _ce(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    """Mean cross-entropy of softmax(beta * z) against labels y (validated float64 inputs)."""
    bz = beta * z
    return float(np.mean(logsumexp(bz, axis=1) - bz[np.arange(len(y)), y]))


def _dce(z: np.ndarray, y: np.ndarray, beta: float) -> float:
    """d/dbeta of the mean CE of softmax(beta z): mean over rows of E_p[z] - z_y."""
    p = softmax(beta * z, axis=1)
    return float(np.mean(np.sum(p * z, axis=1) - z[np.arange(len(y)), y]))


def cross_entropy(logits, labels) -> float:
    """Mean cross-entropy of softmax(z) (the uncalibrated test loss L(theta))."""
    z, y = _check(logits, labels)
    return _ce(z, y, 1.0)


def calibrated_loss(logits, labels, beta: float) -> float:
    """Sec 3.1: mean cross-entropy of softmax(beta * z) for a given inverse temperature beta > 0."""
    beta = float(beta)
    if not (math.isfinite(beta) and beta > 0):
        raise CalibrationError(f"beta must be a finite number > 0; got {beta}")
    z, y = _check(logits, labels)
    return _ce(z, y, beta)


def accuracy(logits, labels) -> float:
    """Top-1 accuracy (fraction of argmax z == label); unchanged by any beta > 0."""
    z, y = _check(logits, labels)
    return float(np.mean(np.argmax(z, axis=1) == y))


def fit_inverse_temperature(logits, labels, tol: float = 1e-6, bounds=(1e-3, 1e3)) -> float:
    """Sec 3.1: beta > 0 minimising the mean CE of softmax(beta z) (bounded Brent search on log beta).

    The objective is convex in beta. log beta is located to within ``tol`` (xatol), i.e. beta to a
    relative precision of about ``tol``. If the optimum lies outside ``bounds`` (the derivative does
    not change sign inside them, e.g. perfectly separated data), a CalibrationWarning is issued and
    the violated bound is returned. Logits that are constant within every row carry no information
    about beta and raise CalibrationError.
    """
    z, y = _check(logits, labels)
    lo, hi = (float(b) for b in bounds)
    if not (0 < lo < hi and math.isfinite(hi)):
        raise CalibrationError(f"bounds must satisfy 0 < low < high < inf; got {bounds}")
    if not (tol > 0):
        raise CalibrationError(f"tol must be > 0; got {tol}")
    if np.all(np.ptp(z, axis=1) == 0):
        raise CalibrationError("every row of logits is constant: the loss does not depend on beta")
    if _dce(z, y, hi) <= 0:
        _warn(f"fitted beta hits the upper bound {hi} (loss still falling); returning it")
        return hi
    if _dce(z, y, lo) >= 0:
        _warn(f"fitted beta hits the lower bound {lo} (loss still rising); returning it")
        return lo
    res = minimize_scalar(lambda t: _ce(z, y, math.exp(t)), bounds=(math.log(lo), math.log(hi)),
                          method="bounded", options={"xatol": tol, "maxiter": 500})
    if not res.success:
        raise CalibrationError(f"inverse-temperature search did not converge: {res.message}")
    return float(math.exp(res.x))


def split_indices(n: int, frac: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Sec 3.1: seeded random split of 0..n-1 into (fit_idx, eval_idx), fit part = round(frac*n).

    Both parts are sorted int64 arrays, disjoint and together cover 0..n-1; each has at least one
    element (round-half-up, then clipped to 1..n-1).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise CalibrationError(f"n must be an integer; got {n!r}")
    if n < 2:
        raise CalibrationError(f"cannot split n = {n} examples into a fit and an eval part; need n >= 2")
    frac = float(frac)
    if not (0 < frac < 1):
        raise CalibrationError(f"frac must lie strictly between 0 and 1; got {frac}")
    n_fit = min(max(int(math.floor(frac * n + 0.5)), 1), n - 1)
    perm = np.random.default_rng(int(seed)).permutation(int(n))
    return np.sort(perm[:n_fit]).astype(np.int64), np.sort(perm[n_fit:]).astype(np.int64)


def _check_split(split, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate a user-supplied (fit_idx, eval_idx) pair against n examples."""
    try:
        fit_idx, eval_idx = (_to_numpy(s).astype(np.int64).ravel() for s in split)
    except (TypeError, ValueError) as err:
        raise CalibrationError(f"split must be a pair (fit_idx, eval_idx) of index arrays: {err}") from None
    for name, idx in (("fit", fit_idx), ("eval", eval_idx)):
        if idx.size == 0:
            raise CalibrationError(f"split: the {name} part is empty")
        if idx.min() < 0 or idx.max() >= n:
            raise CalibrationError(f"split: {name} indices must lie in 0..{n - 1}")
    if np.intersect1d(fit_idx, eval_idx).size:
        raise CalibrationError("split: fit and eval indices overlap; they must be disjoint")
    return fit_idx, eval_idx


def calibrate(logits, labels, frac: float = 0.2, seed: int = 0, split=None, tol: float = 1e-6) -> dict:
    """Sec 3.1 protocol: fit beta on a random `frac` of the examples, report on the rest.

    Pass ``split=(fit_idx, eval_idx)`` (e.g. from split_indices) so every model on an interpolation
    path uses the same split. Returns a dict with: beta (multiplies the logits), inv_beta = 1/beta
    (the factor the logits are divided by, Fig 19), loss (uncalibrated CE on the eval split),
    cal_loss (CE of softmax(beta z) on the eval split) and acc (accuracy on the eval split).
    """
    z, y = _check(logits, labels)
    if split is None:
        split = split_indices(len(y), frac, seed)
    fit_idx, eval_idx = _check_split(split, len(y))
    beta = fit_inverse_temperature(z[fit_idx], y[fit_idx], tol=tol)
    ze, ye = z[eval_idx], y[eval_idx]
    return {"beta": beta, "inv_beta": 1.0 / beta, "loss": _ce(ze, ye, 1.0),
            "cal_loss": _ce(ze, ye, beta), "acc": float(np.mean(np.argmax(ze, axis=1) == ye))}
