"""Sec 2.3 weight matching's similarity matrices S_g[i, j] = <unit i of a, unit j of pi(b)>, kept up to date.

`permute` applies a permutation to the grouped axes of one tensor (as lmc_lib.matching.perm does to whole
models); `Similarity` holds every group's S_g for weight matching and, when a neighbouring
group's permutation moves a few units, updates S_g by the columns that moved instead of rebuilding.
"""
from __future__ import annotations

import torch


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


class Similarity:
    """Sec 2.3 WM step: S_g[i, j] = <unit i of a, unit j of pi(b)>, kept up to date column by column.

    S_g is a sum of terms a_flat @ b_flat^T; only the columns of b_flat whose other-axis permutation
    moved since S_g was last built change, so S_g += a[:, C] @ (b_new[:, C] - b_old[:, C])^T
    (a full rebuild when that is not cheaper). `get` says whether S_g changed at all. Memory: the
    matrices S_g plus a transposed copy of every matched tensor (about 3x the models' float64 size).
    """

    def __init__(self, spec, sa, sb):
        self.spec, self.sa, self.sb, self.sim, self.seen, self.solves = spec, sa, sb, {}, {}, 0
        self.columns = {}  # (name, ax) -> (a_flat^T, b_flat^T) contiguous: row gathers are fast
        self.terms = {g: spec.touching(g, sa) for g in spec.groups}
        self.deps = {g: sorted({h for n, ax in self.terms[g] for a, h in enumerate(spec.axes[n])
                                if h is not None and a != ax}) for g in spec.groups}

    def _rebuild(self, group, perm) -> None:
        """S_g from scratch (float64, on the models' device)."""
        n = self.spec.groups[group]
        sim = torch.zeros(n, n, dtype=torch.float64, device=next(iter(self.sa.values())).device)
        for name, ax in self.terms[group]:
            wb = permute(self.sb[name], self.spec.axes[name], perm, skip_axis=ax)
            sim += _flat(self.sa[name], ax, n) @ _flat(wb, ax, n).T
        self.sim[group] = sim

    def get(self, group, perm) -> tuple:
        """(S_g under `perm`, whether S_g changed since the last call for `group`)."""
        seen = self.seen.get(group)
        if seen is None:
            self._rebuild(group, perm)
        else:
            moved = {h: m for h in self.deps[group] if bool((m := seen[h] != perm[h]).any())}
            if not moved:
                return self.sim[group], False
            self._update(group, perm, seen, moved)
        self.seen[group] = {h: perm[h].clone() for h in self.deps[group]}
        self.solves += 1
        return self.sim[group], True

    def _update(self, group, perm, seen, moved) -> None:
        """S_g += the change of the moved columns, or a rebuild when most columns moved."""
        cols = [_moved_columns(self.spec, k, ax, self.sb[k].shape, moved) for k, ax in self.terms[group]]
        width = [self.sb[k].numel() // self.spec.groups[group] for k, _ in self.terms[group]]
        if 2 * sum(c.numel() for c in cols) >= sum(width):
            return self._rebuild(group, perm)
        old, n = dict(perm, **seen), self.spec.groups[group]
        for (name, ax), c in zip(self.terms[group], cols):
            if c.numel():
                if (name, ax) not in self.columns:
                    self.columns[name, ax] = tuple(_flat(t[name], ax, n).T.contiguous()
                                                   for t in (self.sa, self.sb))
                (at, bt), shape = self.columns[name, ax], self.sb[name].shape
                delta = (bt.index_select(0, _source_columns(self.spec, name, ax, shape, c, perm))
                         - bt.index_select(0, _source_columns(self.spec, name, ax, shape, c, old)))
                self.sim[group] += at.index_select(0, c).T @ delta
