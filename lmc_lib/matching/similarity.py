"""Sec 2.3 weight matching's similarity matrices S_g[i, j] = <unit i of a, unit j of pi(b)>, kept up to date.

`permute` applies a permutation to the grouped axes of one tensor (as lmc_lib.matching.perm does to whole
models); `Similarity` holds every group's S_g for weight matching and, when a neighbouring
group's permutation moves some units, updates S_g by a low-rank product instead of rebuilding it.

S_g is a sum of terms A P B^T (A, B: a tensor of model a and of model b flattened with the group's
axis first; P: the permutation of the flattened other axes). When P changes on a set C of k
columns, P' = P on C composed with a permutation sigma of C, and

    A P' B^T - A P B^T = sum over d in C of (a_{sigma^-1(d)} - a_d) beta_d^T,   beta_d = b_{P(d)}.

Within each cycle of sigma the left factors sum to zero, so one of them is eliminated: the update
has rank k - (number of cycles of sigma) (one rank-1 product per swap of two units instead of
two). A full product replaces it when the update's rank is close to the product's width
(REBUILD_FRACTION).
"""
from __future__ import annotations

import time

import torch

REBUILD_FRACTION = 0.9  # rebuild S_g when an update's rank reaches this x its terms' total width


def permute(t: torch.Tensor, groups: tuple, perm: dict, skip_axis: int | None = None) -> torch.Tensor:
    """Index every grouped axis of `t` (except `skip_axis`) by its group's permutation."""
    for ax, g in enumerate(groups):
        if g is not None and ax != skip_axis:
            t = t.index_select(ax, perm[g].to(t.device))
    return t


def _flat(t: torch.Tensor, ax: int, n: int) -> torch.Tensor:
    """`t` with axis `ax` first, the other axes flattened: [n, m]."""
    return t.movedim(ax, 0).reshape(n, -1)


def _moved_columns(spec, name, ax, shape, moved: dict) -> torch.Tensor:
    """Flat column indices of _flat(b[name], ax) whose entries move when the groups in `moved` change."""
    rest = [a for a in range(len(shape)) if a != ax]
    mask = torch.zeros([shape[a] for a in rest], dtype=torch.bool, device=next(iter(moved.values())).device)
    for pos, a in enumerate(rest):
        if spec.axes[name][a] in moved:
            mask |= moved[spec.axes[name][a]].view([-1 if i == pos else 1 for i in range(len(rest))])
    return mask.reshape(-1).nonzero().squeeze(1)


def _source_columns(spec, name, ax, shape, cols, perm) -> torch.Tensor:
    """For flat columns `cols` of _flat(pi(b[name]), ax): their flat index in _flat(b[name], ax)."""
    rest, src = [a for a in range(len(shape)) if a != ax], torch.zeros_like(cols)
    for a, i in zip(rest, torch.unravel_index(cols, [shape[a] for a in rest])):
        g = spec.axes[name][a]
        src = src * shape[a] + (i if g is None else perm[g][i])
    return src


def cycle_factors(sigma: torch.Tensor) -> tuple:
    """(d, r): for a permutation sigma of 0..k-1, every position d that is not the least of its
    cycle, and that least r (so len(d) = k - number of cycles); by pointer doubling."""
    k = len(sigma)
    rep, step = torch.arange(k, device=sigma.device), sigma.clone()
    span = 1
    while span < k:
        rep = torch.minimum(rep, rep[step])
        step, span = step[step], 2 * span
    d = (rep != torch.arange(k, device=sigma.device)).nonzero().squeeze(1)
    return d, rep[d]


class Similarity:
    """Sec 2.3 WM step: S_g[i, j] = <unit i of a, unit j of pi(b)>, kept up to date by low-rank products.

    `get` rebuilds S_g the first time and afterwards adds, per term, the change of the columns
    whose other-axis permutation moved since S_g was last seen (the cycle-reduced update of the
    module docstring), or rebuilds when that update would be nearly as wide as the product.
    `get` says whether S_g changed at all; `stats` counts builds, rebuilds, updates, the summed
    update rank and moved columns, `columns` (the inner dimension of every product done: the
    upkeep is 2 n^2 x columns flops) and the seconds spent. Memory: the matrices S_g plus a
    transposed copy of every matched tensor (about 3x the models' float64 size).
    """

    def __init__(self, spec, sa, sb):
        self.spec, self.sa, self.sb, self.sim, self.seen, self.solves = spec, sa, sb, {}, {}, 0
        self.columns = {}  # (name, ax) -> (a_flat^T, b_flat^T) contiguous: row gathers are fast
        self.terms = {g: spec.touching(g, sa) for g in spec.groups}
        self.deps = {g: sorted({h for n, ax in self.terms[g] for a, h in enumerate(spec.axes[n])
                                if h is not None and a != ax}) for g in spec.groups}
        self.stats = dict(builds=0, rebuilds=0, updates=0, rank=0, moved=0, columns=0, seconds=0.0)

    def _rebuild(self, group, perm) -> None:
        """S_g from scratch (float64, on the models' device)."""
        n = self.spec.groups[group]
        sim = torch.zeros(n, n, dtype=torch.float64, device=next(iter(self.sa.values())).device)
        self.stats["columns"] += sum(self.sb[k].numel() // n for k, _ in self.terms[group])
        for name, ax in self.terms[group]:
            wb = permute(self.sb[name], self.spec.axes[name], perm, skip_axis=ax)
            sim.addmm_(_flat(self.sa[name], ax, n), _flat(wb, ax, n).T)
        self.sim[group] = sim

    def get(self, group, perm) -> tuple:
        """(S_g under `perm`, whether S_g changed since the last call for `group`)."""
        seen, start = self.seen.get(group), time.perf_counter()
        if seen is None:
            self._rebuild(group, perm)
            self.stats["builds"] += 1
        else:
            moved = {h: m for h in self.deps[group] if bool((m := seen[h] != perm[h]).any())}
            if not moved:
                return self.sim[group], False
            self._update(group, perm, seen, moved)
        self.seen[group] = {h: perm[h].clone() for h in self.deps[group]}
        self.solves += 1
        self.stats["seconds"] += time.perf_counter() - start
        return self.sim[group], True

    def _cycles(self, name, ax, perm, old, cols) -> tuple:
        """(kept, partner, src_old) for the moved flat columns `cols` of the term (name, ax): with
        P'(c) = P(sigma(c)) on `cols`, kept = the positions d that are not their cycle's least
        (len: the update's rank), partner = sigma^-1(d) and that least, src_old = P(cols)."""
        shape = self.sb[name].shape
        src_new = _source_columns(self.spec, name, ax, shape, cols, perm)
        src_old = _source_columns(self.spec, name, ax, shape, cols, old)
        order = torch.argsort(src_old)
        sigma = order[torch.searchsorted(src_old[order], src_new)]
        inverse = torch.empty_like(sigma)
        inverse[sigma] = torch.arange(len(sigma), device=sigma.device)
        d, least = cycle_factors(sigma)
        return d, (inverse[d], least), src_old

    def _add_update(self, group, name, ax, cols, cycles) -> None:
        """S_g += left^T @ right, the cycle-reduced change of the term (name, ax) (module docstring)."""
        n = self.spec.groups[group]
        if (name, ax) not in self.columns:
            self.columns[name, ax] = tuple(_flat(t[name], ax, n).T.contiguous() for t in (self.sa, self.sb))
        at, bt = self.columns[name, ax]
        d, (before, least), src_old = cycles
        left = at.index_select(0, cols[before]) - at.index_select(0, cols[d])
        right = bt.index_select(0, src_old[d]) - bt.index_select(0, src_old[least])
        self.sim[group].addmm_(left.T, right)

    def _update(self, group, perm, seen, moved) -> None:
        """S_g += the cycle-reduced change of the moved columns, or a rebuild when it is nearly as wide."""
        old, work = dict(perm, **seen), []
        for name, ax in self.terms[group]:
            cols = _moved_columns(self.spec, name, ax, self.sb[name].shape, moved)
            if cols.numel():
                work.append((name, ax, cols, self._cycles(name, ax, perm, old, cols)))
        width = sum(self.sb[k].numel() // self.spec.groups[group] for k, _ in self.terms[group])
        rank = sum(len(c[0]) for *_, c in work)
        self.stats["moved"] += sum(len(cols) for _, _, cols, _ in work)
        if rank >= REBUILD_FRACTION * width:
            self.stats["rebuilds"] += 1
            return self._rebuild(group, perm)
        self.stats["updates"] += 1
        self.stats["rank"] += rank
        self.stats["columns"] += rank
        for name, ax, cols, cycles in work:
            if len(cycles[0]):
                self._add_update(group, name, ax, cols, cycles)
