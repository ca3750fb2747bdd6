"""Tests for lmc_lib.matching.similarity: cycle-reduced low-rank updates of weight matching's S_g."""
import pytest
import torch

from lmc_lib.core.models import build_model
from lmc_lib.matching import perm as perm_mod
from lmc_lib.matching import similarity
from lmc_lib.matching.perm import identity_permutation, spec_for
from lmc_lib.matching.similarity import Similarity, cycle_factors, permute


def fresh(spec, group, sa, sb, perm):
    """S_g by the full products (what every update must equal)."""
    n = spec.groups[group]
    sim = torch.zeros(n, n, dtype=torch.float64)
    for name, ax in spec.touching(group, sa):
        wb = permute(sb[name], spec.axes[name], perm, skip_axis=ax)
        sim += sa[name].movedim(ax, 0).reshape(n, -1) @ wb.movedim(ax, 0).reshape(n, -1).T
    return sim


def cycles_of(sigma) -> list:
    """The cycles of a permutation, by walking it."""
    seen, out = set(), []
    for s in range(len(sigma)):
        if s not in seen:
            cyc, j = [], s
            while j not in seen:
                seen.add(j)
                cyc.append(j)
                j = int(sigma[j])
            out.append(cyc)
    return out


def states(kw, seeds=(0, 1), planted=False):
    """(spec, sa, sb) of two random-init models (planted: b is a noisy permuted copy of a)."""
    models = []
    for s in seeds:
        torch.manual_seed(s)
        models.append(build_model(**kw))
    spec = spec_for(models[0])
    if planted:
        b = perm_mod.apply_permutation(spec, models[0], perm_mod.random_permutation(spec, 5))
        with torch.no_grad():
            for p in b.parameters():
                p.add_(0.01 * torch.randn_like(p))
        models[1] = b
    names = sorted(spec.param_names)
    return spec, *(perm_mod._state64(m, names, "cpu") for m in models)


@pytest.mark.parametrize("k", [1, 2, 3, 17, 64])
def test_cycle_factors_drop_one_position_per_cycle(k):
    g = torch.Generator().manual_seed(k)
    for _ in range(5):
        sigma = torch.randperm(k, generator=g)
        d, least = cycle_factors(sigma)
        cycles = cycles_of(sigma.tolist())
        assert len(d) == k - len(cycles)
        of = {j: min(c) for c in cycles for j in c}
        assert sorted(d.tolist()) == sorted(j for j in range(k) if of[j] != j)
        assert all(of[int(j)] == int(r) for j, r in zip(d, least))


def moved(p, units, shift=1):
    """p with the entries at `units` rotated among themselves (one cycle of len(units))."""
    p = p.clone()
    p[units] = p[units.roll(shift)]
    return p


@pytest.mark.parametrize("planted", [False, True])
def test_a_swap_is_a_rank_one_update_and_equals_the_full_product(planted):
    spec, sa, sb = states(dict(arch="mlp", width=1 / 4), planted=planted)
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    for g in spec.groups:
        sims.get(g, perm)
    perm["h1"] = moved(perm["h1"], torch.tensor([3, 40]))  # one swap: h2's fc1 term changes
    sim, changed = sims.get("h2", perm)
    assert changed and sims.stats["updates"] == 1 and sims.stats["rank"] == 1
    width = sum(sb[k].numel() // spec.groups[g] for g in spec.groups for k, _ in spec.touching(g, sb))
    assert sims.stats["columns"] == width + 1  # three builds, then one rank-1 product
    assert torch.allclose(sim, fresh(spec, "h2", sa, sb, perm), rtol=0, atol=1e-12)
    assert sims.get("h3", perm)[1] is False  # h3 does not depend on h1


def test_cycles_in_both_neighbours_cost_their_length_less_one():
    spec, sa, sb = states(dict(arch="mlp", width=1 / 4))
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    sims.get("h2", perm)
    perm["h1"] = moved(perm["h1"], torch.tensor([0, 5, 9, 30, 31]))  # a 5-cycle
    perm["h3"] = moved(moved(perm["h3"], torch.tensor([1, 2])), torch.tensor([7, 8, 20]))  # 2 + 3
    sim, _ = sims.get("h2", perm)
    assert sims.stats["rank"] == 4 + 1 + 2 and sims.stats["moved"] == 5 + 5
    assert torch.allclose(sim, fresh(spec, "h2", sa, sb, perm), rtol=0, atol=1e-12)


def test_when_most_units_move_the_full_product_replaces_the_update():
    spec, sa, sb = states(dict(arch="mlp", width=1 / 4))
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    sims.get("h2", perm)
    g = torch.Generator().manual_seed(0)
    for h in ("h1", "h3"):  # both neighbours shuffled: rank ~ n - (few cycles) each
        perm[h] = torch.randperm(spec.groups[h], generator=g)
    sim, changed = sims.get("h2", perm)
    assert changed and sims.stats["rebuilds"] == 1 and sims.stats["updates"] == 0
    assert torch.allclose(sim, fresh(spec, "h2", sa, sb, perm), rtol=0, atol=1e-12)


def test_the_rebuild_threshold_is_the_updates_rank(monkeypatch):
    spec, sa, sb = states(dict(arch="mlp", width=1 / 4))
    monkeypatch.setattr(similarity, "REBUILD_FRACTION", 0.0)  # every change rebuilds
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    sims.get("h2", perm)
    perm["h1"] = moved(perm["h1"], torch.tensor([3, 40]))
    sims.get("h2", perm)
    assert sims.stats["rebuilds"] == 1 and sims.stats["updates"] == 0


@pytest.mark.parametrize("kw", [dict(arch="mlp", width=1 / 4), dict(arch="mlp", width=1 / 8, variant="skip"),
                                dict(arch="vgg11", width=1 / 8, in_channels=3, image_size=32)],
                         ids=["mlp", "mlp-skip", "vgg11"])
def test_many_random_changes_track_the_full_products(kw):
    """Random cycles of every size, one to all units of a group, over many steps: S_g stays the
    full product (the update and the rebuild path both run)."""
    spec, sa, sb = states(kw)
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    g, groups = torch.Generator().manual_seed(1), sorted(spec.groups)
    for step in range(12):
        h = groups[step % len(groups)]
        n = spec.groups[h]
        k = [2, 3, n // 8, n // 2, n][step % 5]
        if k == n:  # every group reshuffled (its own cycles): most units move
            perm = {grp: p[torch.randperm(len(p), generator=g)] for grp, p in perm.items()}
        else:  # one cycle (shift 1) or a few (shift 2) through k random units
            perm[h] = moved(perm[h], torch.randperm(n, generator=g)[:k], shift=1 + step % 2)
        for grp in groups:
            sim, _ = sims.get(grp, perm)
            assert torch.allclose(sim, fresh(spec, grp, sa, sb, perm), rtol=0, atol=1e-11), (step, grp)
    assert sims.stats["updates"] > 0
    # skip: h's product includes the 784 input columns, which never move: it is never rebuilt
    assert sims.stats["rebuilds"] > 0 or kw.get("variant") == "skip"
