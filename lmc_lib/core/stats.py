"""Mean and spread over pairs: the book's one summary of repeated runs (the paper: 3 pairs per point)."""
from __future__ import annotations

import numpy as np

from lmc_lib.core.utils import LmcError


def mean_std(values):
    """Mean and sample std (ddof = 1; 0 for one pair) over the first axis: floats for a list of numbers,
    arrays for a [pairs, ...] array."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise LmcError("mean_std needs at least one value (one pair)")
    mean = arr.mean(axis=0)
    std = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros_like(mean)
    return (float(mean), float(std)) if arr.ndim == 1 else (mean, std)


def pm(values, scale: float = 1.0) -> str:
    """"mean ± std" of a list of numbers (times `scale`), digits by the book's rule (numfmt);
    one number: itself, said to be one pair."""
    from lmc_lib.core import numfmt

    arr = np.asarray(values, dtype=float).ravel() * scale
    if arr.size == 1:
        return f"{numfmt.num(arr[0])} (one pair)"
    return numfmt.mean_pm(*mean_std(arr))
