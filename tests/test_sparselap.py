"""Certified sparse exact assignment (lmc_lib.matching.sparselap) against scipy's linear_sum_assignment."""
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.core.config import make_config
from lmc_lib.core.train import train
from lmc_lib.matching import perm, sparselap, warmlap
from lmc_lib.matching.matrix import AssignmentError
from lmc_lib.matching.similarity import Similarity

pytestmark = pytest.mark.skipif(not sparselap.available(), reason="numba is a dependency of lmc_lib")
KINDS = ("normal", "ties", "lowrank", "congested")


def matrix(kind, n, seed):
    """A similarity to maximise: i.i.d., tie-heavy, low-rank, or a few dominant columns."""
    rng = np.random.default_rng(seed)
    if kind == "ties":
        return rng.integers(0, 4, (n, n)).astype(float)
    if kind == "lowrank":
        return rng.normal(size=(n, 2)) @ rng.normal(size=(2, n)) + 0.01 * rng.normal(size=(n, n))
    S = rng.normal(size=(n, n))
    if kind == "congested":  # every row prefers the same few columns
        S[:, : max(1, n // 16)] += 4.0 + rng.random(max(1, n // 16))
    return S


def best(S):
    rows, cols = linear_sum_assignment(S, maximize=True)
    return S[rows, cols].sum()


def total(S, x):
    return S[np.arange(len(x)), x].sum()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 7, 60, 200])
def test_cold_solve_is_optimal_and_certified(kind, n):
    for seed in range(2):
        S = matrix(kind, n, seed)
        x, v, keys, stats = sparselap.solve(S, k=4, kc=2, max_fraction=1.0)  # the certificate adds
        assert sorted(x) == list(range(n))
        assert total(S, x) == pytest.approx(best(S), abs=1e-9)
        assert sparselap.certify(S, v, x, 1e-12)[0] <= 1e-9
        assert stats["entries"] == len(keys) <= n * n


@pytest.mark.parametrize("kind", KINDS)
def test_warm_solves_of_a_changing_matrix_are_optimal(kind):
    S = matrix(kind, 150, 3)
    x, v, keys, _ = sparselap.solve(S, max_fraction=1.0)
    rng = np.random.default_rng(4)
    for _ in range(5):  # small changes, like one group's matrix across weight-matching sweeps
        S = S + 0.1 * rng.normal(size=S.shape) * (rng.random(S.shape) < 0.2)
        x, v, keys, stats = sparselap.solve(S, v, x, keys, k=8, max_fraction=1.0)
        assert total(S, x) == pytest.approx(best(S), abs=1e-9)
    x2, _, _, stats = sparselap.solve(S, v, x, keys)  # the same matrix again: nothing to do
    assert np.array_equal(x, x2) and stats["free"] == 0 and stats["rounds"] == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_warm_start_that_guides_nothing_is_dropped_for_a_priced_one(kind):
    """A start from another matrix's solve (nearly every row violated) restarts from an auction's
    prices and reaches the optimum; a start of the same matrix slightly changed is kept."""
    S, other = matrix(kind, 150, 3), matrix(kind, 150, 9)
    x, v, keys, _ = sparselap.solve(other, max_fraction=1.0)
    found, _, _, stats = sparselap.solve(S, v, x, keys, max_fraction=1.0)
    assert stats["restarted"] == int(len(sparselap.certify(S, v, x, 0.0)[1]) > sparselap.WARM_RESTART * 150)
    assert total(S, found) == pytest.approx(best(S), abs=1e-9)
    x, v, keys, _ = sparselap.solve(S, max_fraction=1.0)
    S2 = S + 0.01 * np.random.default_rng(1).normal(size=S.shape)
    found, _, _, stats = sparselap.solve(S2, v, x, keys, max_fraction=1.0)
    assert stats["restarted"] == 0 and total(S2, found) == pytest.approx(best(S2), abs=1e-9)


def test_a_restart_happens_only_above_the_set_fraction(monkeypatch):
    S, other = matrix("normal", 150, 3), matrix("normal", 150, 9)
    x, v, keys, _ = sparselap.solve(other, max_fraction=1.0)
    violated = len(sparselap.certify(S, v, x, 1e-13 * np.abs(S).max())[1]) / 150
    assert violated > 0.5  # another matrix's duals: most rows miss their minimum
    for fraction, restarted in ((violated - 0.01, 1), (min(violated + 0.01, 1.0), 0)):
        monkeypatch.setattr(sparselap, "WARM_RESTART", fraction)
        found, _, _, stats = sparselap.solve(S, v, x, keys, max_fraction=1.0)
        assert stats["restarted"] == restarted and total(S, found) == pytest.approx(best(S), abs=1e-9)


def test_few_candidates_need_certificate_rounds_and_reach_the_optimum():
    S = matrix("congested", 120, 5)  # from the column maxima as duals: far from the optimum's
    x, _, keys, stats = sparselap.solve(S, -S.max(axis=0), None, k=1, kc=0, max_fraction=1.0)
    assert stats["rounds"] > 1 and len(keys) > 120 + 1  # violated rows added entries
    assert total(S, x) == pytest.approx(best(S), abs=1e-9)


def test_the_certificate_rejects_a_wrong_assignment():
    S = matrix("normal", 40, 6)
    x, v, _, _ = sparselap.solve(S)
    wrong = x.copy()
    wrong[[0, 1]] = wrong[[1, 0]]
    assert total(S, wrong) < total(S, x)
    gap, bad = sparselap.certify(S, v, wrong, 1e-12)
    assert gap >= total(S, x) - total(S, wrong) - 1e-9  # the bound covers the true loss
    assert set(bad) <= {0, 1} and len(bad) > 0
    assert sparselap.certify(S, v, x, 1e-12) == (pytest.approx(0.0, abs=1e-9), pytest.approx([]))


def test_the_solve_gives_up_when_the_candidate_set_may_not_grow():
    S = matrix("congested", 120, 5)
    assert sparselap.solve(S, -S.max(axis=0), None, k=1, kc=0, max_fraction=0.0) is None  # as above


@pytest.mark.parametrize("kind", KINDS)
def test_an_auction_stopped_by_its_bid_cap_still_ends_at_the_optimum(monkeypatch, kind):
    S = matrix(kind, 80, 9)
    monkeypatch.setattr(sparselap, "AUCTION_BIDS", 0.5)  # 40 bids: rows are left without a column
    v, x, bids = sparselap.priced_start(S, float(S.max() - S.min()))
    assert bids == 40 and (x < 0).any()
    x, _, _, stats = sparselap.solve(S, max_fraction=1.0)
    assert total(S, x) == pytest.approx(best(S), abs=1e-9) and stats["bids"] == 40


def test_a_bad_matrix_is_refused():
    S = matrix("normal", 5, 0)
    S[2, 3] = np.nan
    with pytest.raises(AssignmentError, match="NaN"):
        sparselap.solve(S)


def test_warm_start_falls_back_to_the_dense_solve_when_forced(monkeypatch, warm_small):
    monkeypatch.setattr(sparselap, "MAX_FRACTION", 0.0)
    monkeypatch.setattr(sparselap, "K_ROW", 1)
    monkeypatch.setattr(sparselap, "K_COL", 0)
    solver, rng = warmlap.WarmStart("scipy", sparse=True), np.random.default_rng(7)
    S = matrix("congested", 100, 8)
    for _ in range(3):
        S = S + rng.normal(size=S.shape)
        p = solver.solve("g", torch.from_numpy(S))
        assert total(S, p.numpy()) == pytest.approx(best(S), abs=1e-9)
    assert solver.stats["dense"] > 0 and solver.stats["sparse"] < 2
    assert solver.stats["warm"] == 2 and solver.stats["redone"] == 0


@pytest.fixture(scope="module")
def trained_pair(one_thread):
    """Two tiny MLPs trained on Fashion-MNIST in the smoke profile (different seeds)."""
    return [train(make_config("smoke", "fashion_mnist", "mlp", 1 / 4, seed=s, n_train=1024),
                  device="cpu", progress=False)[0] for s in (0, 1)]


def test_similarities_of_a_trained_pair(trained_pair):
    a, b = trained_pair
    spec = perm.spec_for(a)
    names = sorted(spec.param_names)
    sims = Similarity(spec, *(perm._state64(m, names, "cpu") for m in (a, b)))
    for group in sorted(spec.groups):
        S = sims.get(group, perm.identity_permutation(spec))[0].numpy()
        x, v, _, _ = sparselap.solve(S, k=4, kc=2, max_fraction=1.0)
        assert total(S, x) == pytest.approx(best(S), rel=1e-12, abs=1e-12)


def test_weight_matching_of_a_trained_pair_is_the_same_with_sparse_solves(trained_pair, warm_small):
    a, b = trained_pair
    spec = perm.spec_for(a)
    dense, info_d = perm.weight_matching(spec, a, b, seed=1, sparse=False)
    sparse, info_s = perm.weight_matching(spec, a, b, seed=1, sparse=True)
    assert all(torch.equal(dense[g], sparse[g]) for g in spec.groups)
    assert info_s["distance_after"] == pytest.approx(info_d["distance_after"], rel=1e-12)
    warm = info_s["warm"]  # every solve tried sparse; at 128 units some give up (MAX_FRACTION)
    assert warm["sparse"] > 0 and warm["sparse"] + warm["dense"] == info_s["solves"]
    assert info_d["warm"]["sparse"] == 0


def test_the_plan_estimates_weight_matching_for_the_chapters_that_use_it():
    from lmc_lib.chapters import plan
    from lmc_lib.chapters.experiment import Setup

    def seconds(line):  # the estimate, back in seconds
        value, unit = line.split("\u2248 ")[1].split(" on one")[0].split()
        return float(value) * {"s": 1, "min": 60, "h": 3600, "d": 86400}[unit]

    narrow, wide = (Setup.from_params(profile="smoke", device="cpu", widths=ws) for ws in ([4.0], [4.0, 16.0]))
    assert seconds(plan.wm_line(["02", "08"], wide)) > seconds(plan.wm_line(["02", "08"], narrow))
    assert seconds(plan.wm_line(["02", "08"], narrow)) > seconds(plan.wm_line(["08"], narrow))
    assert "none" in plan.wm_line(["04"], wide) and "none" in plan.wm_line(["02"], wide, ["none"])
    assert "estimate" in plan.wm_line(["03"], wide)
