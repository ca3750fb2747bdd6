"""The stacked MLP training loop in fp32 and under bf16 autocast, against this machine's own matmul
peaks (fp32 and bf16), measured in one run.

For each width, k seeds of the cpu profile's MLP recipe train as one stacked model
(`lmc_lib.core.train_group`, the trainer the book's MLPs go through) once for a short and once for
a longer run; the difference of the two wall times over the difference of their optimiser steps is
the marginal time of one step (data loading set-up, model initialisation and the test-set
evaluation cancel out). FLOPs per step: 6 x multiply-accumulates x batch x k (forward MACs from the
weight matrices; backward = 2 x forward). The peaks are the best of many [n, n] @ [n, n] products
in each dtype on the same threads, so "fraction of bf16 peak" is the training loop's bf16 GFLOP/s
over the bf16 product's.

    python benchmarks/bf16_speed.py [--widths 1 2 4] [--k 6] [--steps 8 24] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import train, train_group  # noqa: E402
from lmc_lib.core.config import make_config  # noqa: E402


def mm_peak(dtype, n: int = 2048, repeats: int = 20) -> float:
    """GFLOP/s of the best of `repeats` [n, n] @ [n, n] products in `dtype` (2 n^3 flops each)."""
    a, b = (torch.randn(n, n).to(dtype) for _ in range(2))
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def macs_per_sample(config, data) -> int:
    """Forward multiply-accumulates of one sample through the MLP (its weight matrices)."""
    model = train.init_model(config, data)
    return sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2)


def group_seconds(width: float, k: int, steps: int, precision: str, data) -> float:
    """Wall seconds of training k seeds stacked for `steps` optimiser steps (one epoch)."""
    configs = [make_config("cpu", "fashion_mnist", "mlp", width, seed=s, epochs=1,
                           n_train=512 * steps, precision=precision) for s in range(k)]
    start = time.perf_counter()
    train_group.train_group(configs, device="cpu", progress=False, data=data)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    parser.add_argument("--k", type=int, default=6, help="seeds per stacked group (the book: 6)")
    parser.add_argument("--steps", type=int, nargs=2, default=[8, 24], help="short and long run")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    base = make_config("cpu", "fashion_mnist", "mlp", 1.0)
    data = train.prepare_data(base, torch.device("cpu"))
    peaks = {"fp32": mm_peak(torch.float32), "bf16": mm_peak(torch.bfloat16)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"matmul peaks (best [2048, 2048] product): fp32 {peaks['fp32']:.0f} GFLOP/s, "
          f"bf16 {peaks['bf16']:.0f} GFLOP/s ({peaks['bf16'] / peaks['fp32']:.2f}x)\n")
    print("| w | precision | ms per step (k models) | GFLOP/s | of fp32 peak | of bf16 peak | "
          "bf16 speed-up |")
    print("|---|---|---|---|---|---|---|")
    short, long_ = args.steps
    for w in args.widths:
        flops = 6 * macs_per_sample(make_config("cpu", "fashion_mnist", "mlp", w), data) * 512 * args.k
        per_step = {}
        for precision in ("fp32", "bf16"):
            t_short = group_seconds(w, args.k, short, precision, data)
            t_long = group_seconds(w, args.k, long_, precision, data)
            per_step[precision] = (t_long - t_short) / (long_ - short)
        for precision, secs in per_step.items():
            rate = flops / secs / 1e9
            gain = f"{per_step['fp32'] / secs:.2f}x" if precision == "bf16" else ""
            print(f"| {w:g} | {precision} | {secs * 1e3:.0f} | {rate:.0f} | "
                  f"{rate / peaks['fp32']:.0%} | {rate / peaks['bf16']:.0%} | {gain} |", flush=True)
    print(f"\nload average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
