"""Studies of chapters 7-9 (weight decay, commutativity, flatness): smoke runs and verdict logic."""
import math

import numpy as np
import pytest

from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.studies import ch07, ch08, ch09

WIDTHS = (1 / 16, 1 / 4)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """A smoke setup (1 pair) with a private model cache and results folder for this module."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LMC_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("LMC_RESULTS", str(tmp_path_factory.mktemp("results")))
    yield Setup.from_params(profile="smoke", n_pairs=1, device="cpu")
    mp.undo()


def _finite_in(values, lo, hi):
    arr = np.asarray(values, dtype=float)
    return bool(np.all(np.isfinite(arr)) and np.all(arr >= lo) and np.all(arr <= hi))


# ----------------------------------------------------------------------------- smoke runs
def test_ch07_run_in_the_smoke_profile(smoke):
    result = ch07.run(smoke)
    assert result["width"] == 1 / 4 and result["weight_decays"] == [0.0, 3e-3]
    for wd in result["weight_decays"]:
        r = result["per_wd"][str(wd)]
        assert len(r["acc"]) == 1 and len(r["acc"][0]) == 11
        assert len(r["lewc"][0]) == 4 and len(r["weak_additivity"][0]) == 3
        assert len(r["ro_ratio"][0]) == 3 and len(r["eff_rank"][0]) == 4
        assert _finite_in(r["lewc"], -1, 1) and _finite_in(r["weak_additivity"], 0, 1)
        assert _finite_in(r["eff_rank_rel"], 0, 1 + 1e-9) and _finite_in(r["acc"], 0, 1)
    assert ch07.verdicts(result, smoke)[0]["claim"] == "C8"


def test_ch07_uses_the_given_width_and_values(smoke):
    result = ch07.run(smoke, wd_width=1 / 16, wd_values=[3e-3])
    assert result["width"] == 1 / 16 and list(result["per_wd"]) == ["0.003"]
    assert ch07.verdicts(result, smoke)[0]["verdict"] == "inconclusive"


def test_ch08_run_in_the_smoke_profile(smoke):
    result = ch08.run(smoke)
    assert result["widths"] == list(WIDTHS) and result["layers"] == [2, 3, 4]
    for m in ("none", "wm"):
        assert set(result[m]) == {str(w) for w in WIDTHS}
        assert all(_finite_in(result[m][str(w)], 0, math.inf) for w in WIDTHS)
    before, after = result["wm_distance"][str(WIDTHS[-1])][0]
    assert after <= before + 1e-9  # WM never increases the distance it minimises


def test_ch09_run_in_the_smoke_profile(smoke):
    result = ch09.run(smoke, ts=5)
    assert result["t"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for w in WIDTHS:
        p = result["per_width"][str(w)]
        assert p["d"][0] > 0 and len(p["cos_b"][0]) == 3
        assert _finite_in(p["rand_acc"], 0, 1) and _finite_in(p["cos_random"], -1, 1)
        assert p["rand_acc"][0][0] == pytest.approx(p["path_acc"][0][0])  # both start at theta_a
    assert ch09.verdicts(result, smoke)[0]["claim"] == "C12"


def test_ch09_path_ends_at_model_b(smoke):
    a, b = smoke.pairs(WIDTHS[0])[0]
    from lmc_lib.lmc import probes_flat

    moved = probes_flat.along_direction(a, ch09.direction_to(a, b), probes_flat.param_distance(a, b))
    for (n, p), q in zip(moved.named_parameters(), b.parameters()):
        assert np.allclose(p.detach().numpy(), q.detach().numpy(), atol=1e-5), n


# ----------------------------------------------------------------------------- verdict logic
def _wd_result(kind: str) -> dict:
    """good: everything improves as weight decay grows and LMC holds at the main weight decay
    (accuracy barrier 1 pp); bad: LMC holds there, but nothing improves with weight decay; no_lmc:
    the good trends, with the accuracy barrier still 15 pp at the main weight decay."""
    wds = [0.0, 1e-4, 1e-3, 3e-3]
    k = -np.arange(4) if kind == "bad" else np.arange(4)
    acc = {"good": 0.16 - 0.05 * k, "bad": np.full(4, 0.01), "no_lmc": 0.3 - 0.05 * k}[kind]

    def per_wd(i):
        return dict(acc_barrier=[acc[i]] * 2, cal_barrier=[0.5 - 0.1 * k[i]] * 2,
                    end_acc=[0.85] * 2, lewc=[[0.6 + 0.1 * k[i]] * 4] * 2,
                    weak_additivity=[[0.9 + 0.02 * k[i]] * 3] * 2, ro_ratio=[[0.8 - 0.1 * k[i]] * 3] * 2,
                    eff_rank=[[100 - 10 * k[i]] * 4] * 2, eff_rank_rel=[[0.5 - 0.05 * k[i]] * 4] * 2)
    return dict(width=0.5, weight_decays=wds, per_wd={str(w): per_wd(i) for i, w in enumerate(wds)})


def _comm_result(none_widest: float, wm_factor: float) -> dict:
    widths = [0.25, 0.5, 1.0]
    none = {str(w): [[none_widest + 0.1 * (1 - w)] * 3] * 2 for w in widths}
    wm = {str(w): [[v * wm_factor for v in row] for row in none[str(w)]] for w in widths}
    return dict(widths=widths, layers=[2, 3, 4], none=none, wm=wm)


def _flat_result(good: bool) -> dict:
    widths, out = [0.25, 0.5, 1.0], {}
    for i, w in enumerate(widths):
        end = 0.5 + 0.15 * i if good else 0.8 - 0.15 * i
        out[str(w)] = dict(rand_acc=[[0.85, 0.7, end]] * 2, path_acc=[[0.85, 0.6, 0.84]] * 2,
                           cos_random=[[0.95] * 3] * 2, cos_b=[[0.4 if good else 0.9] * 3] * 2)
    return dict(widths=widths, t=[0, 0.5, 1], per_width=out)


@pytest.fixture
def judge_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    return Setup.from_params(profile="smoke", device="cpu")


@pytest.mark.parametrize("kind, verdict", [("good", "reproduced"), ("bad", "not reproduced"),
                                           ("no_lmc", "inconclusive")])
def test_ch07_verdicts(judge_setup, kind, verdict):
    rec = ch07.verdicts(_wd_result(kind), judge_setup)[0]
    assert rec["verdict"] == verdict
    if kind == "no_lmc":  # the trends hold, but "weak weight decay breaks LMC" needs LMC first
        assert "cannot be tested here" in rec["sentences"][-1]


@pytest.mark.parametrize("none, factor, verdict", [(0.95, 0.15, "reproduced"),
                                                   (0.95, 0.4, "not reproduced"),  # WM: 0.38 > 0.2
                                                   (0.95, 0.95, "not reproduced"),  # WM's half fails
                                                   (0.3, 2.0, "not reproduced")])
def test_ch08_verdicts(judge_setup, none, factor, verdict):
    assert ch08.verdicts(_comm_result(none, factor), judge_setup)[0]["verdict"] == verdict


@pytest.mark.parametrize("good, verdict", [(True, "reproduced"), (False, "not reproduced")])
def test_ch09_verdicts(judge_setup, good, verdict):
    assert ch09.verdicts(_flat_result(good), judge_setup)[0]["verdict"] == verdict


def test_one_width_is_inconclusive(judge_setup):
    flat = _flat_result(True)
    flat["widths"] = [1.0]
    assert ch09.verdicts(flat, judge_setup)[0]["verdict"] == "inconclusive"
