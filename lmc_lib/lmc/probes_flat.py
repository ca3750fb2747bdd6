"""Parameter-space probes: random-direction flatness and activation similarity (App D, Fig 12-14),
and the effective rank of weights (Roy & Vetterli 2007; Sec 5.4, weight decay).

Conventions as in probes.py: per-layer outputs are numpy float64 arrays; "hidden" layers are
l = 1..L-1 of `model.readout`; activations h_l are flattened per input over C*H*W. A direction is
a dict {parameter name: tensor} over all floating parameters (`named_parameters`: weights,
biases, BN affine weights), never the BN running statistics (buffers); after moving a BN net the
caller recomputes those statistics (pass `after_move=lambda m: merge.reset_bn(m, x_train)`).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lmc_lib.core.utils import generator
from lmc_lib.lmc.probes import ProbeError, _check_models, _cos_rows, _inference, _mean_rows


def _float_params(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's floating parameters by name (BN running stats are buffers, not included)."""
    return {n: p for n, p in model.named_parameters() if p.is_floating_point()}


def random_direction(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """App D: Gaussian direction u over all floating parameters, ||u|| = 1 (same on CPU and CUDA)."""
    g = generator(seed, "cpu")
    params = _float_params(model)
    u = {n: torch.randn(p.shape, generator=g, dtype=torch.float64) for n, p in params.items()}
    norm = math.sqrt(sum(float(t.pow(2).sum()) for t in u.values()))
    return {n: (t / norm).to(device=params[n].device, dtype=params[n].dtype) for n, t in u.items()}


def param_distance(model_a: nn.Module, model_b: nn.Module) -> float:
    """App D: d = ||theta_a - theta_b|| over all floating parameters."""
    _check_models((model_a, model_b))
    pa, pb = _float_params(model_a), _float_params(model_b)
    return math.sqrt(sum(float((pa[n].detach().double() - pb[n].detach().double()).pow(2).sum()) for n in pa))


def along_direction(model: nn.Module, direction: dict[str, torch.Tensor], t: float) -> nn.Module:
    """App D: a new model with theta + t * direction (buffers copied unchanged)."""
    params = _float_params(model)
    if set(direction) != set(params):
        raise ProbeError("direction does not match the model's parameters; "
                         "build it with random_direction(model) on the same architecture")
    moved = copy.deepcopy(model)
    with torch.no_grad():
        for n, p in _float_params(moved).items():
            p.add_(direction[n].to(p.device, p.dtype), alpha=float(t))
    return moved


def _accuracy_loss(model: nn.Module, x, y, batch_size: int) -> tuple[float, float]:
    """Test accuracy and mean cross-entropy of `model` on (x, y)."""
    device = next(model.parameters()).device
    correct, loss = 0.0, 0.0
    with _inference([model]):
        for i in range(0, len(x), batch_size):
            logits = model(x[i:i + batch_size].to(device)).float()
            yb = y[i:i + batch_size].to(device)
            correct += float((logits.argmax(1) == yb).sum())
            loss += float(F.cross_entropy(logits, yb, reduction="sum"))
    return correct / len(x), loss / len(x)


def flatness_curve(model_a: nn.Module, d: float, direction, x, y, ts=None,
                   after_move=None, batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Fig 12: accuracy and loss of theta_a + t d u for t in ts; after_move(m) may reset BN."""
    ts = np.linspace(0, 1, 11) if ts is None else ts
    acc, loss = [], []
    for t in ts:
        moved = along_direction(model_a, direction, float(t) * d)
        if after_move is not None:
            moved = after_move(moved) or moved
        a, l = _accuracy_loss(moved, x, y, batch_size)
        acc.append(a)
        loss.append(l)
    return {"t": np.asarray(ts, dtype=np.float64), "acc": np.asarray(acc), "loss": np.asarray(loss)}


def activation_cosine(model_1: nn.Module, model_2: nn.Module, x, batch_size: int = 500) -> np.ndarray:
    """Fig 13/14, hidden layers: mean over inputs of cos(h_l(x; model_1), h_l(x; model_2))."""
    def rows(l1, l2):
        return torch.stack([_cos_rows(a.out, b.out) for a, b in zip(l1[:-1], l2[:-1])], 1)
    return _mean_rows(rows, (model_1, model_2), x, batch_size)


def effective_rank(weight: torch.Tensor) -> float:
    """Roy & Vetterli 2007: exp(entropy of singular values / their sum); conv as [out, in*k*k]."""
    w = torch.as_tensor(weight).detach().reshape(weight.shape[0], -1).double().cpu()
    gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w  # the smaller Gram matrix
    sv = torch.linalg.eigvalsh(gram).clamp_min(0).sqrt()  # singular values, much faster than SVD
    if float(sv.sum()) == 0:
        return 0.0
    p = sv / sv.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def effective_ranks(model: nn.Module) -> np.ndarray:
    """Sec 5.4, all layers l = 1..L: effective rank of each weight layer's weight."""
    return np.asarray([effective_rank(m.weight) for m in model.weight_layers()], dtype=np.float64)
