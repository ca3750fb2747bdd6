"""Tests for lmc_lib.lmc.barriers (Def 2.1: loss and accuracy barriers) on hand-computed curves."""
import numpy as np
import pytest

from lmc_lib.core.utils import LmcError
from lmc_lib.lmc.barriers import BarrierError, accuracy_barrier, barrier_curve, loss_barrier, summarize

LAMS = np.linspace(0, 1, 11)


class FakeCurve:
    """Duck-typed stand-in for merge.Curve: only .column(name)."""

    def __init__(self, **cols):
        self.cols = cols

    def column(self, name):
        return list(self.cols[name])


def test_linear_curve_has_zero_barrier():
    vals = 2.0 + 3.0 * LAMS
    out = loss_barrier(LAMS, vals)
    assert out["half"] == pytest.approx(0, abs=1e-12)
    assert out["max"] == pytest.approx(0, abs=1e-12)


def test_convex_curve_below_chord():
    # L = (lam - 0.5)^2 + 1: endpoints 1.25, chord 1.25, L(1/2) = 1 -> raw half = -0.25, max = 0.
    vals = (LAMS - 0.5) ** 2 + 1
    out = loss_barrier(LAMS, vals)
    assert out["half"] == pytest.approx(-0.25)
    assert out["max"] == 0.0


def test_bump_on_linear_baseline():
    # baseline 1 + lam, plus a tent of height 0.7 peaking at 1/2
    vals = 1 + LAMS + 0.7 * (1 - 2 * np.abs(LAMS - 0.5))
    out = loss_barrier(LAMS, vals)
    assert out["half"] == pytest.approx(0.7)
    assert out["max"] == pytest.approx(0.7)


def test_asymmetric_endpoints_and_off_centre_peak():
    # L(0)=2 (theta_b), L(1)=1 (theta_a); chord(lam) = 2 - lam.
    lams = [0.0, 0.25, 0.5, 0.75, 1.0]
    vals = [2.0, 2.5, 1.9, 1.25, 1.0]
    # barriers: 0, 2.5-1.75=0.75, 1.9-1.5=0.4, 1.25-1.25=0, 0
    out = loss_barrier(lams, vals)
    assert out["half"] == pytest.approx(0.4)
    assert out["max"] == pytest.approx(0.75)
    assert barrier_curve(lams, vals) == pytest.approx([0, 0.75, 0.4, 0, 0])


def test_lam_one_is_model_a():
    # swapping which endpoint is lam = 1 mirrors the curve; the barrier at 1/4 moves to 3/4
    lams = [0.0, 0.25, 0.5, 0.75, 1.0]
    b = barrier_curve(lams, [1.0, 3.0, 2.0, 2.0, 5.0])
    # chord = 1 + 4 lam: 1, 2, 3, 4, 5
    assert b == pytest.approx([0, 1, -1, -2, 0])


def test_accuracy_dip():
    # Acc(0)=0.9, Acc(1)=0.8; chord at 1/2 = 0.85; Acc(1/2)=0.6 -> barrier 0.25
    lams = [0.0, 0.25, 0.5, 0.75, 1.0]
    accs = [0.9, 0.8, 0.6, 0.75, 0.8]
    # chord: 0.9, 0.875, 0.85, 0.825, 0.8 -> barriers 0, 0.075, 0.25, 0.075, 0
    out = accuracy_barrier(lams, accs)
    assert out["half"] == pytest.approx(0.25)
    assert out["max"] == pytest.approx(0.25)
    assert barrier_curve(lams, accs, "accuracy") == pytest.approx([0, 0.075, 0.25, 0.075, 0])


def test_accuracy_above_chord_is_negative_half_zero_max():
    out = accuracy_barrier([0, 0.5, 1], [0.8, 0.9, 0.8])
    assert out["half"] == pytest.approx(-0.1)
    assert out["max"] == 0.0


def test_curve_object():
    c = FakeCurve(lam=[0, 0.5, 1], loss=[1.0, 3.0, 1.0], cal_loss=[1.0, 1.5, 1.0],
                  acc=[0.9, 0.5, 0.9])
    assert loss_barrier(c) == pytest.approx({"half": 0.5, "max": 0.5})  # default: cal_loss
    assert loss_barrier(c, which="loss") == pytest.approx({"half": 2.0, "max": 2.0})
    assert loss_barrier(c, "loss") == pytest.approx({"half": 2.0, "max": 2.0})
    assert accuracy_barrier(c) == pytest.approx({"half": 0.4, "max": 0.4})
    with pytest.raises(BarrierError, match="not both"):
        loss_barrier(c, [1, 2, 3])


@pytest.mark.parametrize("lams, vals, match", [
    ([0.0, 0.25, 0.75, 1.0], [1, 2, 2, 1], "0.5 is not on the grid"),
    ([0.0, 0.5], [1, 2], "from 0 to 1"),
    ([0.5, 1.0], [1, 2], "from 0 to 1"),
    ([0.0, 0.5, 1.0, 1.2], [1, 2, 1, 1], "from 0 to 1"),
    ([-0.1, 0.0, 0.5, 1.0], [1, 1, 2, 1], "from 0 to 1"),
    ([0.0, 1.0, 0.5], [1, 1, 2], "strictly increasing"),
    ([0.0, 0.5, 0.5, 1.0], [1, 2, 2, 1], "strictly increasing"),
    ([0.0, 0.5, 1.0], [1, np.nan, 1], "not finite"),
    ([0.0, 0.5, 1.0], [1, 2, np.inf], "not finite"),
    ([0.0, 0.5, 1.0], [1, 2], "equal length"),
    ([0.0, np.nan, 1.0], [1, 2, 1], "finite"),
])
def test_errors(lams, vals, match):
    for f in (loss_barrier, accuracy_barrier):
        with pytest.raises(BarrierError, match=match):
            f(lams, vals)


def test_error_type_and_missing_values():
    assert issubclass(BarrierError, LmcError)
    with pytest.raises(BarrierError, match="values missing"):
        loss_barrier([0, 0.5, 1])
    with pytest.raises(BarrierError, match="kind"):
        barrier_curve([0, 0.5, 1], [1, 2, 1], "bogus")


def test_summarize():
    assert summarize([1.0, 2.0, 3.0]) == pytest.approx({"mean": 2.0, "std": 1.0, "n": 3})  # ddof=1
    assert summarize([0.5]) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert summarize(np.array([2.0, 4.0]))["std"] == pytest.approx(np.sqrt(2))
    with pytest.raises(BarrierError, match="at least one"):
        summarize([])
    with pytest.raises(BarrierError, match="non-finite"):
        summarize([1.0, np.nan])
