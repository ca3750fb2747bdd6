"""Tests for lmc_lib.lmc.merge (theta(lam), BN reset, the Def 2.1 / Sec 3.1 curve protocol)."""
import copy
import json

import numpy as np
import pytest
import torch

from lmc_lib.core.data import Dataset
from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError
from lmc_lib.lmc.calibrate import calibrate, split_indices
from lmc_lib.lmc.merge import (
    Curve,
    MergeError,
    curve,
    ensemble_logits,
    interpolate,
    lam_grid,
    merge_many,
    merged_model,
    reset_bn,
)
from lmc_lib.matching.perm import apply_permutation, random_permutation, spec_for, weight_matching

SMALL = dict(arch="mlp", width=1 / 16, image_size=8)  # 64 inputs, 32 hidden units


def model(seed=0, **kw):
    """A small random MLP (eval mode)."""
    torch.manual_seed(seed)
    return build_model(**{**SMALL, **kw}).eval()


def states_equal(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    return s1.keys() == s2.keys() and all(torch.equal(s1[k], s2[k]) for k in s1)


@pytest.fixture(scope="module")
def data():
    """Tiny random 8x8 dataset; 60% of labels follow the ensemble of model(0) and model(1) (beta finite)."""
    g = torch.Generator().manual_seed(0)
    x_train = torch.randint(0, 256, (600, 1, 8, 8), generator=g, dtype=torch.uint8)
    x_test = torch.randint(0, 256, (500, 1, 8, 8), generator=g, dtype=torch.uint8)
    ds = Dataset("random", x_train, torch.zeros(600, dtype=torch.long), x_test,
                 torch.zeros(500, dtype=torch.long), (0.5,), (0.29,), 10, tuple("0123456789"))
    with torch.no_grad():
        teacher = ensemble_logits([model(0), model(1)], ds.normalize(x_test)).argmax(1)
    noise = torch.randint(0, 10, (500,), generator=g)
    ds.y_test = torch.where(torch.rand(500, generator=g) < 0.6, teacher, noise)
    return ds


def test_interpolate_endpoints_and_midpoint():
    a, b = model(0, variant="bn"), model(1, variant="bn")
    a.bns[0].running_mean.fill_(1.0)  # buffers are interpolated too
    a.bns[0].num_batches_tracked.fill_(7)
    assert states_equal(interpolate(a, b, 1.0), a)
    zero = interpolate(a, b, 0).state_dict()
    for k, v in b.state_dict().items():
        if v.is_floating_point():
            assert torch.equal(zero[k], v), k
    assert int(zero["bns.0.num_batches_tracked"]) == 7  # integer buffers come from model_a
    mid = interpolate(a, b, 0.5)
    for k, v in mid.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, (a.state_dict()[k] + b.state_dict()[k]) / 2, atol=1e-7), k
    assert not mid.training and mid is not a and mid is not b


def test_interpolate_does_not_touch_inputs():
    a, b = model(0), model(1)
    a0, b0 = copy.deepcopy(a), copy.deepcopy(b)
    interpolate(a, b, 0.3)
    assert states_equal(a, a0) and states_equal(b, b0)


@pytest.mark.parametrize("lam", [-0.1, 1.0001, float("nan"), "half"])
def test_lam_outside_unit_interval_raises(lam):
    with pytest.raises(MergeError, match="lam"):
        interpolate(model(0), model(1), lam)


def test_extrapolate_allows_lam_outside():
    a, b = model(0), model(1)
    out = interpolate(a, b, 2.0, extrapolate=True)
    w = a.fcs[0].weight
    assert torch.allclose(out.fcs[0].weight, 2 * w - b.fcs[0].weight, atol=1e-6)


@pytest.mark.parametrize("other", [dict(width=1 / 8), dict(variant="skip"), dict(n_classes=5)])
def test_architecture_mismatch_raises_naming_both(other):
    a, b = model(0), model(1, **other)
    with pytest.raises(MergeError, match="model_a .* vs model_b"):
        interpolate(a, b, 0.5)
    with pytest.raises(LmcError):
        merge_many([a, b])


def test_merge_many():
    ms = [model(s) for s in range(3)]
    assert states_equal(merge_many(ms, (1, 0, 0)), ms[0])
    avg = merge_many(ms)
    expect = sum(m.fcs[1].weight for m in ms) / 3
    assert torch.allclose(avg.fcs[1].weight, expect, atol=1e-7)
    half = merge_many(ms[:2], [0.5, 0.5])
    assert torch.allclose(half.fcs[1].weight, interpolate(ms[0], ms[1], 0.5).fcs[1].weight)
    for bad in ([0.5, 0.5, 0.5], [0.5, 0.5], [1.5, -0.5, 0.0], [float("nan"), 0.5, 0.5]):
        with pytest.raises(MergeError, match="weight"):
            merge_many(ms, bad)
    with pytest.raises(MergeError, match="at least 2"):
        merge_many(ms[:1])


def test_reset_bn_matches_batch_statistics(data):
    m = model(0, variant="bn")
    x = data.normalize(data.x_train)
    reset_bn(m, x, n_batches=1, batch_size=len(x))  # one batch = the whole (shuffled) set
    assert not m.training and all(bn.momentum == 0.1 for bn in m.bns)
    probe = copy.deepcopy(m).train()
    with torch.no_grad():
        layers = probe.readout(x)  # train mode: each BN normalises with these batch statistics
    for l, bn in enumerate(m.bns):
        z = layers[l].pre
        assert torch.allclose(bn.running_mean, z.mean(0), atol=1e-5), l
        assert torch.allclose(bn.running_var, z.var(0, unbiased=True), rtol=1e-4, atol=1e-6), l


def test_reset_bn_is_seeded_and_averages_batches(data):
    x = data.normalize(data.x_train)
    m1, m2, m3 = (reset_bn(model(0, variant="bn"), x, n_batches=4, batch_size=100, seed=s)
                  for s in (0, 0, 1))
    assert states_equal(m1, m2) and not states_equal(m1, m3)
    assert int(m1.bns[0].num_batches_tracked) == 4


def test_merged_model_resets_bn_on_the_same_images_as_the_curve(data):
    """One BN reset: merged_model's statistics are those of the curve's theta(1/2) for the same seed."""
    a, b = model(0, variant="bn"), model(1, variant="bn")
    c = curve(a, b, data, lams=3, bn_batches=2, bn_batch_size=100, seed=3)
    m = merged_model(a, b, 0.5, bn_data=data, bn_batches=2, bn_batch_size=100, seed=3)
    held_out = split_indices(len(data.y_test), 0.2, 3)[1]  # the curve measures acc on this part
    with torch.no_grad():
        pred = m(data.normalize(data.x_test)).argmax(1)
    acc = (pred == data.y_test)[held_out].double().mean().item()
    assert acc == pytest.approx(c.column("acc")[1], abs=1e-12)
    other = merged_model(a, b, 0.5, bn_data=data, bn_batches=2, bn_batch_size=100, seed=4)
    assert not torch.equal(other.bns[0].running_mean, m.bns[0].running_mean)  # the seed picks the images


def test_reset_bn_noop_and_bad_input(data):
    m = model(0)
    before = copy.deepcopy(m)
    assert reset_bn(m, data.normalize(data.x_train)) is m and states_equal(m, before)
    with pytest.raises(MergeError, match="normalize"):
        reset_bn(model(0, variant="bn"), data.x_train)


def test_lam_grid():
    g = lam_grid(11)
    assert g[0] == 0 and g[-1] == 1 and 0.5 in g and len(g) == 11
    assert lam_grid([0, 0.25, 1]).tolist() == [0, 0.25, 1]
    for bad in (1, [0, 1.5], [], True):
        with pytest.raises(MergeError):
            lam_grid(bad)


def test_curve_rows_and_protocol(data):
    a, b = model(0), model(1)
    c = curve(a, b, data, lams=11, n_eval=400)
    assert len(c) == 11 and np.allclose(c.column("lam"), np.linspace(0, 1, 11))
    assert set(c.rows[0]) == {"lam", "acc", "loss", "cal_loss", "beta", "inv_beta"}
    assert np.all((c.column("acc") >= 0) & (c.column("acc") <= 1))
    assert np.allclose(c.column("beta") * c.column("inv_beta"), 1)
    # endpoints are the models themselves, on the shared 20/80 split of the first 400 test images
    split = split_indices(400, 0.2, 0)
    with torch.no_grad():
        ref = calibrate(a(data.normalize(data.x_test[:400])), data.y_test[:400], split=split)
    assert c.rows[-1]["cal_loss"] == pytest.approx(ref["cal_loss"], rel=1e-6)
    assert c.rows[-1]["acc"] == pytest.approx(ref["acc"])
    with pytest.raises(MergeError, match="n_eval"):
        curve(a, b, data, n_eval=10**6)
    assert c.meta["n_eval"] == 400 and c.meta["n_calib"] == 80 and c.meta["build_kwargs"]["width"] == 1 / 16


@pytest.mark.parametrize("variant", ["plain", "bn"])
def test_curve_of_identical_models_is_flat(data, variant):
    a = model(0, variant=variant)
    c = curve(a, copy.deepcopy(a), data, lams=5, bn_batches=2, bn_batch_size=300,
              reset_endpoints=True)
    for col in ("acc", "loss", "cal_loss", "beta"):
        v = c.column(col)
        assert np.allclose(v, v[0], rtol=1e-4, atol=1e-6), col


def test_curve_with_weight_matching_perm_is_flat(data):
    a = model(0)
    spec = spec_for(a)
    b = apply_permutation(spec, a, random_permutation(spec, 3))
    perm, _ = weight_matching(spec, a, b)
    flat = curve(a, b, data, lams=3, perm=perm).column("loss")
    bumpy = curve(a, b, data, lams=3).column("loss")
    assert np.allclose(flat, flat[0], rtol=1e-5)
    assert abs(bumpy[1] - bumpy[0]) > 1e-3


def test_curve_serialisation(tmp_path, data):
    c = curve(model(0), model(1), data, lams=[0, 0.5, 1], meta=dict(seeds=(0, 1)))
    back = Curve.from_json(c.to_json())
    assert back.rows == c.rows and back.meta["seeds"] == [0, 1]
    c.to_csv(tmp_path / "c.csv")
    lines = (tmp_path / "c.csv").read_text().splitlines()
    assert lines[0] == "lam,acc,loss,cal_loss,beta,inv_beta" and len(lines) == 4
    assert json.loads(c.to_json())["rows"][1]["lam"] == 0.5
    with pytest.raises(MergeError, match="column"):
        c.column("nope")


def test_ensemble_logits(data):
    a, b = model(0), model(1)
    x = data.normalize(data.x_test[:50])
    with torch.no_grad():
        expect = (a(x) + b(x)) / 2
    assert torch.allclose(ensemble_logits([a, b], x, batch_size=16), expect, atol=1e-6)
    assert torch.allclose(ensemble_logits([a], x), a(x).detach(), atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_path(data):
    a, b = model(0, variant="bn").cuda(), model(1, variant="bn").cuda()
    spec = spec_for(a)
    perm, info = weight_matching(spec, a, b)
    assert info["distance_after"] <= info["distance_before"]
    cuda_data = Dataset("random", *(t.cuda() for t in (data.x_train, data.y_train, data.x_test,
                        data.y_test)), data.mean, data.std, 10, data.classes)
    c = curve(a, b, cuda_data, lams=3, perm=perm, bn_batches=2, bn_batch_size=100)
    assert len(c) == 3 and next(interpolate(a, b, 0.5).parameters()).is_cuda


def test_curve_in_bf16_is_close_to_fp32_and_says_so(data):
    a, b = model(0), model(1)
    full = curve(a, b, data, lams=3)
    half = curve(a, b, data, lams=3, precision="bf16")
    assert full.meta["precision"] == "fp32" and half.meta["precision"] == "bf16"
    assert not np.array_equal(full.column("loss"), half.column("loss"))
    np.testing.assert_allclose(half.column("loss"), full.column("loss"), atol=0.05)
