"""A training step replayed from one CUDA graph: no per-kernel launch cost for small models.

Small MLPs on a GPU are launch-bound: a stacked step is a few dozen small kernels, and the host
takes longer to launch them than the GPU to run them. `graphed(step)` runs the first WARMUP
calls eagerly (real training steps, on a side stream, so cuBLAS, autograd and the optimiser's
lazily created state exist before capture), captures the next call into a CUDA graph and from
then on copies each call's inputs into the graph's static buffers and replays it. The kernels are
the same, so the weights are those of the eager loop (checked on a GPU by
tests/test_train_group.py::test_cuda_graph_step_equals_eager).

A step can be captured only if it has no host synchronisation and nothing in it changes between
calls on the host side: `usable` allows Adam/AdamW (fused, capturable: the step counter lives
on the device) with a constant learning rate. Set LMC_CUDA_GRAPHS=0 to train eagerly.
"""
from __future__ import annotations

import os

import torch

from lmc_lib.core.config import TrainConfig

ENV = "LMC_CUDA_GRAPHS"
WARMUP = 3
OPTIMIZERS = ("adam", "adamw")


def enabled() -> bool:
    """False when $LMC_CUDA_GRAPHS is "0" (the escape hatch), else True."""
    return os.environ.get(ENV, "1") != "0"


def usable(config: TrainConfig, dev: torch.device) -> bool:
    """True when a step of `config` on `dev` can be captured (CUDA, Adam/AdamW, constant lr)."""
    return (dev.type == "cuda" and enabled() and config.optimizer in OPTIMIZERS
            and config.schedule == "none" and config.warmup_epochs == 0)


def graphed(step, warmup: int = WARMUP):
    """`step(*tensors) -> tuple of tensors`, replayed from a CUDA graph after `warmup` eager calls.

    The returned outputs of a replay are the graph's static tensors: use or copy them before the
    next call (stream order makes an immediate `losses[i] = out` safe).
    """
    state = dict(calls=0, graph=None, inputs=None, outputs=None)
    side = torch.cuda.Stream()

    def run(*args):
        if state["graph"] is None and state["calls"] < warmup:
            state["calls"] += 1
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                out = step(*args)
            torch.cuda.current_stream().wait_stream(side)
            return out
        if state["graph"] is None:
            state["inputs"] = [a.clone() for a in args]
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                state["outputs"] = step(*state["inputs"])
            state["graph"] = graph
        else:
            for buf, a in zip(state["inputs"], args):
                buf.copy_(a)
        state["graph"].replay()
        return state["outputs"]
    return run
