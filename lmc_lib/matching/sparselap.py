"""Certified sparse exact assignment for the repeated solves of Sec 2.3 weight matching.

Weight matching maximises sum_i S[i, p(i)] for each permutation group many times. A trained
layer's similarity is congested (a few dominant units, low effective rank), so dense exact
solvers scan most columns for each of many rows. This module solves on a candidate set and
proves the answer on the whole matrix:

1. candidates: each row's K_ROW columns of least reduced cost c[i, j] - v[j] (c = -S, v the
   column duals the group's last solve left; for a first solve the prices of a coarse
   eps-scaling auction), each column's K_COL rows of least reduced cost, and the previous (or
   the auction's) assignment, so that a perfect matching exists;
2. the sparse problem is solved exactly by shortest augmenting paths (Dijkstra on reduced costs,
   lmc_lib.matching.sparsekernels), warm-started from v and the previous assignment;
3. certificate: with u_i = min_j (c[i, j] - v[j]) over the DENSE matrix, the assignment is
   optimal iff every row's column attains its row's minimum (zero duality gap, LP duality). Rows
   that miss it by more than rounding add their K_ROW best columns by reduced cost, whose duals
   drop so that those rows stay matched (their columns' owners are re-augmented); repeat.

The result is accepted on the same LP bound as lmc_lib.matching.warmlap (`certificate_gap` below
GAP_TOLERANCE x (1 + |cost|)). When the candidate set grows past MAX_FRACTION of n^2 entries or
MAX_ROUNDS rounds pass, `solve` returns None and the caller solves densely. Needs numba.
"""
from __future__ import annotations

import numpy as np

from lmc_lib.matching.matrix import AssignmentError

K_ROW = 32  # candidate columns per row (least reduced cost)
K_COL = 8  # candidate rows per column (least reduced cost)
MAX_FRACTION = 0.25  # a candidate set above this x n^2 entries: give up, solve densely
MAX_ROUNDS = 50  # certificate rounds before giving up
AUCTION_EPS = 1e-7  # a first solve's auction stops at eps = this x the span of S (the certificate
# finishes from its prices; 1e-9 before: measured in one run under load, a w = 4 matching's solves took 1.1x longer,
# a cold 8192-unit solve 1.1x, same permutations)
AUCTION_FACTOR = 8.0  # eps shrinks by this factor between the auction's phases
AUCTION_BIDS = 2000  # at most this x n bids (then the certificate rounds finish from its prices)
WARM_RESTART = 0.99  # a warm start whose duals leave more than this fraction of rows violated is
# dropped for an auction-priced start: nearly every row violated means both neighbouring permutations
# moved far and the old duals and candidates guide nothing (benchmarks/sparse_assignment.py table 4:
# 8186 of 8192 rows, warm 3.9 s, priced 2.2 s; along a w = 4 weight matching no warm solve had more
# than 98 %, and restarting those above 50 % made their solves 1.5x slower)
GAP_TOLERANCE = 1e-9  # accept when the optimality bound is below this x (1 + |cost|) (as warmlap)
ROUNDING = 1e-13  # a row is violated when it misses its minimum by more than this x max|S|


def available() -> bool:
    """Whether the compiled kernels (numba) can be used here."""
    try:
        from lmc_lib.matching import sparsekernels  # noqa: F401
    except ImportError:
        return False
    return True


def _csr(keys: np.ndarray, S: np.ndarray) -> tuple:
    """(indptr, indices, cost = -S) of the sorted unique entry keys i * n + j."""
    n = len(S)
    rows, cols = np.divmod(keys, n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols, -S[rows, cols]


def _merge(*parts) -> np.ndarray:
    """The sorted distinct entry keys of the given arrays."""
    keys = np.concatenate([np.asarray(a, dtype=np.int64).ravel() for a in parts])
    keys.sort()
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _first_keys(S, v, x, k, kc) -> np.ndarray:
    """Entry keys of the first candidate set: rows' and columns' best by reduced cost, plus x."""
    from lmc_lib.matching import sparsekernels
    n = len(S)
    _, rtop, ctop = sparsekernels.scan(S, v, min(k, n), min(kc, n))
    rows = np.arange(n, dtype=np.int64)
    cols = [ctop * n + rows[:, None]] if kc > 0 else []
    return _merge(rows[:, None] * n + rtop, rows * n + x, *cols)


def _transfer(S, v, x, bad, best) -> None:
    """Lower v on the columns `best` that the violated rows `bad` want, just enough that each of
    those rows stays tight on its column; the rows that own those columns lose tightness and are
    re-augmented instead (every v is a valid start: fewer rows to re-augment on congested S)."""
    u = -S[bad, x[bad]] - v[x[bad]]  # the rows' duals on their current columns
    rows, cols = np.repeat(bad, best.shape[1]), best.ravel()
    np.minimum.at(v, cols, -S[rows, cols] - np.repeat(u, best.shape[1]))


def certify(S, v, x, tol: float) -> tuple:
    """Dense check of x against the duals v: (gap bound, the rows that violate it).

    gap = sum_i max(0, c[i, x_i] - v[x_i] - u_i) with u_i = min_j (c[i, j] - v[j]), c = -S: an
    upper bound on how far sum_i S[i, x_i] is below the optimum (0: x is optimal); a row
    violates when it misses its minimum by more than `tol` (rounding: ROUNDING x max|S|).
    """
    from lmc_lib.matching import sparsekernels
    n = len(S)
    slack = np.maximum(-S[np.arange(n), x] - v[x] - sparsekernels.row_min(S, v), 0.0)
    return float(slack.sum()), np.nonzero(slack > tol)[0]


def priced_start(S, span: float) -> tuple:
    """(v, x, bids) for a first solve: an eps-scaling auction (eps from span / 4 down to
    AUCTION_EPS x span) maximising S; v = -its prices; x has -1 where the bid cap stopped it."""
    from lmc_lib.matching import sparsekernels
    n, span = len(S), span or 1.0
    p = np.zeros(n)
    x, bids = sparsekernels.auction(S, p, span / 4, AUCTION_EPS * span, AUCTION_FACTOR,
                                    int(AUCTION_BIDS * n))
    return -p, x, bids


def solve(S, v=None, x=None, keys=None, k: int | None = None, kc: int | None = None,
          max_fraction: float | None = None):
    """Maximise sum_i S[i, x_i] exactly from column duals v (of c = -S) and a previous x.

    Without v (a first solve) a coarse auction's prices and assignment start it (`priced_start`).
    `keys` (entries i * n + j) is a candidate set to start from, e.g. the last solve's (None: the
    rows' and columns' best by reduced cost). Returns (x, v, keys, stats): the certified optimum,
    its duals and candidate set (a warm start for the next solve), stats = {rounds, entries (set
    size), free (rows re-augmented), scans, bids (of the auction), restarted (1: the warm start
    left more than WARM_RESTART of the rows violated and was dropped for an auction-priced one)};
    or None when the set outgrew max_fraction x n^2.
    k, kc and max_fraction default to K_ROW, K_COL and MAX_FRACTION.
    """
    k, kc = K_ROW if k is None else k, K_COL if kc is None else kc
    max_fraction = MAX_FRACTION if max_fraction is None else max_fraction
    from lmc_lib.matching import sparsekernels
    S = np.ascontiguousarray(S, dtype=np.float64)
    n = len(S)
    top, low = float(S.max()), float(S.min())
    if not np.isfinite(top - low):
        raise AssignmentError("assignment matrix has NaN or infinite entries; remove them first")
    stats = dict(rounds=0, entries=0, free=0, scans=0, bids=0, restarted=0)
    tol = ROUNDING * max(top, -low)
    if v is not None and x is not None and not (np.asarray(x) < 0).any():  # a warm start: still a guide?
        v, x = np.asarray(v, dtype=np.float64), np.asarray(x, dtype=np.int64)
        if len(certify(S, v, x, tol)[1]) > WARM_RESTART * n:
            v = x = keys = None
            stats["restarted"] = 1
    if v is None:  # a first solve: a coarse auction's prices and assignment start it
        v, x, stats["bids"] = priced_start(S, top - low)
    v = np.array(v, dtype=np.float64)
    cold = x is None or bool((np.asarray(x) < 0).any())
    x = np.arange(n, dtype=np.int64) if cold else np.asarray(x, dtype=np.int64)
    keys = _first_keys(S, v, x, k, kc) if keys is None else _merge(keys, np.arange(n) * n + x)
    start = np.full(1, -1, dtype=np.int64) if cold else x
    while stats["rounds"] < MAX_ROUNDS:
        if stats["rounds"] and len(keys) > max_fraction * n * n:  # grown too far: solve densely
            return None
        stats["rounds"] += 1
        x, free, scans, ok = sparsekernels.sap(*_csr(keys, S), v, start, tol)
        if not ok:  # no perfect matching on the set: cannot happen while it holds x
            return None
        stats.update(entries=len(keys), free=stats["free"] + free, scans=stats["scans"] + scans)
        gap, bad = certify(S, v, x, tol)
        if not len(bad):
            bound = GAP_TOLERANCE * (1 + abs(float(S[np.arange(n), x].sum())))
            return (x, v, keys, stats) if gap <= bound else None
        best = sparsekernels.row_top(S, v, bad, min(k, n))
        _transfer(S, v, x, bad, best)
        keys, start = _merge(keys, bad[:, None] * n + best), x
    return None
