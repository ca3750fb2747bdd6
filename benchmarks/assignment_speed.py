"""Time lmc_lib.matching.assignment.solve per method on weight-matching-like similarity matrices.

Usage: python benchmarks/assignment_speed.py [--sizes 1024 2048 4096 8192] [--methods auction lapjvr]
                                             [--kinds planted random] [--device auto] [--json PATH]
Matrices S = A @ B.T with A a random [n, 784] float32 matrix and B either A with its rows shuffled
plus noise ("planted": the optimum recovers the shuffle, like matching trained models) or an
independent random matrix ("random": like random-init models, the hardest case). Each solve runs
on --device (auto: cuda when available; only "auction" runs there, the other solvers copy to the
CPU), timed in wall seconds with CUDA synchronised, after one untimed warm-up solve. The gap is
the objective's shortfall from the best method's, relative to its magnitude (should be ~0).
Default methods: auction, lapjvr when lapx is installed, scipy for n <= 4096.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core.utils import resolve_device  # noqa: E402
from lmc_lib.matching import assignment  # noqa: E402
from lmc_lib.matching.auction import auction  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import sync  # noqa: E402

FEATURES = 784  # inputs of the first layer of an MNIST MLP
SCIPY_MAX_N = 4096  # scipy takes minutes beyond this


def similarity(kind: str, n: int, device: torch.device, seed: int = 0) -> torch.Tensor:
    """float32 S = A @ B.T on device, B planted (A shuffled plus noise) or independent random."""
    g = torch.Generator().manual_seed(seed + n)
    a = torch.randn(n, FEATURES, generator=g)
    if kind == "planted":
        b = a[torch.randperm(n, generator=g)] + torch.randn(n, FEATURES, generator=g)
    elif kind == "random":
        b = torch.randn(n, FEATURES, generator=g)
    else:
        raise ValueError(f"unknown matrix kind {kind!r}")
    return (a.to(device) @ b.to(device).T).contiguous()


def timed_solve(sim: torch.Tensor, method: str) -> tuple:
    """(perm, wall seconds, auction rounds or None) of one solve of sim."""
    stats = {}
    sync(sim.device)
    start = time.perf_counter()
    if method == "auction":  # direct call: same work as solve(), plus the round count
        perm = auction(sim, stats=stats).cpu()
    else:
        perm = assignment.solve(sim, method=method)
    sync(sim.device)
    return perm, time.perf_counter() - start, stats.get("rounds")


def default_methods() -> list:
    """auction, plus lapjvr when lapx is installed, plus scipy (limited to n <= SCIPY_MAX_N)."""
    return ["auction"] + [m for m in ("lapjvr", "scipy") if m in assignment.available_methods()]


def bench(sizes, kinds, methods, device, json_path) -> None:
    """Print one table row per (n, kind, method); append the rows as JSON lines to json_path."""
    print("| n | matrix | method | seconds | rounds | objective gap |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        for kind in kinds:
            sim, rows = similarity(kind, n, device), []
            for method in methods:
                if method == "scipy" and n > SCIPY_MAX_N:
                    continue
                timed_solve(sim[:64, :64], method)  # warm-up: imports, kernels, allocator
                perm, seconds, rounds = timed_solve(sim, method)
                rows.append(dict(n=n, matrix=kind, method=method, seconds=seconds, rounds=rounds,
                                 objective=assignment.objective(sim, perm), device=str(device)))
            best = max(r["objective"] for r in rows)
            for r in rows:
                r["gap"] = (best - r["objective"]) / max(abs(best), 1e-300)
                print(f"| {n} | {kind} | {r['method']} | {r['seconds']:.3f} | {r['rounds'] or '-'} | "
                      f"{r['gap']:.1e} |", flush=True)
                if json_path:
                    with open(json_path, "a") as f:
                        f.write(json.dumps(r) + "\n")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    p.add_argument("--kinds", nargs="+", default=["planted", "random"], choices=["planted", "random"])
    p.add_argument("--methods", nargs="+", default=None, help="default: " + " ".join(default_methods()))
    p.add_argument("--device", default="auto", help="auto (cuda when available), cpu, cuda, cuda:1, ...")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--json", default=None, metavar="PATH", help="append one JSON line per row")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    methods = args.methods or default_methods()
    print(f"device: {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"methods: {methods}\n")
    bench(args.sizes, args.kinds, methods, device, args.json)


if __name__ == "__main__":
    main()
