"""Tests for lmc_lib.matching.assignment: every solver finds scipy's optimum, ties included."""
import itertools

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment

from lmc_lib.core.utils import LmcError
from lmc_lib.matching import assignment
from lmc_lib.matching.assignment import AssignmentError, available_methods, objective, solve

METHODS = available_methods()


def scipy_best(sim, maximize=True) -> float:
    """The reference optimum."""
    rows, cols = linear_sum_assignment(sim, maximize=maximize)
    return float(np.asarray(sim)[rows, cols].sum())


def structured(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """Matrices with many tied optima."""
    rng = np.random.default_rng(seed)
    if kind == "constant":
        return np.full((n, n), 3.0)
    if kind == "small_ints":  # values 0..2: ties everywhere
        return rng.integers(0, 3, (n, n)).astype(float)
    if kind == "repeated_rows":  # pairs of identical rows: optimal columns can be swapped
        return np.repeat(rng.normal(size=(n // 2, n)), 2, axis=0)
    if kind == "block_diagonal":  # constant blocks: any perm inside the blocks is optimal
        return np.kron(np.eye(n // 4), np.ones((4, 4))) + 0.5 * np.kron(np.ones((n // 4, n // 4)), np.eye(4))
    if kind == "permuted_identity":
        return np.eye(n)[rng.permutation(n)] * 2.0 - 1.0
    raise ValueError(kind)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("maximize", [True, False])
@pytest.mark.parametrize("n", [1, 2, 17, 256])
def test_random_matrix_same_permutation_as_scipy(method, maximize, n):
    sim = np.random.default_rng(n).normal(size=(n, n))
    perm = solve(sim, maximize=maximize, method=method)
    ref = linear_sum_assignment(sim, maximize=maximize)[1]
    assert perm.dtype == torch.long
    assert np.array_equal(perm.numpy(), ref)  # a continuous matrix has one optimum
    assert objective(sim, perm) == pytest.approx(scipy_best(sim, maximize), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["constant", "small_ints", "repeated_rows", "block_diagonal",
                                  "permuted_identity"])
def test_ties_reach_the_optimum(method, kind):
    sim = structured(kind, 64)
    for maximize in (True, False):
        perm = solve(sim, maximize=maximize, method=method).numpy()
        assert np.array_equal(np.sort(perm), np.arange(64))
        assert objective(sim, perm) == scipy_best(sim, maximize)  # integer-valued sums: exact


@pytest.mark.parametrize("method", METHODS)
def test_brute_force_optimum_on_tiny_tied_matrices(method):
    rng = np.random.default_rng(5)
    for _ in range(20):
        sim = rng.integers(-2, 3, (5, 5)).astype(float)
        best = max(sum(sim[i, p[i]] for i in range(5)) for p in itertools.permutations(range(5)))
        assert objective(sim, solve(sim, method=method)) == best


@pytest.mark.parametrize("method", METHODS)
def test_weight_matching_like_matrix(method):
    g = torch.Generator().manual_seed(0)
    wa, wb = torch.randn(300, 200, generator=g, dtype=torch.float64), torch.randn(300, 200, generator=g)
    shuffle = torch.randperm(300, generator=g)
    sim = wa @ (wa[shuffle] + 0.5 * wb.double()).T  # b = a shuffled plus noise
    perm = solve(sim, method=method)
    assert torch.equal(perm, torch.as_tensor(linear_sum_assignment(sim.numpy(), maximize=True)[1]))
    assert (shuffle[perm] == torch.arange(300)).float().mean() > 0.9  # recovers the shuffle


def test_inputs_are_not_modified_and_torch_inputs_work():
    sim = np.random.default_rng(1).normal(size=(40, 40))
    keep = sim.copy()
    for method, maximize in itertools.product(METHODS, (True, False)):
        solve(sim, maximize=maximize, method=method)
        solve(torch.as_tensor(sim), maximize=maximize, method=method)
        assert np.array_equal(sim, keep)
    t = torch.as_tensor(sim, dtype=torch.float32)
    assert objective(sim, solve(t)) == pytest.approx(scipy_best(sim), rel=1e-5)
    assert solve(np.zeros((0, 0))).numel() == 0


def test_auto_prefers_lapx_and_falls_back_to_scipy(monkeypatch):
    assert assignment.resolve_method("auto") == ("lapjvr" if "lapjvr" in METHODS else "scipy")
    monkeypatch.setattr(assignment, "_lapx", lambda: None)
    assert available_methods() == ("scipy", "auction")  # auction needs only torch
    assert assignment.resolve_method("auto") == "scipy"
    sim = np.random.default_rng(2).normal(size=(30, 30))
    assert objective(sim, solve(sim)) == pytest.approx(scipy_best(sim), rel=1e-12)
    with pytest.raises(AssignmentError, match="lapx"):
        solve(sim, method="lapjvr")


def test_bad_inputs_raise():
    with pytest.raises(LmcError, match="'hungarian'"):
        solve(np.eye(3), method="hungarian")
    with pytest.raises(AssignmentError, match=r"\(3, 4\)"):
        solve(np.zeros((3, 4)))
    with pytest.raises(AssignmentError, match="NaN"):
        solve(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(AssignmentError, match="square"):
        solve(np.zeros(5))
