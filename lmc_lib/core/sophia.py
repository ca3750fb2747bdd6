"""SophiaG (Liu et al. 2023, Alg. 1 with the Gauss-Newton-Bartlett estimator), as an optimizer.

The update, per parameter, at every step (g = gradient of the minibatch loss):
    theta <- theta * (1 - lr * weight_decay)                  (decoupled weight decay)
    m     <- beta1 * m + (1 - beta1) * g
    theta <- theta - lr * clip(m / max(rho * bs * h, eps), 1)   (clip to [-1, 1])
and, every k steps, after a backward pass of the cross-entropy against labels sampled from the
model's own softmax (g_hat = that gradient; see `train.py`), `update_hessian()`:
    h     <- beta2 * h + (1 - beta2) * g_hat * g_hat
so bs * h is the GNB estimate of the diagonal Gauss-Newton matrix for a batch of bs samples.

This follows the official implementation (github.com/Liuhong99/Sophia, repackaged on PyPI as
`sophia-opt` 0.2.2: one untested file with `bs` passed to every `step()`); it is written out here
so the rule is tested and the batch size lives in the optimizer's settings.
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from lmc_lib.core.utils import LmcError

HESSIAN_INTERVAL = 10  # k: steps between two refreshes of the hessian estimate


class SophiaG(Optimizer):
    """SophiaG: sign-like clipped update m / max(rho * bs * h, eps) with a GNB hessian EMA h."""

    def __init__(self, params, lr=1e-4, betas=(0.965, 0.99), rho=0.04, weight_decay=0.1,
                 bs=512, eps=1e-15):
        if not lr >= 0 or not rho >= 0 or not weight_decay >= 0 or not bs >= 1:
            raise LmcError(f"SophiaG needs lr, rho, weight_decay >= 0 and bs >= 1; got lr={lr}, "
                           f"rho={rho}, weight_decay={weight_decay}, bs={bs}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise LmcError(f"SophiaG betas must lie in [0, 1); got {betas}")
        defaults = dict(lr=lr, betas=tuple(betas), rho=rho, weight_decay=weight_decay, bs=bs, eps=eps)
        super().__init__(params, defaults)

    def _state(self, p: torch.Tensor) -> dict:
        """The state of `p`, created (zero m and h) on first use."""
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["hessian"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def update_hessian(self):
        """h <- beta2 h + (1 - beta2) g_hat^2, with g_hat the current .grad (sampled-label loss)."""
        for group in self.param_groups:
            beta2 = group["betas"][1]
            for p in group["params"]:
                if p.grad is not None:
                    self._state(p)["hessian"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)

    @torch.no_grad()
    def step(self, closure=None):
        """One SophiaG step on the current .grad (the true-label minibatch gradient)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, beta1 = group["lr"], group["betas"][0]
            scale = group["rho"] * group["bs"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state(p)
                state["step"] += 1
                m = state["exp_avg"]
                p.mul_(1 - lr * group["weight_decay"])
                m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                denom = (state["hessian"] * scale).clamp_(min=group["eps"])
                p.add_((m / denom).clamp_(-1.0, 1.0), alpha=-lr)
        return loss
