"""Warm-started exact assignment (lmc_lib.matching.warmlap) against scipy's linear_sum_assignment."""
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.matching import sparselap, warmlap
from lmc_lib.matching.assignment import AssignmentError


def optimum(cost):
    rows, cols = linear_sum_assignment(cost)
    return cost[rows, cols].sum()


def total(cost, x):
    return cost[np.arange(len(x)), x].sum()


def matrices(seed, n, steps, kind="normal"):
    """A start matrix and `steps` small changes of it, like one group's matrix across WM sweeps."""
    rng = np.random.default_rng(seed)
    if kind == "ties":  # few distinct integer values: many optimal assignments
        base = rng.integers(0, 4, (n, n)).astype(float)
        return [base] + [base + rng.integers(0, 2, (n, n)) * (rng.random((n, n)) < 0.05)
                         for _ in range(steps)]
    if kind == "lowrank":  # outer products plus noise: rows compete for the same columns
        a, b = rng.normal(size=(n, 3)), rng.normal(size=(3, n))
        base = a @ b + 0.01 * rng.normal(size=(n, n))
    else:
        base = rng.normal(size=(n, n))
    return [base] + [base + 0.05 * rng.normal(size=(n, n)) * (rng.random((n, n)) < 0.2)
                     for _ in range(steps)]


@pytest.mark.parametrize("kind", ["normal", "ties", "lowrank"])
@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_cold_sap_is_optimal_and_certified(kind, n):
    for seed in range(3):
        cost = matrices(seed, n, 0, kind)[0]
        x, v, stats = warmlap.sap(cost)
        assert sorted(x) == list(range(n))
        assert total(cost, x) == pytest.approx(optimum(cost), abs=1e-9)
        assert warmlap.certificate_gap(cost, x, v) <= 1e-9
        assert stats["free"] <= n


@pytest.mark.parametrize("kind", ["normal", "ties", "lowrank"])
def test_warm_sap_from_the_last_duals_is_optimal(kind):
    mats = matrices(1, 80, 6, kind)
    x, v, _ = warmlap.sap(mats[0])
    for cost in mats[1:]:
        x, v, stats = warmlap.sap(cost, v, x)
        assert total(cost, x) == pytest.approx(optimum(cost), abs=1e-9)
        assert warmlap.certificate_gap(cost, x, v) <= 1e-9
        assert stats["free"] < 80  # some rows kept their column


def test_warm_start_from_the_same_matrix_augments_nothing():
    cost = matrices(2, 50, 0)[0]
    x, v, _ = warmlap.sap(cost)
    x2, _, stats = warmlap.sap(cost, v, x)
    assert stats == dict(free=0, augmented=0, scans=0)
    assert np.array_equal(x, x2)


@pytest.mark.parametrize("kind", ["normal", "ties", "lowrank"])
def test_column_duals_certify_an_optimal_assignment(kind):
    for seed in range(3):
        cost = matrices(seed, 70, 0, kind)[0]
        x = linear_sum_assignment(cost)[1]
        v = warmlap.column_duals(cost, x)
        assert warmlap.certificate_gap(cost, x, v) <= 1e-9
        # the duals are a valid warm start: nothing to augment on the same matrix
        assert warmlap.sap(cost, v, x)[2]["free"] == 0


def test_column_duals_refuse_a_non_optimal_assignment():
    cost = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(AssignmentError, match="not optimal"):
        warmlap.column_duals(cost, np.array([1, 0]))


def test_certificate_gap_sees_a_suboptimal_assignment():
    cost = np.array([[0.0, 5.0], [5.0, 0.0]])
    v = np.zeros(2)
    assert warmlap.certificate_gap(cost, np.array([0, 1]), v) == 0
    assert warmlap.certificate_gap(cost, np.array([1, 0]), v) == pytest.approx(10.0)


@pytest.mark.parametrize("method", ["scipy", "auction"])
def test_warm_start_solver_maximises_like_scipy_over_a_sequence(method, warm_small):
    solver = warmlap.WarmStart(method, sparse=False)  # the dense way (the sparse: test_sparselap)
    for sim in matrices(3, 64, 5, "lowrank"):
        for key in ("h1", "h2"):
            p = solver.solve(key, torch.from_numpy(sim if key == "h1" else sim.T.copy()))
            s = sim if key == "h1" else sim.T
            assert total(s, p.numpy()) == pytest.approx(-optimum(-s), abs=1e-9)
    first = "priced" if method == "auction" else "cold"  # auction: prices, then the exact finish
    assert solver.stats[first] == 2 and solver.stats["warm"] == 10
    assert solver.stats["cold"] + solver.stats["priced"] == 2 and solver.stats["redone"] == 0


def test_sparse_warm_start_solver_maximises_like_scipy_over_a_sequence(warm_small):
    solver = warmlap.WarmStart("scipy", sparse=True)
    for sim in matrices(3, 64, 5, "lowrank"):
        p = solver.solve("h1", torch.from_numpy(sim))
        assert total(sim, p.numpy()) == pytest.approx(-optimum(-sim), abs=1e-9)
    stats = solver.stats  # first auction-priced, then warm; a solve that gave up went dense
    assert stats["priced"] + stats["cold"] == 1 and stats["warm"] == 5 and stats["redone"] == 0
    assert stats["sparse"] + stats["dense"] == 6 and stats["sparse"] > 0


@pytest.mark.parametrize("method,sparse", [("scipy", False), ("auction", False), ("scipy", True)])
def test_a_start_without_certificate_is_redone_cold(monkeypatch, warm_small, method, sparse):
    monkeypatch.setattr(warmlap, "GAP_TOLERANCE", -1.0)  # no started solve can pass the check
    monkeypatch.setattr(sparselap, "GAP_TOLERANCE", -1.0)  # nor a certified sparse one
    solver = warmlap.WarmStart(method, sparse=sparse)
    for sim in matrices(4, 30, 3):
        p = solver.solve("g", torch.from_numpy(sim))
        assert total(sim, p.numpy()) == pytest.approx(-optimum(-sim), abs=1e-9)
    redone = 4 if method == "auction" else 3  # the auction's priced first solve is redone too
    assert solver.stats == dict(cold=4, priced=0, warm=0, redone=redone, free=0, scans=0, sparse=0,
                                dense=4 if sparse else 0, rounds=0, restarted=0)


@pytest.mark.parametrize("kind", ["normal", "ties", "lowrank"])
def test_a_coarse_auction_start_is_finished_exactly(kind):
    cost = matrices(6, 90, 0, kind)[0]
    v, x = warmlap.auction_start(torch.from_numpy(-cost))  # maximises -cost
    assert sorted(x) == list(range(90))
    x2, v2, stats = warmlap.sap(cost, v, x)
    assert total(cost, x2) == pytest.approx(optimum(cost), abs=1e-9)
    assert warmlap.certificate_gap(cost, x2, v2) <= 1e-9
    assert stats["scans"] < warmlap.sap(cost)[2]["scans"]  # the prices shorten the paths


def test_small_matrices_are_solved_cold_without_state():
    solver = warmlap.WarmStart("scipy")
    for sim in matrices(5, 40, 2):
        p = solver.solve("g", torch.from_numpy(sim))
        assert total(sim, p.numpy()) == pytest.approx(-optimum(-sim), abs=1e-9)
    assert solver.stats["cold"] == 3 and solver.stats["warm"] == 0 and not solver.state
