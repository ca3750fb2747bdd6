"""Tests for lmc_lib.matching.perm (Sec 2.3: permutation symmetry and weight matching)."""
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError
from lmc_lib.matching import perm as perm_mod
from lmc_lib.matching.assignment import available_methods
from lmc_lib.matching.perm import (
    MergeError,
    apply_permutation,
    identity_permutation,
    param_distance,
    random_permutation,
    spec_for,
    weight_matching,
)
from lmc_lib.matching.similarity import Similarity, permute

CONV = dict(in_channels=3, image_size=32)
ARCHS = {
    "mlp-plain": dict(arch="mlp", width=1 / 8),
    "mlp-skip": dict(arch="mlp", width=1 / 8, variant="skip"),
    "mlp-bn": dict(arch="mlp", width=1 / 8, variant="bn"),
    "vgg11": dict(arch="vgg11", width=1 / 8, **CONV),
    "resnet20": dict(arch="resnet20", width=1 / 4, **CONV),
}


def inputs(kw, n=16, seed=0):
    """A batch of standard-normal inputs of the model's input shape."""
    size = kw.get("image_size", 28)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, kw.get("in_channels", 1), size, size, generator=g)


def make(kw, seed=0, busy_bn=True):
    """A model with random BN affine params and non-trivial running stats (eval mode)."""
    torch.manual_seed(seed)
    model = build_model(**kw)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and busy_bn:
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
        if busy_bn:
            model.train()
            for s in range(2):  # two train-mode forwards: running stats move away from 0 / 1
                model(inputs(kw, 32, seed=100 + s) * 1.5 + 0.3)
    return model.eval()


@pytest.mark.parametrize("name", ARCHS)
def test_random_permutation_preserves_function(name):
    kw = ARCHS[name]
    model = make(kw)
    spec = spec_for(model)
    permuted = apply_permutation(spec, model, random_permutation(spec, seed=1))
    x = inputs(kw)
    with torch.no_grad():
        ref, out = model(x), permuted(x)
    # float32 sums in a different order: tolerance 1e-5 relative to the logits' scale
    assert torch.allclose(out, ref, atol=1e-5 * max(1.0, ref.abs().max().item()), rtol=0)
    assert param_distance(model, permuted) > 1e-3  # the weights really moved


@pytest.mark.parametrize("name", ARCHS)
def test_spec_covers_every_floating_entry(name):
    model = build_model(**ARCHS[name])
    spec = spec_for(model)
    floating = {k for k, v in model.state_dict().items() if v.is_floating_point()}
    assert set(spec.axes) == floating
    assert spec.param_names == {k for k, _ in model.named_parameters()}
    state = model.state_dict()
    for key, groups in spec.axes.items():
        assert len(groups) == state[key].dim(), key
        for ax, g in enumerate(groups):
            if g is not None:
                assert spec.groups[g] == state[key].shape[ax], (key, ax)
    # only the logits' bias is never permuted; every other tensor has a hidden axis
    ungrouped = {k for k, groups in spec.axes.items() if all(g is None for g in groups)}
    assert ungrouped == {"fcs.3.bias" if model.arch == "mlp" else "fc.bias"}


def test_spec_groups_follow_the_residual_stream():
    skip = spec_for(build_model(**ARCHS["mlp-skip"]))
    assert set(skip.groups) == {"h"}
    assert skip.axes["fcs.1.weight"] == ("h", "h") and skip.axes["fcs.0.weight"] == ("h", None)
    plain = spec_for(build_model(**ARCHS["mlp-plain"]))
    assert plain.axes["fcs.1.weight"] == ("h2", "h1") and plain.axes["fcs.3.weight"] == (None, "h3")
    res = spec_for(build_model(**ARCHS["resnet20"]))
    assert res.axes["conv1.weight"][0] == res.axes["blocks.2.conv2.weight"][0] == "s0"
    assert res.axes["blocks.3.shortcut.0.weight"][:2] == ("s1", "s0")
    assert res.axes["blocks.5.conv2.weight"][:2] == ("s1", "b5")
    assert res.axes["fc.weight"] == (None, "s2")
    vgg = spec_for(build_model(**ARCHS["vgg11"]))
    assert vgg.axes["bns.7.running_var"] == ("c7",) and vgg.axes["fc.weight"] == (None, "c7")


def test_spec_without_bias():
    model = build_model(arch="mlp", width=1 / 16, bias=False)
    assert set(spec_for(model).axes) == {f"fcs.{i}.weight" for i in range(4)}


@pytest.mark.parametrize("name", ARCHS)
def test_weight_matching_recovers_a_permuted_copy(name):
    model = make(ARCHS[name])
    spec = spec_for(model)
    shuffled = apply_permutation(spec, model, random_permutation(spec, seed=7))
    perm, info = weight_matching(spec, model, shuffled, seed=0)
    assert info["distance_before"] > 1.0
    assert info["distance_after"] < 1e-10
    assert info["converged"] and info["iterations"] >= 2
    restored = apply_permutation(spec, shuffled, perm)
    for key, value in model.state_dict().items():  # running stats included
        assert torch.equal(restored.state_dict()[key], value), key


@pytest.mark.parametrize("name", ["mlp-plain", "mlp-skip", "vgg11", "resnet20"])
def test_weight_matching_never_increases_distance(name):
    a, b = make(ARCHS[name], seed=0), make(ARCHS[name], seed=1)
    spec = spec_for(a)
    perm, info = weight_matching(spec, a, b, seed=3)
    assert info["distance_before"] == pytest.approx(param_distance(a, b), rel=1e-9)
    assert info["distance_after"] <= info["distance_before"]
    assert info["distance_after"] == pytest.approx(
        param_distance(a, apply_permutation(spec, b, perm)), rel=1e-6)


def test_weight_matching_is_seeded_and_returns_valid_perms():
    a, b = make(ARCHS["mlp-plain"], 0), make(ARCHS["mlp-plain"], 1)
    spec = spec_for(a)
    p1, i1 = weight_matching(spec, a, b, seed=5)
    p2, i2 = weight_matching(spec, a, b, seed=5)
    assert i1.pop("seconds") > 0 and i2.pop("seconds") > 0
    s1, s2 = i1.pop("similarity"), i2.pop("similarity")  # its upkeep seconds differ run to run
    assert {k: v for k, v in s1.items() if "second" not in k and k != "time"} == \
        {k: v for k, v in s2.items() if "second" not in k and k != "time"}
    assert i1 == i2 and all(torch.equal(p1[g], p2[g]) for g in p1)
    for g, n in spec.groups.items():
        assert torch.equal(p1[g].sort().values, torch.arange(n))


def test_weight_matching_with_buffers():
    model = make(ARCHS["mlp-bn"])
    spec = spec_for(model)
    shuffled = apply_permutation(spec, model, random_permutation(spec, seed=2))
    _, info = weight_matching(spec, model, shuffled, include_buffers=True)
    assert info["distance_after"] < 1e-10
    assert param_distance(model, shuffled, include_buffers=True) > param_distance(model, shuffled)


def test_identity_and_seeded_random_permutations():
    model = make(ARCHS["vgg11"])
    spec = spec_for(model)
    same = apply_permutation(spec, model, identity_permutation(spec))
    assert all(torch.equal(same.state_dict()[k], v) for k, v in model.state_dict().items())
    r1, r2, r3 = (random_permutation(spec, s) for s in (4, 4, 5))
    assert all(torch.equal(r1[g], r2[g]) for g in spec.groups)
    assert any(not torch.equal(r1[g], r3[g]) for g in spec.groups)
    assert not same.training


def test_bad_permutation_and_mismatch_raise():
    model = build_model(**ARCHS["mlp-plain"])
    spec = spec_for(model)
    perm = random_permutation(spec, 0)
    with pytest.raises(MergeError, match="h2"):
        apply_permutation(spec, model, {**perm, "h2": torch.zeros(64, dtype=torch.long)})
    with pytest.raises(MergeError, match="lacks"):
        apply_permutation(spec, model, {"h1": perm["h1"]})
    other = build_model(arch="mlp", width=1 / 4)
    with pytest.raises(LmcError, match="width"):
        weight_matching(spec, model, other)
    with pytest.raises(MergeError, match="spec"):
        spec_for(torch.nn.Linear(2, 2))


def reference_similarity(spec, group, sa, sb, perm):
    """S_g built from scratch, as weight matching did before the incremental update."""
    n = spec.groups[group]
    sim = torch.zeros(n, n, dtype=torch.float64)
    for name, ax in spec.touching(group, sa):
        wb = permute(sb[name], spec.axes[name], perm, skip_axis=ax)
        sim += sa[name].movedim(ax, 0).reshape(n, -1) @ wb.movedim(ax, 0).reshape(n, -1).T
    return sim


def reference_weight_matching(spec, model_a, model_b, seed=0, include_buffers=False):
    """The plain coordinate descent: full S_g and scipy at every step (the implementation replaced)."""
    names = [k for k in spec.axes if include_buffers or k in spec.param_names]
    sa, sb = ({k: m.state_dict()[k].double() for k in names} for m in (model_a, model_b))
    perm, groups, rng = identity_permutation(spec), sorted(spec.groups), np.random.default_rng(seed)
    for _ in range(100):
        improved = False
        for g in (groups[i] for i in rng.permutation(len(groups))):
            sim = reference_similarity(spec, g, sa, sb, perm).numpy()
            cand = torch.as_tensor(linear_sum_assignment(sim, maximize=True)[1])
            touching = sorted({k for k, _ in spec.touching(g, sa)})
            old = perm_mod._inner(spec, sa, sb, perm, touching)
            new = perm_mod._inner(spec, sa, sb, dict(perm, **{g: cand}), touching)
            if new > old + 1e-12 * max(1.0, abs(old)):
                perm[g], improved = cand, True
        if not improved:
            return perm
    return perm


@pytest.mark.parametrize("name", ARCHS)
def test_weight_matching_equals_the_reference(name, warm_small):
    buffers = name == "mlp-bn"
    for seed in (0, 1) if name.startswith("mlp") else (0,):
        a, b = make(ARCHS[name], seed=2 * seed), make(ARCHS[name], seed=2 * seed + 1)
        spec = spec_for(a)
        ref = reference_weight_matching(spec, a, b, seed=seed, include_buffers=buffers)
        expected = param_distance(a, apply_permutation(spec, b, ref), include_buffers=buffers)
        for method, warm in [(m, w) for m in available_methods() for w in (True, False)]:
            got, info = weight_matching(spec, a, b, seed=seed, method=method, include_buffers=buffers,
                                        warm_start=warm)
            assert all(torch.equal(got[g], ref[g]) for g in spec.groups), (name, seed, method, warm)
            assert (info["warm"] is not None) == warm
            assert info["method"] == method
            assert info["distance_after"] == pytest.approx(expected, rel=1e-9)


def test_weight_matching_of_a_wider_mlp_equals_the_reference(warm_small):
    a, b = make(dict(arch="mlp", width=1 / 2), 0), make(dict(arch="mlp", width=1 / 2), 1)
    spec = spec_for(a)
    ref = reference_weight_matching(spec, a, b, seed=2)
    got, info = weight_matching(spec, a, b, seed=2)
    assert all(torch.equal(got[g], ref[g]) for g in spec.groups)
    assert info["iterations"] >= 4  # several sweeps: the incremental path was exercised
    assert info["solves"] < 3 * info["iterations"]  # unchanged similarities were not re-solved
    warm = info["warm"]  # each group's first solve is cold or auction-priced, every later one warm
    assert warm["cold"] + warm["priced"] == len(spec.groups)
    assert warm["warm"] == info["solves"] - len(spec.groups) and warm["redone"] == 0


@pytest.mark.parametrize("name", ARCHS)
def test_incremental_similarity_equals_a_fresh_one(name):
    a, b = make(ARCHS[name], 0), make(ARCHS[name], 1)
    spec = spec_for(a)
    sa, sb = (perm_mod._state64(m, sorted(spec.param_names), "cpu") for m in (a, b))
    sims, perm = Similarity(spec, sa, sb), identity_permutation(spec)
    g = torch.Generator().manual_seed(0)
    for step in range(6):
        for group in sorted(spec.groups):
            sim, changed = sims.get(group, perm)
            assert torch.allclose(sim, reference_similarity(spec, group, sa, sb, perm), rtol=0, atol=1e-12)
            assert changed or step > 0
        group = sorted(spec.groups)[step % len(spec.groups)]
        k = 2 if step % 2 else spec.groups[group]  # a swap of two units (update) or a full shuffle
        swap = torch.randperm(spec.groups[group], generator=g)[:k]
        perm[group] = perm[group].clone()
        perm[group][swap] = perm[group][swap.roll(1)]
    unchanged = [grp for grp in spec.groups if grp not in sims.deps[group] and group not in sims.deps[grp]]
    for grp in unchanged:  # a group that depends on nothing that moved last is not rebuilt
        assert sims.get(grp, perm)[1] is False


def test_weight_matching_rejects_an_unknown_solver():
    a = make(ARCHS["mlp-plain"])
    with pytest.raises(LmcError, match="hungarian"):
        weight_matching(spec_for(a), a, a, method="hungarian")
