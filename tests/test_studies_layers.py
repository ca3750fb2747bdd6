"""Studies of chapters 4-6 (LEWC, weak additivity, reciprocal orthogonality): smoke runs and verdicts."""
import json
import math

import numpy as np
import pytest

from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.studies import ch04, ch05, ch06

WIDTHS = [0.25, 0.5, 1.0]


@pytest.fixture(scope="module")
def smoke(_smoke_dirs):
    """The smoke setup with the shared session cache; the three studies run once per module."""
    cache, results = _smoke_dirs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LMC_CACHE", str(cache))
        mp.setenv("LMC_RESULTS", str(results))
        setup = Setup.from_params(profile="smoke", device="cpu")
        yield setup, dict(ch04=ch04.run(setup), ch05=ch05.run(setup, dims=(10, 100), mc_elements=20000),
                          ch06=ch06.run(setup))


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    return Setup.from_params(profile="smoke", device="cpu")


def _in(values, lo, hi):
    arr = np.asarray(values, dtype=float)
    return arr.size > 0 and np.all((arr >= lo - 1e-9) & (arr <= hi + 1e-9))


def test_ch04_run_has_one_entry_per_width_and_valid_values(smoke):
    setup, res = smoke
    r = res["ch04"]
    json.dumps(r)
    assert r["widths"] == list(setup.widths) and r["layers"] == [1, 2, 3, 4]
    assert set(r["per_width"]) == {str(w) for w in setup.widths}
    for w in setup.widths:
        entry = r["per_width"][str(w)]
        assert np.shape(entry["cos"]) == (setup.n_pairs, 4) and _in(entry["cos"], -1, 1)
        assert np.all(np.asarray(entry["norm_merged"]) > 0)
        assert np.all(np.asarray(entry["norm_lewc"]) <= np.asarray(r["prediction"]) + 1e-9)
    assert set(r["per_width"][str(setup.widths[-1])]["general"]) == {"0.25", "0.5", "0.75"}
    scale = r["per_width"][str(setup.widths[0])]["general"]["0.25"]["scale"]
    assert np.all(np.asarray(scale) > 0)


def test_ch05_run_has_gaussian_limits_and_per_layer_values(smoke):
    setup, res = smoke
    r = res["ch05"]
    json.dumps(r)
    assert r["hidden"] == [1, 2, 3]
    assert r["gaussian"]["limit"]["0.5"] == pytest.approx(0.9304, abs=1e-4)
    assert r["gaussian"]["mc"]["0.5"][-1] == pytest.approx(0.9304, abs=0.03)
    for w in setup.widths:
        e = r["per_width"][str(w)]
        assert np.shape(e["wa"]) == (setup.n_pairs, 3) and _in(e["wa"], -1, 1)
        for key in ("small", "overlap", "overlap_wm", "active"):
            assert _in(e[key], 0, 1), key
        assert sum(e["hist"]["counts"][1]) == round(512 * w)
        assert np.shape(e["rank"]) == (1, 4) and np.all(np.asarray(e["rank"]) >= 1)


def test_ch06_run_ratios_and_cosines_in_range(smoke):
    setup, res = smoke
    r = res["ch06"]
    json.dumps(r)
    assert r["layers"] == [2, 3, 4]
    for w in setup.widths:
        e = r["per_width"][str(w)]
        assert np.shape(e["ro_ab"]) == (setup.n_pairs, 3)
        assert np.all(np.asarray(e["ro_ab"]) >= 0) and np.all(np.asarray(e["ro_ba"]) >= 0)
        assert _in(e["cos_a"], -1, 1) and _in(e["cos_b"], -1, 1)


def _per_width(make):
    """per_width dict with two pairs, values from make(width index)."""
    return {str(w): {k: [v, v] for k, v in make(i).items()} for i, w in enumerate(WIDTHS)}


def _ch04_result(good: bool, widths=WIDTHS):
    pred = [1, 0.5, 0.25, 0.125]
    def make(i):
        c = 0.8 + 0.09 * i if good else 0.98 - 0.1 * i
        norm = [p * 1.1 for p in pred] if good else [1.0, 1.0, 1.1, 1.2]
        return dict(cos=[c] * 4, norm_merged=norm, norm_lewc=pred)
    per = _per_width(make)
    return dict(widths=widths, layers=[1, 2, 3, 4], prediction=pred, arch="mlp", variant="plain",
                per_width={str(w): per[str(w)] for w in widths})


def _ch05_result(good: bool, widths=WIDTHS):
    def make(i):
        s = 1 if good else -1
        return dict(wa=[0.9 + s * 0.03 * i] * 3, small=[0.8 if good else 0.1] * 3,
                    tiny=[0.8 if good else 0.1] * 3,
                    overlap=[0.6 - s * 0.2 * i] * 3, overlap_wm=[0.9 if good else 0.1] * 3,
                    active=[0.2] * 3)
    per = _per_width(make)
    return dict(widths=widths, hidden=[1, 2, 3], bins=20, gaussian_limit=0.9304,
                gaussian={"mc": {"0.5": [0.93]}}, per_width={str(w): per[str(w)] for w in widths})


def _ch06_result(good: bool, widths=WIDTHS):
    def make(i):
        s = 1 if good else -1
        r, c = 0.5 - s * 0.2 * i, 0.8 + s * 0.09 * i
        return dict(ro_ab=[r] * 3, ro_ba=[r] * 3, cos_a=[c] * 3, cos_b=[c] * 3)
    per = _per_width(make)
    return dict(widths=widths, layers=[2, 3, 4], per_width={str(w): per[str(w)] for w in widths})


@pytest.mark.parametrize("mod, make", [(ch04, _ch04_result), (ch05, _ch05_result), (ch06, _ch06_result)])
def test_verdicts_follow_the_numbers(mod, make, setup, tmp_path):
    good = mod.verdicts(make(True), setup)
    bad = mod.verdicts(make(False), setup)
    assert [v["verdict"] for v in good] == ["reproduced"] * len(good)
    assert [v["verdict"] for v in bad] == ["not reproduced"] * len(bad)
    written = {p.name for p in (tmp_path / "smoke").glob("C*.json")}
    assert written == {f"{v['claim']}_{v['chapter']}_{v['dataset']}.json" for v in good}
    one = mod.verdicts(make(True, widths=[1.0]), setup)
    trend_claims = {"C4", "C5", "C7"}  # C6's core is read at the widest width (the trend is not core)
    assert all(v["verdict"] == "inconclusive" for v in one if v["claim"] in trend_claims)
    assert all(v["verdict"] == "partly" for v in one if v["claim"] == "C6")


def test_c11_is_not_judged_for_batchnorm_nets(setup):
    res = dict(_ch04_result(True), variant="bn")
    c11 = [v for v in ch04.verdicts(res, setup) if v["claim"] == "C11"][0]
    assert c11["verdict"] == "not run"


def test_overlap_counts_shared_active_units():
    s_a = [np.array([10.0, 10.0, 0.1, 0.1])]
    assert ch05.overlap(s_a, [np.array([10.0, 10.0, 0.1, 0.1])], 0.9) == [1.0]
    assert ch05.overlap(s_a, [np.array([0.1, 0.1, 10.0, 10.0])], 0.9) == [0.0]
    assert math.isnan(ch05.overlap([np.zeros(3)], [np.ones(3)], 0.9)[0])
