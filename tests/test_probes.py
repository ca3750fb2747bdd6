"""Tests for lmc_lib.lmc.probes / probes_flat on hand-built weights where the answer is known exactly."""
import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError
from lmc_lib.lmc import probes as P
from lmc_lib.lmc import probes_flat as PF

H = 8  # hidden units of the tiny MLP (width 8/512)


def interpolate(model_a, model_b, lam):
    """Local stand-in for merge.interpolate: lam * a + (1 - lam) * b over parameters and buffers."""
    out = copy.deepcopy(model_a)
    sb = model_b.state_dict()
    out.load_state_dict({k: lam * v + (1 - lam) * sb[k] if v.is_floating_point() else v
                         for k, v in model_a.state_dict().items()})
    return out


def tiny_mlp(**kw):
    return build_model("mlp", H / 512, in_channels=1, image_size=4, **kw)


def block_mlp(units, seed):
    """Bias-free MLP whose hidden units live only on `units`; off-block weights are exactly zero."""
    torch.manual_seed(seed)
    m = tiny_mlp(bias=False)
    mask_rows = torch.zeros(H, dtype=torch.bool)
    mask_rows[units] = True
    with torch.no_grad():
        for i, fc in enumerate(m.fcs):
            w = torch.randn_like(fc.weight)
            if i < len(m.fcs) - 1:
                w[~mask_rows] = 0          # units outside the block never fire
            if i > 0:
                w[:, ~mask_rows] = 0       # and read only their own block
            fc.weight.copy_(w)
    return m.eval()


@pytest.fixture(scope="module")
def blocks():
    a, b = block_mlp(slice(0, 4), 0), block_mlp(slice(4, 8), 1)
    x = torch.randn(256, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    return a, b, x


def test_block_models_satisfy_reciprocal_orthogonality_and_exact_lewc(blocks):
    a, b, x = blocks
    ab, ba = P.reciprocal_orthogonality(a, b, x)
    assert ab.shape == ba.shape == (3,)
    np.testing.assert_allclose(ab, 0, atol=1e-12)
    np.testing.assert_allclose(ba, 0, atol=1e-12)
    for lam in (0.3, 0.5):
        merged = interpolate(a, b, lam)
        np.testing.assert_allclose(P.lewc_cosine(a, b, merged, x, lam), 1, atol=1e-6)
        np.testing.assert_allclose(P.lewc_scale(a, b, merged, x, lam), 1, atol=1e-5)
        np.testing.assert_allclose(P.weak_additivity_cosine(a, b, x, lam), 1, atol=1e-6)
    # merged at 1/2 projects onto W_a exactly like a does (Fig 8)
    np.testing.assert_allclose(P.merged_projection_cosine(a, interpolate(a, b, 0.5), x), 1, atol=1e-6)


def test_block_models_commutativity_is_not_reciprocal_orthogonality(blocks):
    """Cross terms vanish, so (W_a-W_b)(H_a-H_b) = W_a H_a + W_b H_b: hidden rows are disjoint."""
    a, b, x = blocks
    res = P.commutativity_residual(a, b, x)
    assert res.shape == (3,)
    np.testing.assert_allclose(res[:-1], 1, atol=1e-6)  # ||Z_a + Z_b|| = ||Z_a - Z_b||
    with torch.no_grad():
        za, zb = a(x).double(), b(x).double()
    assert res[-1] == pytest.approx(float((za + zb).norm() / (za - zb).norm()), rel=1e-5)


def test_self_pair_shows_the_two_to_the_l_scaling():
    torch.manual_seed(0)
    m = tiny_mlp().eval()
    x = torch.randn(64, 1, 4, 4)
    assert np.all(P.commutativity_residual(m, m, x) == 0)
    np.testing.assert_allclose(P.lewc_cosine(m, m, m, x, 0.5), 1, atol=1e-6)
    scale = P.lewc_scale(m, m, m, x, 0.5)  # f_m = f_a, target 2^-l * 2 f_a
    np.testing.assert_allclose(scale, 2.0 ** (np.arange(1, 5) - 1), rtol=1e-5)
    np.testing.assert_allclose(P.weak_additivity_cosine(m, m, x), 1, atol=1e-6)
    measured, predicted = P.norm_decay(m, m, m, x)
    np.testing.assert_allclose(measured, 1, rtol=1e-6)
    np.testing.assert_allclose(predicted, 2.0 ** -(np.arange(1, 5) - 1), rtol=1e-5)


def test_gaussian_weak_additivity():
    assert P.GAUSSIAN_WA_LIMIT == pytest.approx(0.9304, abs=1e-4)
    assert P.gaussian_wa_limit(0.5) == pytest.approx(P.GAUSSIAN_WA_LIMIT, abs=1e-12)
    assert P.gaussian_wa_limit(0.25) == pytest.approx(0.9705, abs=2e-4)  # Monte Carlo value at lam = 1/4
    assert P.gaussian_wa_limit(0.1) == pytest.approx(0.9952, abs=1e-4)
    assert P.gaussian_wa_limit(0.0) == pytest.approx(1.0)
    mc = P.gaussian_weak_additivity(100_000, n=4, seed=0)
    assert abs(mc - 0.9304) < 0.002
    assert abs(P.gaussian_weak_additivity(100_000, n=4, lam=0.25, seed=1) - 0.9704) < 0.002


@pytest.mark.parametrize("arch,width,n_layers", [("mlp", 1 / 64, 4), ("vgg11", 1 / 16, 9),
                                                  ("resnet20", 1 / 8, 20)])
def test_shapes_per_architecture(arch, width, n_layers):
    kw = dict(in_channels=3, image_size=32)
    torch.manual_seed(0)
    a, b = build_model(arch, width, **kw), build_model(arch, width, **kw)
    for m in (a, b):  # non-trivial BN statistics so post-BN values differ from pre-BN ones
        m.train()
        with torch.no_grad():
            m(torch.randn(32, 3, 32, 32))
    a.eval()
    b.eval()
    merged = interpolate(a, b, 0.5)
    x = torch.randn(12, 3, 32, 32)
    L, hidden, from2 = (n_layers,), (n_layers - 1,), (n_layers - 1,)
    assert P.layer_ids(a, "all").tolist() == list(range(1, n_layers + 1))
    assert P.lewc_cosine(a, b, merged, x, batch_size=5).shape == L
    assert P.lewc_scale(a, b, merged, x, 0.3).shape == L
    assert P.weak_additivity_cosine(a, b, x).shape == hidden
    assert [r.shape for r in P.reciprocal_orthogonality(a, b, x)] == [from2, from2]
    assert P.merged_projection_cosine(a, merged, x).shape == from2
    assert P.commutativity_residual(a, b, x).shape == from2
    assert P.activation_norms(a, x).shape == L
    assert [r.shape for r in P.norm_decay(a, b, merged, x)] == [L, L]
    assert P.active_overlap(a, b, x).shape == hidden
    assert len(P.second_moments(a, x)) == n_layers - 1
    assert PF.activation_cosine(a, b, x).shape == hidden
    assert PF.effective_ranks(a).shape == L
    assert a.training is False and merged.training is False


@pytest.mark.parametrize("arch,width,variant", [("mlp", 1 / 64, "bn"), ("mlp", 1 / 64, "skip"),
                                                ("vgg11", 1 / 16, "plain"),
                                                ("resnet20", 1 / 4, "plain")])
def test_relu_inputs_reconstruct_the_outputs(arch, width, variant):
    torch.manual_seed(0)
    m = build_model(arch, width, in_channels=3, image_size=32, variant=variant).eval()
    with torch.no_grad():
        layers = m.readout(torch.randn(6, 3, 32, 32))
        for i, (u, layer) in enumerate(zip(P.relu_inputs(m, layers), layers[:-1])):
            skip = layer.inp if variant == "skip" and i > 0 else 0
            torch.testing.assert_close(F.relu(u) + skip, layer.out)


def test_batch_size_does_not_change_results(blocks):
    a, b, x = blocks
    np.testing.assert_allclose(P.commutativity_residual(a, b, x, batch_size=7),
                               P.commutativity_residual(a, b, x), rtol=1e-9)
    s1, s2 = P.second_moments(a, x, batch_size=9), P.second_moments(a, x)
    for u, v in zip(s1, s2):
        np.testing.assert_allclose(u, v, rtol=1e-9)


def test_invariances():
    torch.manual_seed(0)
    a, b = tiny_mlp().eval(), tiny_mlp().eval()
    x = torch.randn(64, 1, 4, 4)
    merged = interpolate(a, b, 0.5)
    ro = P.reciprocal_orthogonality(a, b, x)[0]
    cos = P.lewc_cosine(a, b, merged, x)
    scaled_a = copy.deepcopy(a)
    with torch.no_grad():
        for fc in scaled_a.fcs:
            fc.weight.mul_(3.0)
    # RO ratio: W_a h_b / W_a h_a at a fixed layer is invariant to scaling W_a (same inputs)
    ratio_last = P.reciprocal_orthogonality(a, b, x)[0][-1]
    w = a.fcs[-1].weight
    with torch.no_grad():
        a.fcs[-1].weight.mul_(5.0)
    assert P.reciprocal_orthogonality(a, b, x)[0][-1] == pytest.approx(ratio_last, rel=1e-6)
    with torch.no_grad():
        w.div_(5.0)
    np.testing.assert_allclose(P.reciprocal_orthogonality(a, b, x)[0], ro, rtol=1e-6)
    # LEWC cosine ignores a positive rescaling of the merged model's logits
    loud = copy.deepcopy(merged)
    with torch.no_grad():
        loud.fcs[-1].weight.mul_(7.0)
        loud.fcs[-1].bias.mul_(7.0)
    assert P.lewc_cosine(a, b, loud, x)[-1] == pytest.approx(cos[-1], abs=1e-6)
    # effective rank ignores scaling of W
    assert PF.effective_ranks(scaled_a) == pytest.approx(PF.effective_ranks(a), rel=1e-6)


def test_effective_rank():
    assert PF.effective_rank(torch.eye(7)) == pytest.approx(7)
    u, v = torch.randn(5, 1), torch.randn(1, 9)
    assert PF.effective_rank(u @ v) == pytest.approx(1, abs=1e-6)
    assert PF.effective_rank(torch.zeros(3, 3)) == 0.0
    conv = torch.randn(4, 2, 3, 3)
    assert 1 <= PF.effective_rank(conv) <= 4


def test_active_units_mass_semantics():
    s = np.sqrt([50.0, 30.0, 15.0, 5.0, 0.0])  # s^2 sums to 100
    assert P.active_units(s, 0.5).tolist() == [True, False, False, False, False]
    assert P.active_units(s, 0.8).tolist() == [True, True, False, False, False]
    assert P.active_units(s, 0.81).tolist() == [True, True, True, False, False]
    assert P.active_units(s, 1.0).tolist() == [True, True, True, True, False]
    assert P.active_units(s[[3, 0, 4, 2, 1]], 0.8).tolist() == [False, True, False, False, True]
    assert not P.active_units(np.zeros(3)).any()
    with pytest.raises(LmcError):
        P.active_units(s, 0.0)
    assert P.small_moment_fraction([0.0, 0.01, 1.0, 0.99], bins=10) == 0.5
    assert P.small_moment_fraction([0.0, 0.2, 1.0, 0.99], rel=0.1) == 0.25


def test_second_moments_and_overlap_with_permutation(blocks):
    a, b, x = blocks
    sa, sb = P.second_moments(a, x), P.second_moments(b, x)
    z1 = a.fcs[0](x.flatten(1))
    np.testing.assert_allclose(sa[0], z1.pow(2).mean(0).sqrt().detach().numpy(), rtol=1e-5)
    assert np.all(sa[1][4:] == 0) and np.all(sb[1][:4] == 0)
    np.testing.assert_allclose(P.active_overlap(a, b, x, mass=1.0), 0)  # disjoint blocks
    swap = [torch.tensor([4, 5, 6, 7, 0, 1, 2, 3])] * 3  # b's unit perm[i] matched to a's unit i
    shared = P.active_overlap(a, b, x, mass=1.0, perm=swap)
    assert np.all(shared > 0)
    np.testing.assert_allclose(P.active_overlap(a, a, x, mass=0.9), 1)


def test_flatness_helpers():
    torch.manual_seed(0)
    a, b = tiny_mlp().eval(), tiny_mlp().eval()
    u = PF.random_direction(a, seed=3)
    assert math.sqrt(sum(float(t.pow(2).sum()) for t in u.values())) == pytest.approx(1.0)
    assert PF.param_distance(a, a) == 0
    d = PF.param_distance(a, b)
    moved = PF.along_direction(a, u, d)
    assert PF.param_distance(a, moved) == pytest.approx(d, rel=1e-5)
    x, y = torch.randn(40, 1, 4, 4), torch.randint(0, 10, (40,))
    calls = []
    curve = PF.flatness_curve(a, d, u, x, y, ts=[0.0, 0.5, 1.0], after_move=calls.append)
    assert len(calls) == 3 and curve["acc"].shape == curve["loss"].shape == (3,)
    with torch.no_grad():
        logits = a(x)
    assert curve["acc"][0] == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert curve["loss"][0] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)
    np.testing.assert_allclose(PF.activation_cosine(a, a, x), 1, atol=1e-6)


def test_errors_are_clear():
    a = tiny_mlp()
    x = torch.randn(4, 1, 4, 4)
    with pytest.raises(LmcError, match="lam"):
        P.lewc_cosine(a, a, a, x, lam=1.5)
    with pytest.raises(LmcError, match="float"):
        P.activation_norms(a, torch.zeros(4, 1, 4, 4, dtype=torch.uint8))
    with pytest.raises(LmcError, match="architecture"):
        P.commutativity_residual(a, build_model("mlp", 16 / 512, in_channels=1, image_size=4), x)
    with pytest.raises(LmcError, match="at="):
        P.second_moments(a, x, at="post")


def test_probe_precision_runs_the_forwards_in_bf16_inside_the_block_only():
    torch.manual_seed(0)
    a, b = tiny_mlp(), tiny_mlp()
    m = interpolate(a, b, 0.5)
    x = torch.randn(64, 1, 4, 4)
    fp32 = P.lewc_cosine(a, b, m, x)
    with P.precision("bf16"):
        bf16 = P.lewc_cosine(a, b, m, x)
        s_bf16 = P.second_moments(a, x)
    assert not np.array_equal(bf16, fp32)  # the forwards did run in bf16
    np.testing.assert_allclose(bf16, fp32, atol=0.05)  # bf16 keeps about 3 significant digits
    for got, want in zip(s_bf16, P.second_moments(a, x)):
        assert not np.array_equal(got, want)
        np.testing.assert_allclose(got, want, rtol=0.05)
    np.testing.assert_array_equal(P.lewc_cosine(a, b, m, x), fp32)  # fp32 again after the block


def test_probe_precision_rejects_unknown_names():
    with pytest.raises(P.ProbeError, match="probe precision"):
        with P.precision("fp16"):
            pass


@pytest.mark.parametrize("arch", ["mlp", "vgg11"])
def test_one_pass_probes_give_the_separate_probes_numbers(arch):
    """lewc_probes and orthogonality_probes read every model once per chunk; their numbers are
    those of lewc_cosine, lewc_scale, norm_decay, reciprocal_orthogonality and
    merged_projection_cosine (chunks of 40 over 100 inputs: a ragged last chunk too)."""
    torch.manual_seed(3)
    if arch == "mlp":
        a, b = tiny_mlp(), tiny_mlp()
        x = torch.randn(100, 1, 4, 4)
    else:
        a, b = (build_model("vgg11", 1 / 16, in_channels=3, image_size=32).eval() for _ in range(2))
        x = torch.randn(100, 3, 32, 32)
    merged = {lam: interpolate(a, b, lam) for lam in (0.25, 0.5, 0.75)}
    got = P.lewc_probes(a, b, merged, x, norms_at=0.5, batch_size=40)
    close = dict(rtol=1e-12, atol=1e-12)
    for lam, m in merged.items():
        np.testing.assert_allclose(got[lam]["cos"], P.lewc_cosine(a, b, m, x, lam, batch_size=40), **close)
        np.testing.assert_allclose(got[lam]["scale"], P.lewc_scale(a, b, m, x, lam, batch_size=40), **close)
        assert ("norm_merged" in got[lam]) is (lam == 0.5)
    for want, key in zip(P.norm_decay(a, b, merged[0.5], x, 0.5, batch_size=40), ("norm_merged", "norm_lewc")):
        np.testing.assert_allclose(got[0.5][key], want, **close)
    only_cos = P.lewc_probes(a, b, {0.5: merged[0.5]}, x, scale=False, norms_at=None, batch_size=40)
    assert list(only_cos[0.5]) == ["cos"]
    np.testing.assert_allclose(only_cos[0.5]["cos"], got[0.5]["cos"], **close)

    ortho = P.orthogonality_probes(a, b, merged[0.5], x, batch_size=40)
    ab, ba = P.reciprocal_orthogonality(a, b, x, batch_size=40)
    for key, want in (("ro_ab", ab), ("ro_ba", ba),
                      ("cos_a", P.merged_projection_cosine(a, merged[0.5], x, batch_size=40)),
                      ("cos_b", P.merged_projection_cosine(b, merged[0.5], x, batch_size=40))):
        np.testing.assert_allclose(ortho[key], want, **close)
        assert len(want) == len(a.weight_layers()) - 1


def test_one_pass_lewc_probes_check_lam():
    a, b = tiny_mlp(), tiny_mlp()
    with pytest.raises(P.ProbeError, match="lam"):
        P.lewc_probes(a, b, {1.5: a}, torch.randn(4, 1, 4, 4))
