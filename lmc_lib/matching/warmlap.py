"""Warm-started exact linear assignment for the repeated solves of Sec 2.3 weight matching.

Weight matching re-solves the assignment of each permutation group once per coordinate-descent
sweep, and after the first sweep a group's similarity matrix changes only a little between its
solves. Exact solvers start from nothing each time. This module keeps, per group, the last optimal
assignment x and column duals v (an LP certificate: c[i, j] - v[j] >= c[i, x_i] - v[x_i] for all
i, j) and starts the next solve from them:

1. u_i = min_j (c[i, j] - v[j]) makes (u, v) dual feasible for the NEW matrix;
2. a row keeps its old column when that column still attains the minimum (its edge is tight, up
   to rounding);
3. every other row is put back, first by Jonker-Volgenant's augmenting row reduction, then by
   shortest augmenting paths (Dijkstra on reduced costs); both keep (u, v) feasible and the
   matched edges tight.

At the end every row is matched on a tight edge of a feasible dual: the assignment is optimal (LP
duality), in exact arithmetic. In floating point the result is checked: `certificate_gap` bounds
how far it can be from the optimum, and a solve whose bound exceeds GAP_TOLERANCE is redone by the
cold solver. The first solve of a group is cold: the compiled solver of lmc_lib.matching.assignment, then
its duals by Bellman-Ford on the column graph (`column_duals`). On trained weight-matching pairs a
warm start leaves a few hundred rows to re-augment along short paths (benchmarks/warm_assignment.py).
The augmenting loop is numpy on the CPU: one scanned column is a few vector operations of length n.
"""
from __future__ import annotations

import numpy as np
import torch

from lmc_lib.matching import assignment, sparselap
from lmc_lib.matching.auction import priced

WARM_MIN_N = 512  # smaller matrices are solved cold every time: there the compiled cold solver wins
COLD_AUCTION_EPS = 1.0  # method "auction": the cold auction stops at eps = this x span / n
GAP_TOLERANCE = 1e-9  # accept a warm solve when its optimality bound is below this x (1 + |cost|)
DUAL_CHUNK = 1 << 22  # entries per block in column_duals (bounds its temporary memory)
KEEP_CANDIDATES = 2  # a sparse solve's candidate set is reused while below this x n (K_ROW + K_COL)
ROUNDING = 1e-13  # column_duals: a pass that lowers no dual by more than this x max|c| ends it


def certificate_gap(cost: np.ndarray, x: np.ndarray, v: np.ndarray) -> float:
    """Upper bound on sum_i cost[i, x_i] - optimum, from the duals v (0 for an exact certificate)."""
    rows = np.arange(len(x))
    u = cost[rows, x] - v[x]  # tight on the matching by construction
    slack = (cost - v).min(axis=1) - u  # >= 0 where (u, v) is feasible
    return float(-slack[slack < 0].sum())


def _start(cost: np.ndarray, v: np.ndarray, x: np.ndarray | None):
    """(row_of, col_of): the rows of `x` (or of the row minima when None) that stay matched, their
    edges tight for `v` with row duals u_i = min_j (cost[i, j] - v[j])."""
    n = len(cost)
    reduced = cost - v
    u = reduced.min(axis=1)
    row_of = np.full(n, -1)  # column -> row
    col_of = np.full(n, -1)  # row -> column
    if x is None:  # cold: each row takes its cheapest column unless an earlier row took it
        for i, j in enumerate(reduced.argmin(axis=1)):
            if row_of[j] < 0:
                row_of[j], col_of[i] = i, j
    else:
        tol = ROUNDING * float(np.abs(cost).max())  # duals carry rounding: near-tight counts
        keep = np.nonzero(reduced[np.arange(n), x] <= u + tol)[0]
        col_of[keep], row_of[x[keep]] = x[keep], keep
    return row_of, col_of


def _reduce_rows(cost, v, row_of, col_of, free_rows, max_steps: int) -> np.ndarray:
    """Jonker-Volgenant augmenting row reduction: the rows still free afterwards.

    A free row takes its cheapest column j1, whose dual drops until the row is indifferent between
    j1 and its second choice (all edges stay feasible, its own becomes tight); j1's previous owner
    becomes free and is reduced in turn. After `max_steps` displacements the rest are left to
    the shortest augmenting paths.
    """
    todo, left, steps = list(free_rows[::-1]), [], 0
    while todo:
        i = todo.pop()
        reduced = cost[i] - v
        j1 = int(reduced.argmin())
        u1, reduced[j1] = reduced[j1], np.inf
        j2 = int(reduced.argmin())
        owner = row_of[j1]
        if u1 < reduced[j2]:
            v[j1] -= reduced[j2] - u1
        elif owner >= 0:  # a tie: prefer the second choice (it may be free)
            j1, owner = j2, row_of[j2]
        row_of[j1], col_of[i] = i, j1
        if owner >= 0:
            col_of[owner] = -1
            steps += 1
            (todo if steps < max_steps else left).append(owner)
    return np.asarray(left, dtype=np.int64)


def _shortest_path(cost, v, row_of, f: int, pred: np.ndarray) -> tuple:
    """Dijkstra from free row f on reduced costs: (free column reached, scanned columns, their
    distances, the final distance); pred[j] is the row before column j on the path."""
    n = len(cost)
    dist, trial, better = np.empty(n), np.empty(n), np.empty(n, dtype=bool)
    blocked = v.copy()  # -inf on scanned columns: their trial distance becomes +inf
    np.subtract(cost[f], v, out=dist)
    dist -= dist.min()  # = reduced costs of row f, minimum 0 (u_f is that minimum)
    pred.fill(f)
    scanned, at = [], []
    while True:
        j = int(dist.argmin())
        delta = dist[j]
        if row_of[j] < 0:
            return j, scanned, at, delta
        scanned.append(j)
        at.append(delta)
        dist[j], blocked[j] = np.inf, -np.inf
        i = row_of[j]
        np.subtract(cost[i], blocked, out=trial)
        trial += delta - (cost[i, j] - v[j])  # + reduced costs of row i (tight on its column j)
        np.less(trial, dist, out=better)
        np.copyto(dist, trial, where=better)
        np.copyto(pred, i, where=better)


def sap(cost: np.ndarray, v: np.ndarray | None = None, x: np.ndarray | None = None) -> tuple:
    """Minimise sum_i cost[i, x_i] by shortest augmenting paths, warm-started from duals v and x.

    Returns (x, v, stats) with stats = {free: rows not kept, augmented: rows left after the row
    reduction, scans: columns scanned}. Without v the column minima are used (a cold start: far
    slower in numpy than lmc_lib.matching.assignment).
    """
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    n = len(cost)
    v = cost.min(axis=0) if v is None else np.array(v, dtype=np.float64)
    row_of, col_of = _start(cost, v, x)
    free_rows = np.nonzero(col_of < 0)[0]
    left = _reduce_rows(cost, v, row_of, col_of, free_rows, n)
    pred, scans = np.empty(n, dtype=np.int64), 0
    for f in left:
        j, scanned, at, delta = _shortest_path(cost, v, row_of, f, pred)
        scans += len(scanned)
        if scanned:  # dual update: v_k -= delta - dist_k on the scanned columns
            v[np.asarray(scanned)] -= delta - np.asarray(at)
        while True:  # augment along the predecessor path ending in the free column j
            i = pred[j]
            row_of[j], col_of[i], j = i, j, col_of[i]
            if i == f:
                break
    return col_of, v, dict(free=len(free_rows), augmented=len(left), scans=scans)


def column_duals(cost: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Column duals v certifying an optimal assignment x, by Bellman-Ford on the column graph.

    Optimality of x means c[i, j] - v[j] >= c[i, x_i] - v[x_i] has a solution: the shortest-path
    distances with an edge x_i -> j of length c[i, j] - c[i, x_i] (no negative cycle when x is
    optimal). A pass relaxes the edges out of the columns whose distance dropped in the pass
    before (a dense min over those rows, in torch blocks on the CPU threads); passes stop when no
    distance drops by more than rounding (a cycle of rounding size cannot loop), and after n + 1
    passes (a real negative cycle: x is not optimal) it raises AssignmentError.
    """
    c = torch.from_numpy(np.ascontiguousarray(cost, dtype=np.float64))
    xt = torch.from_numpy(np.asarray(x, dtype=np.int64))
    n = len(xt)
    if n == 0:
        return np.zeros(0)
    row_of = torch.empty_like(xt)
    row_of[xt] = torch.arange(n)
    offset = c[torch.arange(n), xt]
    tol = ROUNDING * float(c.abs().max())
    v, rows = torch.zeros(n, dtype=torch.float64), torch.arange(n)
    step = max(1, DUAL_CHUNK // n)
    for _ in range(n + 1):
        new = v.clone()
        for lo in range(0, len(rows), step):
            r = rows[lo:lo + step]
            torch.minimum(new, (c[r] + (v[xt[r]] - offset[r]).unsqueeze(1)).amin(dim=0), out=new)
        dropped = (v - new) > tol
        v = new
        if not bool(dropped.any()):
            return v.numpy()
        rows = row_of[dropped]  # the rows leaving the columns whose distance dropped
    raise assignment.AssignmentError("column_duals: the assignment is not optimal (a negative cycle)")


class WarmStart:
    """Per-key warm state for repeated maximisations: `solve(key, sim)` -> LongTensor permutation.

    With `sparse` (default: when numba is installed) every solve is a certified sparse one
    (lmc_lib.matching.sparselap): a key's first from a compiled eps-scaling auction's prices
    ("priced"), later ones from the key's last assignment, duals and candidate set ("warm");
    one that gives up (its candidate set grew past sparselap.MAX_FRACTION) counts as "dense" and
    goes the dense way below (benchmarks/sparse_assignment.py measures both ways).
    Dense: the first solve of a key is cold, the compiled `method` (lmc_lib.matching.assignment)
    plus `column_duals`, or with method "auction" a coarse torch auction (eps = span / n) whose
    prices and assignment start `sap`'s exact finish ("priced"); later solves start from the
    key's last assignment and duals ("warm"). A start whose result fails the certificate is
    redone by the exact cold solver ("redone"). Matrices below WARM_MIN_N rows are always solved
    cold (benchmarks/warm_assignment.py: warm starts were slower at n <= 256, faster from n = 512
    on). `stats` counts those solves, the rows re-augmented and the columns scanned, and the warm
    sparse solves that dropped their start for an auction-priced one (`restarted`).
    """

    def __init__(self, method: str = "auto", sparse: bool | None = None):
        self.method = assignment.resolve_method(method)
        self.exact = self.method if self.method != "auction" else "scipy"  # the cold fallback
        self.sparse = sparselap.available() if sparse is None else bool(sparse)
        self.state = {}
        self.stats = dict(cold=0, priced=0, warm=0, redone=0, free=0, scans=0, sparse=0, dense=0,
                          rounds=0, restarted=0)

    def solve(self, key, sim) -> torch.Tensor:
        """The permutation p maximising sum_i sim[i, p[i]] (exact; warm from this key's last solve)."""
        if len(sim) < WARM_MIN_N:
            self.stats["cold"] += 1
            return assignment.solve(sim, maximize=True, method=self.method)
        start, kind = self.state.get(key), "warm"
        if start is None and self.method == "auction":
            start, kind = auction_start(sim), "priced"
        if self.sparse and kind == "warm":  # a first solve (no start) is auction-priced there
            x = self._sparse(key, sim, start or ())
            if x is not None:
                return x
        cost = assignment.as_matrix(sim, negate=True)
        if start is not None:
            x, v, info = sap(cost, *start[:2])
            if certificate_gap(cost, x, v) <= GAP_TOLERANCE * (1 + abs(cost[np.arange(len(x)), x].sum())):
                for k, add in ((kind, 1), ("free", info["free"]), ("scans", info["scans"])):
                    self.stats[k] += add
                self.state[key] = (v, x)
                return torch.from_numpy(x)
            self.stats["redone"] += 1
        x = assignment.solve(torch.from_numpy(cost), maximize=False, method=self.exact).numpy()
        self.stats["cold"] += 1
        self.state[key] = (column_duals(cost, x), x)
        return torch.from_numpy(x)

    def _sparse(self, key, sim, start):
        """The certified sparse solve (lmc_lib.matching.sparselap) from `start`, or auction-priced
        when it is empty; None if it gave up."""
        sim = assignment.as_tensor(sim).to(device="cpu", dtype=torch.float64)  # sparselap checks it
        found = sparselap.solve(sim.contiguous().numpy(), *start)
        if found is None:
            self.stats["dense"] += 1  # the candidate set grew too far: the dense warm solve follows
            return None
        x, v, keys, info = found
        if len(keys) > KEEP_CANDIDATES * len(x) * (sparselap.K_ROW + sparselap.K_COL):
            keys = None  # grown over the solves: the next solve picks a fresh set
        for k, add in (("warm" if start else "priced", 1), ("sparse", 1), ("free", info["free"]),
                       ("scans", info["scans"]), ("rounds", info["rounds"]), ("restarted", info["restarted"])):
            self.stats[k] += add
        self.state[key] = (v, x, keys)
        return torch.from_numpy(x)


def auction_start(sim) -> tuple:
    """(v, x) for `sap` on cost = -sim from a coarse auction maximising sim on its own device (a
    GPU when the similarity lives there): x its assignment, v = -its prices."""
    x, price = priced(assignment.as_tensor(sim), maximize=True, relative_eps=COLD_AUCTION_EPS)
    return -price.cpu().numpy(), x.cpu().numpy()
