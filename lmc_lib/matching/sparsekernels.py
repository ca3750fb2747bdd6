"""Compiled (numba) inner loops of lmc_lib.matching.sparselap: dense scans and sparse shortest paths.

All work on the minimisation of c[i, j] = -S[i, j] (S the similarity weight matching maximises)
with column duals v; the reduced cost of an edge is c[i, j] - v[j] - u[i], u[i] the row's dual.
`scan` reads the dense S once for the first candidate lists, `row_min` for the
certificate, `row_top` for the rows that failed it; `auction` prices a first solve; `sap` solves the
assignment restricted to a sparse candidate set (CSR: indptr, indices, cost) by Dijkstra with a
binary heap, warm-started from v and a previous assignment. Each is one sequential loop (no
threads), compiled once and cached on disk (numba's cache=True).
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _insert(vals, idx, val, j):
    """Put (val, j) into the ascending buffers vals/idx, dropping their last entry."""
    p = len(vals) - 1
    while p > 0 and vals[p - 1] > val:
        vals[p], idx[p] = vals[p - 1], idx[p - 1]
        p -= 1
    vals[p], idx[p] = val, j


@njit(cache=True)
def scan(S, v, k, kc):
    """One pass over S: row minima m of -S - v, each row's k columns of least -S - v, and (kc > 0)
    each column's kc rows of least -S[i, j] - m[i] (the best rows of a column by reduced cost)."""
    n = S.shape[0]
    m = np.empty(n)
    rtop = np.empty((n, k), dtype=np.int64)
    ctop = np.zeros((n, max(kc, 1)), dtype=np.int64)
    cval = np.full((n, max(kc, 1)), np.inf)
    rval = np.empty(k)
    for i in range(n):
        rval[:] = np.inf
        rtop[i, :] = 0
        row = S[i]
        for j in range(n):
            r = -row[j] - v[j]
            if r < rval[k - 1]:
                _insert(rval, rtop[i], r, j)
        m[i] = rval[0]
        if kc > 0:
            for j in range(n):
                r = -row[j] - m[i]
                if r < cval[j, kc - 1]:
                    _insert(cval[j], ctop[j], r, i)
    return m, rtop, ctop


@njit(cache=True, fastmath=True)
def row_min(S, v):
    """Row minima of -S - v (the row duals u of the certificate), one vectorised pass over S."""
    n = S.shape[0]
    m = np.empty(n)
    for i in range(n):
        row, best = S[i], -np.inf
        for j in range(n):
            best = max(best, row[j] + v[j])
        m[i] = -best
    return m


@njit(cache=True)
def row_top(S, v, rows, k):
    """For each row in `rows`: its k columns of least -S - v."""
    n = S.shape[0]
    top = np.zeros((len(rows), k), dtype=np.int64)
    val = np.empty(k)
    for t in range(len(rows)):
        val[:] = np.inf
        row = S[rows[t]]
        for j in range(n):
            r = -row[j] - v[j]
            if r < val[k - 1]:
                _insert(val, top[t], r, j)
    return top


@njit(cache=True)
def _push(hk, hv, size, key, val):
    """Push (key, val) onto the binary min-heap (hk, hv) holding `size` items; the new size."""
    p = size
    while p > 0:
        q = (p - 1) // 2
        if hk[q] <= key:
            break
        hk[p], hv[p] = hk[q], hv[q]
        p = q
    hk[p], hv[p] = key, val
    return size + 1


@njit(cache=True)
def _pop(hk, hv, size):
    """Remove the heap's least item (size > 0); returns (key, val, new size)."""
    key, val = hk[0], hv[0]
    size -= 1
    lk, lv, p = hk[size], hv[size], 0
    while True:
        c = 2 * p + 1
        if c >= size:
            break
        if c + 1 < size and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] >= lk:
            break
        hk[p], hv[p] = hk[c], hv[c]
        p = c
    hk[p], hv[p] = lk, lv
    return key, val, size


@njit(cache=True)
def _start(indptr, indices, cost, v, x, tol, row_of, col_of, mc):
    """Keep each row's previous column when it still attains the row's reduced-cost minimum (cold,
    x[0] < 0: each row takes its cheapest column unless taken); the number of free rows."""
    n = len(indptr) - 1
    free = 0
    for i in range(n):
        best, bj, bc, xc = np.inf, -1, 0.0, np.inf
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            r = cost[p] - v[j]
            if r < best:
                best, bj, bc = r, j, cost[p]
            if x[0] >= 0 and j == x[i]:
                xc = cost[p]
        if x[0] >= 0:
            bj, bc = x[i], xc
            ok = xc - v[bj] <= best + tol
        else:
            ok = row_of[bj] < 0
        if ok:
            row_of[bj], col_of[i], mc[i] = i, bj, bc
        else:
            free += 1
    return free


@njit(cache=True)
def _path(f, indptr, indices, cost, v, row_of, col_of, mc, dist, pred, pcost, done, hk, hv, seen):
    """Dijkstra from free row f on sparse reduced costs: (free column reached or -1, its distance,
    columns scanned, columns touched: listed in seen[:touched], scanned ones marked in done)."""
    size, touched, scanned, uf = 0, 0, 0, np.inf
    for p in range(indptr[f], indptr[f + 1]):
        uf = min(uf, cost[p] - v[indices[p]])
    for p in range(indptr[f], indptr[f + 1]):
        j = indices[p]
        d = cost[p] - v[j] - uf
        if d < dist[j]:
            if dist[j] == np.inf:
                seen[touched] = j
                touched += 1
            dist[j], pred[j], pcost[j] = d, f, cost[p]
            size = _push(hk, hv, size, d, j)
    while size > 0:
        d, j, size = _pop(hk, hv, size)
        if done[j] or d > dist[j]:
            continue
        if row_of[j] < 0:
            return j, d, scanned, touched
        done[j] = True
        scanned += 1
        i = row_of[j]
        base = d - (mc[i] - v[j])
        for p in range(indptr[i], indptr[i + 1]):
            jj = indices[p]
            if done[jj]:
                continue
            nd = base + cost[p] - v[jj]
            if nd < dist[jj]:
                if dist[jj] == np.inf:
                    seen[touched] = jj
                    touched += 1
                dist[jj], pred[jj], pcost[jj] = nd, i, cost[p]
                size = _push(hk, hv, size, nd, jj)
    return -1, 0.0, scanned, touched


@njit(cache=True)
def sap(indptr, indices, cost, v, x, tol):
    """Minimise the sparse assignment by shortest augmenting paths from duals v (changed in place)
    and previous assignment x (x[0] < 0: cold); (col_of, free rows, scanned columns, ok)."""
    n = len(indptr) - 1
    row_of, col_of = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    mc = np.zeros(n)
    free = _start(indptr, indices, cost, v, x, tol, row_of, col_of, mc)
    dist, pred, pcost = np.full(n, np.inf), np.zeros(n, np.int64), np.zeros(n)
    done = np.zeros(n, dtype=np.bool_)
    hk, hv = np.empty(len(indices) + 1), np.empty(len(indices) + 1, np.int64)
    seen = np.empty(n, np.int64)
    scans = 0
    for f in range(n):
        if col_of[f] >= 0:
            continue
        j, delta, _, touched = _path(f, indptr, indices, cost, v, row_of, col_of, mc,
                                     dist, pred, pcost, done, hk, hv, seen)
        if j < 0:
            return col_of, free, scans, False
        for t in range(touched):  # dual update on the scanned columns, then reset
            c = seen[t]
            if done[c]:
                v[c] -= delta - dist[c]
                scans += 1
            dist[c], done[c] = np.inf, False
        while True:  # augment along the predecessors
            i = pred[j]
            nxt = col_of[i]
            row_of[j], col_of[i], mc[i] = i, j, pcost[j]
            j = nxt
            if i == f:
                break
    return col_of, free, scans, True


@njit(cache=True)
def _bid(row, p):
    """A bidder's best column by S - p and the margin over its second best (inf when n = 1)."""
    b1, b2, j1 = -np.inf, -np.inf, 0
    for j in range(len(row)):
        val = row[j] - p[j]
        if val > b2:
            if val > b1:
                b2, b1, j1 = b1, val, j
            else:
                b2 = val
    return j1, b1 - b2


@njit(cache=True)
def auction(S, p, eps, eps_end, factor, max_bids):
    """Forward auction maximising S with prices p (raised in place), eps-scaling from eps down to
    eps_end by `factor`; (column of each row, bids). Stops early (a row without a column, -1)
    once max_bids bids were made."""
    n = S.shape[0]
    owner, col, todo = np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.empty(n, np.int64)
    bids = 0
    while True:
        owner[:], col[:] = -1, -1
        for t in range(n):
            todo[t] = n - 1 - t
        top = n
        while top > 0:
            if bids >= max_bids:
                return col, bids
            top -= 1
            i = todo[top]
            j, margin = _bid(S[i], p)
            p[j] += (margin if margin < np.inf else 0.0) + eps  # n = 1: no second column
            if owner[j] >= 0:
                col[owner[j]] = -1
                todo[top] = owner[j]
                top += 1
            owner[j], col[i] = i, j
            bids += 1
        if eps <= eps_end:
            return col, bids
        eps = max(eps / factor, eps_end)

