"""Tests for lmc_lib.matching.auction and its use as assignment method "auction" (on the CPU here)."""
import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.matching import assignment
from lmc_lib.matching.assignment import AssignmentError, objective, solve
from lmc_lib.matching.auction import EPS_START_DIVISOR, RELATIVE_EPS, auction, eps_schedule


def scipy_perm(sim: np.ndarray, maximize: bool = True) -> np.ndarray:
    return linear_sum_assignment(sim, maximize=maximize)[1]


@pytest.mark.parametrize("maximize", [True, False])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 300])
def test_random_matrices_match_scipy(n, maximize):
    sim = np.random.default_rng(n).normal(size=(n, n))
    stats = {}
    perm = auction(torch.as_tensor(sim), maximize=maximize, stats=stats)
    assert perm.dtype == torch.long
    ref = scipy_perm(sim, maximize)
    bound = n * np.ptp(sim) * RELATIVE_EPS / n  # n * eps_final
    assert abs(objective(sim, perm) - objective(sim, ref)) <= bound + 1e-12
    assert np.array_equal(perm.numpy(), ref)  # continuous entries: one optimum, well separated
    assert n == 1 or stats["rounds"] >= 1


def test_float32_and_integer_inputs():
    sim = np.random.default_rng(3).integers(-5, 6, (40, 40))
    best = objective(sim, scipy_perm(sim))
    assert objective(sim, auction(torch.as_tensor(sim))) == best
    assert objective(sim, auction(torch.as_tensor(sim, dtype=torch.float32))) == best


@pytest.mark.parametrize("seed", range(4))
def test_integer_ties_reach_the_exact_optimum(seed):
    rng = np.random.default_rng(seed)
    sim = rng.integers(0, 4, (50, 50)).astype(float) * 10.0 + 1e6  # ties, far from zero
    for maximize in (True, False):
        perm = solve(sim, maximize=maximize, method="auction").numpy()
        assert np.array_equal(np.sort(perm), np.arange(50))
        assert objective(sim, perm) == objective(sim, scipy_perm(sim, maximize))


def test_weight_matching_like_matrix_recovers_the_shuffle():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 100, generator=g)
    shuffle = torch.randperm(400, generator=g)
    sim = a @ (a[shuffle] + 0.3 * torch.randn(400, 100, generator=g)).T
    perm = solve(sim, method="auction")
    assert torch.equal(shuffle[perm], torch.arange(400))
    assert np.array_equal(perm.numpy(), scipy_perm(sim.double().numpy()))


def test_bad_matrices_raise():
    with pytest.raises(AssignmentError, match=r"\(3, 4\)"):
        auction(torch.zeros(3, 4))
    with pytest.raises(AssignmentError, match="NaN"):
        auction(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    with pytest.raises(AssignmentError, match="square"):
        solve(np.zeros(5), method="auction")
    with pytest.raises(AssignmentError, match="eps_final"):
        auction(torch.eye(3), eps_final=0.0)


def test_edge_cases():
    assert solve(np.zeros((0, 0)), method="auction").numel() == 0
    assert torch.equal(auction(torch.full((5, 5), 2.0)), torch.arange(5))  # constant: any perm
    assert torch.equal(solve(torch.eye(3)[[2, 0, 1]], method="auction"), torch.tensor([2, 0, 1]))


def test_max_rounds_exceeded_raises():
    sim = torch.as_tensor(np.random.default_rng(0).normal(size=(64, 64)))
    with pytest.raises(AssignmentError, match="max_rounds=3"):
        auction(sim, max_rounds=3)


def test_eps_schedule_shrinks_to_eps_final():
    eps = eps_schedule(100.0, 1e-6)
    assert eps[0] == 100.0 / EPS_START_DIVISOR and eps[-1] == 1e-6
    assert all(b < a for a, b in zip(eps, eps[1:]))


def test_env_override_of_auto(monkeypatch):
    monkeypatch.setenv("LMC_ASSIGNMENT", "scipy")
    assert assignment.resolve_method("auto") == "scipy"
    monkeypatch.setenv("LMC_ASSIGNMENT", "auction")
    assert assignment.resolve_method("auto") == "auction"
    assert assignment.resolve_method("lapjvr" if "lapjvr" in assignment.available_methods()
                                     else "scipy") != "auction"  # explicit methods win
    sim = np.random.default_rng(1).normal(size=(20, 20))
    assert np.array_equal(solve(sim).numpy(), scipy_perm(sim))
    monkeypatch.setenv("LMC_ASSIGNMENT", "hungarian")
    with pytest.raises(AssignmentError, match="LMC_ASSIGNMENT='hungarian'.*auction"):
        assignment.resolve_method("auto")
    monkeypatch.setenv("LMC_ASSIGNMENT", "")
    assert assignment.resolve_method("auto") in assignment.AUTO_ORDER


def test_lapx_import_failure_of_any_kind_means_no_lapx(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "lap":
            raise ValueError("numpy.dtype size changed, may indicate binary incompatibility")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", broken)
    assert assignment._lapx() is None
    assert assignment.available_methods() == ("scipy", "auction")

