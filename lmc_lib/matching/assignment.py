"""Linear assignment, the inner step of Sec 2.3 weight matching, over pluggable solvers.

`solve(sim)` returns the permutation p maximising sum_i sim[i, p[i]] (minimising with maximize=False).
scipy.optimize.linear_sum_assignment is the reference. "lapjvr" and "lapjvh" are the Jonker-Volgenant
solvers of the `lapx` package (Rust and C++ cores); on weight-matching similarity matrices they were
2-4x faster than scipy on one CPU thread (benchmarks/merge_speed.py). These work in float64 on the
CPU. "auction" (lmc_lib.matching.auction) is a forward auction in plain torch that runs on the matrix's own
device, also in float64; it is exact for separated optima (see its docstring); ask for it by name.

method="auto" resolves to $LMC_ASSIGNMENT when that names a concrete method, else to lapjvr when
lapx is installed and scipy otherwise -- never to the auction, by measurement on an H100
(benchmarks/assignment_speed.py, and weight matching of trained pairs in a paper-profile record):
the auction solves a planted, weight-matching-like matrix of n = 8192 in 0.03 s (one bidding
round), but an unstructured random one in 7.8 s (21,870 rounds of about 0.35 ms, launch-bound),
slower than lapjvr on one CPU thread (5.4 s); and the similarity matrices of trained pairs are of
the hard kind: capped at 2,000 rounds before handing over to lapjvr, it made weight matching of a
trained w = 1 MNIST pair 12.5 s instead of 0.6 s with lapjvr alone. Weight matching re-solves each
group many times; lmc_lib.matching.warmlap starts those solves from the last one and uses this module for
the first solve of each group only (and, with its certified sparse solves, lmc_lib.matching.sparselap,
only where one of those gives up).
"""
from __future__ import annotations

import os

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.matching.auction import auction
from lmc_lib.matching.matrix import AssignmentError, as_matrix, as_tensor

METHODS = ("auto", "scipy", "lapjvr", "lapjvh", "auction")
AUTO_ORDER = ("lapjvr", "scipy")  # fastest CPU solver first, by measurement
ENV_METHOD = "LMC_ASSIGNMENT"  # names the concrete method that "auto" resolves to


def _lapx():
    """The lapx module (`import lap`) when it has the Rust/C++ solvers, else None."""
    try:
        import lap
    except Exception:  # a wheel built against another numpy may fail with other errors than ImportError
        return None
    return lap if hasattr(lap, "lapjvr") and hasattr(lap, "lapjvh") else None


def available_methods() -> tuple:
    """The concrete solvers installed here, "scipy" and "auction" always among them."""
    return ("scipy", "lapjvr", "lapjvh", "auction") if _lapx() is not None else ("scipy", "auction")


def _env_method():
    """The concrete method named by $LMC_ASSIGNMENT, None when unset or empty; raise if invalid."""
    name = os.environ.get(ENV_METHOD, "")
    if name and name not in METHODS[1:]:
        raise AssignmentError(f"{ENV_METHOD}={name!r} is no assignment method; choose one of {METHODS[1:]}")
    return name or None


def resolve_method(method: str = "auto") -> str:
    """The concrete solver for `method` ("auto": $LMC_ASSIGNMENT, else the fastest installed CPU
    solver); raise if unknown or missing."""
    if method not in METHODS:
        raise AssignmentError(f"unknown assignment method {method!r}; choose one of {METHODS}")
    have = available_methods()
    if method == "auto":
        method = _env_method() or next(m for m in AUTO_ORDER if m in have)
    if method not in have:
        raise AssignmentError(f"assignment method {method!r} needs the package lapx "
                              "(pip install lapx), or use method='scipy' or 'auto'")
    return method


def _check_permutation(cols: np.ndarray, n: int, method: str) -> None:
    """Guard against a solver bug: cols must be a permutation of 0..n-1."""
    if cols.shape != (n,) or not np.array_equal(np.sort(cols), np.arange(n)):
        raise RuntimeError(f"solver {method!r} returned no permutation; use method='scipy'")


def solve(sim, maximize: bool = True, method: str = "auto") -> torch.Tensor:
    """Sec 2.3 WM step: LongTensor p (CPU) with sum_i sim[i, p[i]] maximal (minimal if not maximize)."""
    method = resolve_method(method)
    if method == "auction":
        return _solve_auction(sim, maximize)
    arr = as_matrix(sim, negate=maximize and method != "scipy")  # lapx solvers minimise
    n = arr.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long)
    if method == "scipy":
        rows, cols = linear_sum_assignment(arr, maximize=maximize)
    else:
        rows, cols = getattr(_lapx(), method)(arr, return_cost=False)
    perm = np.full(n, -1, dtype=np.int64)
    perm[np.asarray(rows)] = cols
    _check_permutation(perm, n, method)
    return torch.from_numpy(perm)


def _solve_auction(sim, maximize: bool) -> torch.Tensor:
    """The auction on sim's own device (numpy arrays: on the CPU); the permutation on the CPU."""
    return auction(as_tensor(sim), maximize=maximize).cpu()


def objective(sim, perm) -> float:
    """sum_i sim[i, perm[i]] in float64."""
    arr = as_matrix(sim)
    return float(arr[np.arange(arr.shape[0]), np.asarray(perm)].sum())
