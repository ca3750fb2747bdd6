"""Tests for lmc_lib.lmc.calibrate (Sec 3.1: inverse temperature and calibrated loss)."""
import numpy as np
import pytest
import torch

from lmc_lib.core.utils import LmcError
from lmc_lib.lmc.calibrate import (
    CalibrationError,
    CalibrationWarning,
    accuracy,
    calibrate,
    calibrated_loss,
    cross_entropy,
    fit_inverse_temperature,
    split_indices,
)


def synthetic(beta_true, n=20000, k=10, seed=0):
    """Logits z ~ N(0, 1) and labels DRAWN from softmax(beta_true * z)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, k))
    p = np.exp(beta_true * z - (beta_true * z).max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random((n, 1))
    y = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), k - 1)
    return z, y


@pytest.mark.parametrize("beta_true", [0.5, 2.0, 5.0])
def test_recovers_known_temperature(beta_true):
    z, y = synthetic(beta_true, seed=int(beta_true * 10))
    beta = fit_inverse_temperature(z, y)
    assert beta == pytest.approx(beta_true, rel=0.04)


def test_fit_is_the_minimum():
    z, y = synthetic(2.0, n=5000)
    beta = fit_inverse_temperature(z, y)
    best = calibrated_loss(z, y, beta)
    for f in (0.97, 1.03):
        assert best <= calibrated_loss(z, y, beta * f)


def test_torch_and_numpy_agree_and_float32_ok():
    z, y = synthetic(2.0, n=3000)
    b_np = fit_inverse_temperature(z, y)
    b_t = fit_inverse_temperature(torch.tensor(z, dtype=torch.float32), torch.tensor(y))
    assert b_t == pytest.approx(b_np, rel=1e-4)
    assert cross_entropy(torch.tensor(z), torch.tensor(y)) == pytest.approx(cross_entropy(z, y))
    ce_torch = torch.nn.functional.cross_entropy(torch.tensor(z), torch.tensor(y)).item()
    assert cross_entropy(z, y) == pytest.approx(ce_torch, rel=1e-10)


def test_accuracy_unchanged_by_beta():
    z, y = synthetic(2.0, n=4000)
    acc = accuracy(z, y)
    assert acc == pytest.approx(np.mean(z.argmax(1) == y))
    for beta in (0.01, 0.5, 3.0, 100.0):
        assert accuracy(beta * z, y) == acc


def test_calibrated_loss_not_above_uncalibrated_on_fit_split():
    for beta_true, scale in ((2.0, 0.25), (0.5, 4.0), (1.0, 1.0)):
        z, y = synthetic(beta_true, n=4000)
        zs = scale * z
        beta = fit_inverse_temperature(zs, y)
        assert calibrated_loss(zs, y, beta) <= cross_entropy(zs, y) + 1e-12
        assert calibrated_loss(zs, y, 1.0) == pytest.approx(cross_entropy(zs, y))


def test_shrunk_logits_give_beta_above_one():
    z, y = synthetic(2.0, n=4000)
    assert fit_inverse_temperature(z / 4, y) == pytest.approx(8.0, rel=0.1)


@pytest.mark.parametrize("c", [0.1, 3.0, 17.0])
def test_scale_equivariance(c):
    z, y = synthetic(1.5, n=4000)
    assert fit_inverse_temperature(c * z, y) == pytest.approx(fit_inverse_temperature(z, y) / c, rel=1e-4)


def test_separable_data_warns_and_returns_bound():
    z = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    y = np.array([0, 1, 0])
    with pytest.warns(CalibrationWarning, match="upper bound"):
        assert fit_inverse_temperature(z, y, bounds=(1e-2, 50.0)) == 50.0


def test_anti_correlated_logits_warn_at_lower_bound():
    z, y = synthetic(2.0, n=2000)
    with pytest.warns(CalibrationWarning, match="lower bound"):
        assert fit_inverse_temperature(-z, y, bounds=(0.5, 10.0)) == 0.5


@pytest.mark.parametrize("logits, labels, match", [
    (np.zeros((0, 3)), np.zeros(0, dtype=int), "empty"),
    (np.zeros((4, 3)), np.zeros(5, dtype=int), "mismatch"),
    (np.eye(3), np.array([0, 1, 3]), "0..2"),
    (np.eye(3), np.array([0, -1, 2]), "0..2"),
    (np.ones((3, 1)), np.zeros(3, dtype=int), "K >= 2"),
    (np.array([[0.0, np.nan], [1.0, 0.0]]), np.array([0, 1]), "non-finite"),
    (np.array([[0.0, np.inf], [1.0, 0.0]]), np.array([0, 1]), "non-finite"),
    (np.zeros(3), np.zeros(3, dtype=int), r"\[N, K\]"),
    (np.eye(3), np.array([0.0, 1.0, 2.0]), "integer"),
    (np.ones((3, 3)), np.array([0, 1, 2]), "constant"),
])
def test_degenerate_inputs_raise(logits, labels, match):
    with pytest.raises(CalibrationError, match=match):
        fit_inverse_temperature(logits, labels)


def test_bad_arguments_raise():
    z, y = synthetic(1.0, n=100)
    assert issubclass(CalibrationError, LmcError)
    with pytest.raises(CalibrationError, match="bounds"):
        fit_inverse_temperature(z, y, bounds=(2.0, 1.0))
    with pytest.raises(CalibrationError, match="beta"):
        calibrated_loss(z, y, 0.0)
    with pytest.raises(CalibrationError, match="non-finite"):
        accuracy(np.full((2, 2), np.nan), np.array([0, 1]))


def test_split_indices_disjoint_covering_seeded():
    fit, ev = split_indices(1000, 0.2, seed=3)
    assert len(fit) == 200 and len(ev) == 800
    assert np.intersect1d(fit, ev).size == 0
    assert np.array_equal(np.sort(np.concatenate([fit, ev])), np.arange(1000))
    fit2, ev2 = split_indices(1000, 0.2, seed=3)
    assert np.array_equal(fit, fit2) and np.array_equal(ev, ev2)
    fit3, _ = split_indices(1000, 0.2, seed=4)
    assert not np.array_equal(fit, fit3)
    assert not np.array_equal(fit, np.arange(200))  # random, not the first 20%


def test_split_indices_sizes_and_errors():
    assert [len(p) for p in split_indices(2, 0.2)] == [1, 1]
    assert [len(p) for p in split_indices(10, 0.99)] == [9, 1]
    assert [len(p) for p in split_indices(10, 0.25)] == [3, 7]  # round half up: 2.5 -> 3
    for n in (0, 1):
        with pytest.raises(CalibrationError, match="n >= 2"):
            split_indices(n)
    for frac in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(CalibrationError, match="frac"):
            split_indices(10, frac)


def test_calibrate_protocol():
    z, y = synthetic(2.0, n=5000)
    zs = z / 3  # under-confident logits: beta should be about 6
    out = calibrate(zs, y, frac=0.2, seed=1)
    assert set(out) == {"beta", "inv_beta", "loss", "cal_loss", "acc"}
    fit, ev = split_indices(5000, 0.2, seed=1)
    assert out["beta"] == pytest.approx(fit_inverse_temperature(zs[fit], y[fit]))
    assert out["inv_beta"] == pytest.approx(1 / out["beta"])
    assert out["beta"] == pytest.approx(6.0, rel=0.1)
    assert out["loss"] == pytest.approx(cross_entropy(zs[ev], y[ev]))
    assert out["cal_loss"] == pytest.approx(calibrated_loss(zs[ev], y[ev], out["beta"]))
    assert out["acc"] == pytest.approx(accuracy(zs[ev], y[ev]))
    assert out["cal_loss"] < out["loss"]


def test_calibrate_with_shared_split():
    z, y = synthetic(2.0, n=2000)
    split = split_indices(2000, 0.3, seed=7)
    a = calibrate(torch.tensor(z), torch.tensor(y), split=split)
    b = calibrate(z, y, frac=0.3, seed=7)
    assert a == pytest.approx(b)
    with pytest.raises(CalibrationError, match="overlap"):
        calibrate(z, y, split=(np.arange(10), np.arange(5, 20)))
    with pytest.raises(CalibrationError, match="empty"):
        calibrate(z, y, split=(np.arange(10), np.array([], dtype=int)))
    with pytest.raises(CalibrationError, match="0..1999"):
        calibrate(z, y, split=(np.arange(10), np.array([2000])))


def test_bound_warning_names_the_module_not_a_local_source_path():
    import warnings

    import lmc_lib.lmc.calibrate as cal

    z = np.array([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fit_inverse_temperature(z, np.array([0, 1, 0]), bounds=(1e-2, 50.0))
    shown = warnings.formatwarning(seen[0].message, seen[0].category, seen[0].filename,
                                   seen[0].lineno, seen[0].line)
    assert shown.startswith("lmc_lib.lmc.calibrate:") and "upper bound 50.0" in shown
    assert cal.__file__ not in shown and ".py" not in shown and "\n " not in shown
