"""Small shared helpers: devices, seeds, a temporary environment variable, the library's error type."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]  # the repository root (lmc_lib is installed editable)


class LmcError(ValueError):
    """An error the user can cause and fix (bad name, bad value, missing file)."""


def build_dir() -> Path:
    """The build folder: $LMC_BUILD (tests build elsewhere) or <repo>/_build, absolute."""
    return Path(os.environ.get("LMC_BUILD") or REPO / "_build").absolute()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn "auto" / "cpu" / "cuda" / torch.device into a torch.device ("auto": cuda when present)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise LmcError(f"device={device!r} asked for CUDA but no GPU is visible; use 'cpu' or 'auto'")
    return torch.device(device)


def generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator seeded with `seed` on `device`."""
    g = torch.Generator(device=resolve_device(device))
    g.manual_seed(int(seed))
    return g


@contextlib.contextmanager
def env_set(name: str, value: str | None):
    """$name = value inside the block (None: left as it is), restored (or removed) after it."""
    previous = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def jsonable(x, digits: int | None = None):
    """Tensors, numpy values, tuples and dicts -> plain JSON types, recursively (floats rounded to
    `digits` when given); anything else -> its str()."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = x.item() if x.numel() == 1 else x.tolist()
    if isinstance(x, dict):
        return {str(k): jsonable(v, digits) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [jsonable(v, digits) for v in x]
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if digits is None else round(float(x), digits)
    return x if isinstance(x, str) or x is None else str(x)
