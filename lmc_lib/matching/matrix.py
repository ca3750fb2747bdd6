"""The matrices assignment solvers take: checks and conversions, and the error a bad one raises."""
from __future__ import annotations

import numpy as np
import torch

from lmc_lib.core.utils import LmcError

__all__ = ["AssignmentError", "as_matrix", "as_tensor", "check_matrix"]


class AssignmentError(LmcError):
    """A linear assignment cannot be solved: bad method, missing solver, or a bad matrix."""


def check_matrix(t: torch.Tensor) -> int:
    """n of a square, finite matrix (on any device; one host sync); raise AssignmentError otherwise."""
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise AssignmentError(f"assignment needs a square matrix, got shape {tuple(t.shape)}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise AssignmentError("assignment matrix has NaN or infinite entries; remove them first")
    return t.shape[0]


def as_tensor(sim) -> torch.Tensor:
    """A torch tensor (detached) or numpy array / nested list as a tensor."""
    return sim.detach() if isinstance(sim, torch.Tensor) else torch.as_tensor(np.asarray(sim))


def as_matrix(sim, negate: bool = False) -> np.ndarray:
    """Square, finite float64 numpy matrix on the CPU (negated: a new array; else maybe a view)."""
    t = as_tensor(sim).to(device="cpu", dtype=torch.float64)
    check_matrix(t)
    return (-t if negate else t).contiguous().numpy()
