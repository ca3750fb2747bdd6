"""Permutation symmetry (Sec 2.3): per-architecture PermSpec, random permutations, weight matching.

A `PermSpec` is a declarative table (in the spirit of Git Re-Basin's PermutationSpec): for every
floating state_dict entry (parameters AND BatchNorm running statistics) the permutation group of
each axis, or None for an axis that is never permuted (input pixels, logits, kernel taps).
A permutation `perm` maps group -> LongTensor p with `W'.index_select(axis, p)` on every axis of
that group, i.e. W' = P W P_prev^T with new unit i = old unit p[i]: the function is unchanged.

Weight matching (Git Re-Basin WM) minimises ||theta_a - pi(theta_b)||^2 over the PARAMETERS only,
as Git Re-Basin does: running statistics are permuted along by `apply_permutation` but do not
enter the cost (they are data statistics, not weights, and merged BN nets get a BN reset anyway).
Pass `include_buffers=True` to match on them too. Each coordinate-descent step updates the
group's similarity matrix (lmc_lib.matching.similarity) by the columns whose permutation moved (not a
rebuild), skips a group whose matrix did not change, and solves it exactly through
lmc_lib.matching.warmlap: by default certified sparse solves (lmc_lib.matching.sparselap; a
group's first priced by an auction, later ones warm-started from its last assignment and duals,
each proven optimal on the whole matrix), else lmc_lib.matching.assignment's solver for the first
solve and dense warm starts after it. Every way gives the same optimum.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lmc_lib.core.models import clone_architecture
from lmc_lib.core.utils import LmcError
from lmc_lib.matching import assignment, warmlap
from lmc_lib.matching.similarity import Similarity, permute


class MergeError(LmcError):
    """Models cannot be merged/permuted: different architectures, bad lam, weights or permutation."""


@dataclass(frozen=True)
class PermSpec:
    """Sec 2.3: state_dict name -> per-axis permutation group (or None), group sizes, parameter names."""

    axes: dict
    groups: dict
    param_names: frozenset = field(default_factory=frozenset)

    def touching(self, group: str, names=None) -> list:
        """(name, axis) pairs whose axis is permuted by `group` (restricted to `names` if given)."""
        names = self.axes if names is None else names
        return [(n, ax) for n in names for ax, g in enumerate(self.axes[n]) if g == group]


def check_same_architecture(model_a, model_b) -> None:
    """Raise MergeError naming both build_kwargs when the two models differ in architecture."""
    ka, kb = getattr(model_a, "build_kwargs", None), getattr(model_b, "build_kwargs", None)
    if ka is None or kb is None:
        raise MergeError("models must come from lmc_lib.core.models.build_model (no build_kwargs found)")
    if ka != kb:
        raise MergeError(f"models differ in architecture: model_a {ka} vs model_b {kb}; "
                         "merge only models built with the same arch, width, variant and data shape")


def _mlp_axes(model) -> dict:
    """MLP: one group per hidden layer; 'skip' shares one group along the residual stream."""
    n_fc, axes = len(model.fcs), {}
    group = (lambda i: "h") if model.variant == "skip" else (lambda i: f"h{i + 1}")
    for i in range(n_fc):
        out = group(i) if i < n_fc - 1 else None
        inp = group(i - 1) if i > 0 else None
        axes[f"fcs.{i}.weight"], axes[f"fcs.{i}.bias"] = (out, inp), (out,)
        if model.bns is not None and i < n_fc - 1:
            axes.update(_bn_axes(f"bns.{i}", out))
    return axes


def _bn_axes(prefix: str, group: str) -> dict:
    """BatchNorm weight, bias and running statistics all follow the channel group."""
    return {f"{prefix}.{k}": (group,) for k in ("weight", "bias", "running_mean", "running_var")}


def _conv_axes(out, inp) -> tuple:
    """Conv2d weight [out, in, kh, kw]."""
    return (out, inp, None, None)


def _vgg_axes(model) -> dict:
    """VGG-11: one group per conv's output channels (with its BN); classifier input = last group."""
    axes, prev = {}, None
    for i in range(len(model.convs)):
        axes[f"convs.{i}.weight"] = _conv_axes(f"c{i}", prev)
        axes.update(_bn_axes(f"bns.{i}", f"c{i}"))
        prev = f"c{i}"
    axes["fc.weight"], axes["fc.bias"] = (None, prev), (None,)
    return axes


def _resnet_axes(model) -> dict:
    """ResNet-20: one group per stage's residual stream (stem, conv2s, shortcuts); one per conv1."""
    axes = {"conv1.weight": _conv_axes("s0", None), **_bn_axes("bn1", "s0")}
    prev = "s0"
    for k, block in enumerate(model.blocks):
        stream, inner, p = f"s{k // 3}", f"b{k}", f"blocks.{k}"
        axes[f"{p}.conv1.weight"] = _conv_axes(inner, prev)
        axes.update(_bn_axes(f"{p}.bn1", inner))
        axes[f"{p}.conv2.weight"] = _conv_axes(stream, inner)
        axes.update(_bn_axes(f"{p}.bn2", stream))
        if len(block.shortcut) > 0:
            axes[f"{p}.shortcut.0.weight"] = _conv_axes(stream, prev)
            axes.update(_bn_axes(f"{p}.shortcut.1", stream))
        prev = stream
    axes["fc.weight"], axes["fc.bias"] = (None, prev), (None,)
    return axes


_BUILDERS = {"mlp": _mlp_axes, "vgg11": _vgg_axes, "resnet20": _resnet_axes}


def spec_for(model) -> PermSpec:
    """Sec 2.3: the PermSpec of an lmc_lib model, checked to cover every floating state_dict entry."""
    arch = getattr(model, "arch", None)
    if arch not in _BUILDERS:
        raise MergeError(f"no permutation spec for arch {arch!r}; known: {tuple(_BUILDERS)}")
    state = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    axes = {k: v for k, v in _BUILDERS[arch](model).items() if k in state}  # bias=False drops keys
    if set(axes) != set(state):
        raise MergeError(f"PermSpec for {arch} does not match the model: missing "
                         f"{sorted(set(state) - set(axes))}, extra {sorted(set(axes) - set(state))}")
    groups = {}
    for name, gs in axes.items():
        for ax, g in enumerate(gs):
            if g is not None and groups.setdefault(g, state[name].shape[ax]) != state[name].shape[ax]:
                raise MergeError(f"group {g} has inconsistent sizes ({groups[g]} vs {name} axis {ax})")
    params = frozenset(k for k, _ in model.named_parameters())
    return PermSpec(axes=axes, groups=groups, param_names=params)


def identity_permutation(spec: PermSpec) -> dict:
    """The identity permutation of every group."""
    return {g: torch.arange(n) for g, n in spec.groups.items()}


def random_permutation(spec: PermSpec, seed: int) -> dict:
    """Sec 2.3: a uniformly random permutation per group (groups drawn in sorted order, seeded)."""
    g = torch.Generator().manual_seed(int(seed))
    return {name: torch.randperm(spec.groups[name], generator=g) for name in sorted(spec.groups)}


def _check_perm(spec: PermSpec, perm: dict) -> None:
    """Raise MergeError unless `perm` holds a valid permutation of the right size for every group."""
    missing = sorted(set(spec.groups) - set(perm))
    if missing:
        raise MergeError(f"permutation lacks groups {missing}; build one with random_permutation(spec)")
    for g, n in spec.groups.items():
        p = torch.as_tensor(perm[g]).cpu()
        if p.shape != (n,) or not torch.equal(torch.sort(p).values, torch.arange(n)):
            raise MergeError(f"perm[{g!r}] is not a permutation of 0..{n - 1}")


def apply_permutation(spec: PermSpec, model, perm: dict):
    """Sec 2.3: a new model with W' = P W P_prev^T on weights, biases, BN params and running stats."""
    _check_perm(spec, perm)
    state = {k: (permute(v, spec.axes[k], perm) if k in spec.axes else v)
             for k, v in model.state_dict().items()}
    out = clone_architecture(model)
    out.load_state_dict(state)
    return out.eval()


def _names(spec: PermSpec, include_buffers: bool) -> list:
    """The state_dict entries that enter the matching cost."""
    return [k for k in spec.axes if include_buffers or k in spec.param_names]


def _state64(model, names, device) -> dict:
    """float64 copies of the named state_dict entries on `device`."""
    state = model.state_dict()
    return {k: state[k].detach().to(device=device, dtype=torch.float64) for k in names}


def _inner(spec, sa, sb, perm, names) -> float:
    """sum over `names` of <theta_a, pi(theta_b)> (the perm-dependent part of the distance)."""
    return float(sum((sa[k] * permute(sb[k], spec.axes[k], perm)).sum() for k in names))


def _distance(spec, sa, sb, perm, names) -> float:
    """||theta_a - pi(theta_b)||^2 over `names` (float64)."""
    return float(sum(((sa[k] - permute(sb[k], spec.axes[k], perm)) ** 2).sum() for k in names))


def _match_group(spec, group, sims, sa, sb, perm, solve) -> bool:
    """One coordinate-descent step: re-solve `group` by linear assignment; keep it if it improves."""
    sim, changed = sims.get(group, perm)
    if not changed:  # same matrix as at this group's last solve: same answer, already applied
        return False
    cand = solve(group, sim).to(perm[group].device)
    touching = [n for n, _ in sims.terms[group]]
    if len(set(touching)) == len(touching):  # objective linear in this group's P: sim is exact
        rows = torch.arange(len(cand), device=sim.device)
        old, new = float(sim[rows, perm[group]].sum()), float(sim[rows, cand].sum())
    else:  # a tensor with this group on two axes (MLP skip): evaluate the true objective
        names = sorted(set(touching))
        old = _inner(spec, sa, sb, perm, names)
        new = _inner(spec, sa, sb, dict(perm, **{group: cand}), names)
    if new > old + 1e-12 * max(1.0, abs(old)):
        perm[group] = cand
        return True
    return False


def weight_matching(spec: PermSpec, model_a, model_b, seed: int = 0, max_iter: int = 100,
                    include_buffers: bool = False, method: str = "auto",
                    warm_start: bool = True, sparse: bool | None = None) -> tuple[dict, dict]:
    """Sec 2.3 WM (Git Re-Basin): perm of model_b minimising ||theta_a - pi(theta_b)||^2, coordinate descent.

    `method` picks the linear-assignment solver (lmc_lib.matching.assignment); every solver gives the same
    optimum. With `warm_start` a group's second and later solves start from its last assignment and
    duals (lmc_lib.matching.warmlap, also exact) and `method` does only the first; `sparse` (None:
    when numba is installed) makes every solve of 512 units or more a certified sparse one
    (lmc_lib.matching.sparselap: a candidate set proven optimal on the whole matrix; `method` then
    only where one gives up). info: distances
    before/after, sweeps (`iterations`), `converged`, `solves`, `method` (the solver used),
    `warm` (the warm-start counts, or None), `similarity` (the upkeep of the similarity matrices:
    lmc_lib.matching.similarity's counts and seconds), `seconds`.
    """
    check_same_architecture(model_a, model_b)
    method = assignment.resolve_method(method)
    warm = warmlap.WarmStart(method, sparse) if warm_start else None
    solve = warm.solve if warm else (lambda group, sim: assignment.solve(sim, maximize=True, method=method))
    device = next(model_a.parameters()).device
    names = _names(spec, include_buffers)
    sa, sb = _state64(model_a, names, device), _state64(model_b, names, device)
    perm = {g: p.to(device) for g, p in identity_permutation(spec).items()}
    start = time.perf_counter()
    before, sims = _distance(spec, sa, sb, perm, names), Similarity(spec, sa, sb)
    rng, groups, iterations, converged = np.random.default_rng(seed), sorted(spec.groups), 0, False
    while iterations < max_iter and not converged:
        iterations += 1
        improved = [_match_group(spec, groups[i], sims, sa, sb, perm, solve)
                    for i in rng.permutation(len(groups))]
        converged = not any(improved)
    after = _distance(spec, sa, sb, perm, names)
    info = dict(distance_before=before, distance_after=after, iterations=iterations,
                converged=converged, solves=sims.solves, method=method,
                warm=dict(warm.stats) if warm else None, similarity=dict(sims.stats),
                seconds=time.perf_counter() - start)
    return {g: p.cpu() for g, p in perm.items()}, info


def param_distance(model_a, model_b, include_buffers: bool = False) -> float:
    """Squared L2 distance ||theta_a - theta_b||^2 over the parameters (the WM objective)."""
    check_same_architecture(model_a, model_b)
    spec = spec_for(model_a)
    names = _names(spec, include_buffers)
    device = next(model_a.parameters()).device
    sa, sb = _state64(model_a, names, device), _state64(model_b, names, device)
    return _distance(spec, sa, sb, identity_permutation(spec), names)
