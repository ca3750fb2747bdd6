"""Time the linear-assignment solvers, weight matching and one 11-point curve for random-init MLPs.

Usage: python benchmarks/merge_speed.py [--sizes 512 2048 4096 8192] [--widths 1 2 4]
                                        [--methods scipy lapjvr] [--reference scipy|none]
                                        [--threads 1] [--no-curve]
Table 1: one assignment per solver on a weight-matching similarity S = W_a W_b^T (first layers,
784 inputs, of two random-init MLPs with n hidden units), float64. Table 2: weight matching of one
random-init MLP pair per width and solver (untrained models: the hardest case, most sweeps), the
speed-up over the reference solver (default scipy) measured in the same run, and an 11-point curve (real test set when on disk,
else synthetic data of MNIST's shape). Times are process CPU seconds (robust on a shared machine)
and wall seconds; on CUDA only wall time counts. On CUDA the default widths add 8 and 16.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import data as data_mod  # noqa: E402
from lmc_lib.core.models import build_model  # noqa: E402
from lmc_lib.core.utils import LmcError, resolve_device  # noqa: E402
from lmc_lib.lmc.merge import curve  # noqa: E402
from lmc_lib.matching import assignment  # noqa: E402
from lmc_lib.matching.perm import spec_for, weight_matching  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import sync  # noqa: E402


def get_data(name: str, device) -> tuple:
    """(Dataset, source): the real dataset if present, else synthetic uint8 data of MNIST's shape."""
    try:
        return data_mod.load(name, device=device), "real"
    except (LmcError, OSError, AttributeError):
        g = torch.Generator().manual_seed(0)
        x_tr = torch.randint(0, 256, (60000, 1, 28, 28), generator=g, dtype=torch.uint8)
        x_te = torch.randint(0, 256, (10000, 1, 28, 28), generator=g, dtype=torch.uint8)
        y_tr, y_te = torch.randint(0, 10, (60000,), generator=g), torch.randint(0, 10, (10000,), generator=g)
        ds = data_mod.Dataset("synthetic", *(t.to(device) for t in (x_tr, y_tr, x_te, y_te)),
                              (0.5,), (0.29,), 10, tuple(str(i) for i in range(10)))
        return ds, "synthetic"


def timed(fn, device) -> tuple:
    """(result, cpu seconds, wall seconds) of fn()."""
    sync(device)
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    sync(device)
    return out, time.process_time() - c, time.perf_counter() - w


def similarity(n: int, device) -> torch.Tensor:
    """S = W_a W_b^T of the first layers (784 -> n, PyTorch's default init) of two random MLPs."""
    torch.manual_seed(n)
    wa, wb = (torch.nn.Linear(784, n).weight.detach().to(device, torch.float64) for _ in range(2))
    return wa @ wb.T


def speed_ups(times: dict, ref: str | None) -> str:
    """'m 2.10x, ...': each method's speed-up over the reference (times: method -> seconds)."""
    if ref is None:
        return "-"
    return ", ".join(f"{m} {times[ref] / times[m]:.2f}x" for m in times if m != ref)


def bench_assignment(sizes, methods, device, ref: str | None) -> None:
    """Table 1: one solve per method and size, speed-up over the reference `ref` (CPU time;
    wall time on CUDA); every method must reach the best objective found."""
    print("| n | " + " | ".join(f"{m} cpu s (wall s)" for m in methods) + f" | speed-up over {ref} |")
    print("|---" * (len(methods) + 2) + "|")
    for n in sizes:
        sim, times, perms = similarity(n, device), {}, {}
        for m in methods:  # best of 3 below n = 4096
            repeats = 3 if n < 4096 else 1
            runs = [timed(lambda sim=sim, m=m: assignment.solve(sim, method=m), device) for _ in range(repeats)]
            perms[m], times[m] = runs[0][0], min((cpu, wall) for _, cpu, wall in runs)
        best = {m: assignment.objective(sim, p) for m, p in perms.items()}
        assert max(best.values()) - min(best.values()) <= 1e-9 * max(map(abs, best.values())), best
        ups = speed_ups({m: t[0] if device.type == "cpu" else t[1] for m, t in times.items()}, ref)
        print(f"| {n} | " + " | ".join(f"{c:.3f} ({w:.3f})" for c, w in times.values()) + f" | {ups} |",
              flush=True)


def bench_matching(width: float, methods, ds, device, with_curve: bool, ref: str | None) -> None:
    """Table 2 row: weight matching per solver (same permutation as `ref` checked), then an
    11-point curve."""
    torch.manual_seed(0)
    a = build_model("mlp", width).to(device).eval()
    b = build_model("mlp", width).to(device).eval()
    spec, cells, perms, times = spec_for(a), [], {}, {}
    for m in methods:
        (perms[m], info), cpu, wall = timed(lambda m=m: weight_matching(spec, a, b, seed=0, method=m), device)
        times[m] = cpu if device.type == "cpu" else wall
        cells.append(f"{cpu:.2f} ({wall:.2f})")
    same = "-" if ref is None else "yes" if all(
        torch.equal(perms[m][g], perms[ref][g]) for m in methods for g in spec.groups) else "NO"
    curve_s = float("nan")
    if with_curve:
        curve_s = timed(lambda: curve(a, b, ds, lams=11, perm=perms[methods[0]]), device)[2]
    print(f"| {width:g} | {a.fcs[0].out_features} | {info['iterations']} | {info['solves']} | "
          f"{info['distance_before']:.1f} -> {info['distance_after']:.1f} | " + " | ".join(cells)
          + f" | {speed_ups(times, ref)} | {same} | {curve_s:.2f} |", flush=True)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="*", default=[512, 1024, 2048, 4096])
    p.add_argument("--widths", type=float, nargs="*", default=None)
    p.add_argument("--methods", nargs="+", default=list(assignment.available_methods()),
                   help="solvers (lmc_lib.matching.assignment.METHODS; auto: what weight matching picks)")
    p.add_argument("--reference", default="scipy",
                   help="the solver the others are compared with (speed-up, same perm), or none")
    p.add_argument("--device", default="auto")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    p.add_argument("--no-curve", action="store_true", help="skip the 11-point curve")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ref = None if args.reference == "none" else args.reference
    methods = ([ref] if ref else []) + [m for m in dict.fromkeys(args.methods) if m != ref]
    for m in methods:
        assignment.resolve_method(m)  # an unknown or missing solver fails here, before any work
    warnings.filterwarnings("ignore", message="fitted beta hits")  # random-init models: beta -> bound
    device = resolve_device(args.device)
    widths = args.widths
    if widths is None:
        widths = [1, 2, 4] + ([8, 16] if device.type == "cuda" else [])
    ds, source = get_data(args.dataset, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name}), torch threads: {torch.get_num_threads()}, "
          f"data: {ds.name} ({source}), test n = {len(ds.y_test)}, solvers: {methods}, "
          f"load average {os.getloadavg()[0]:.1f} (timings are only comparable at low load)\n")
    tiny = build_model("mlp", 1 / 16)
    for m in methods:  # warm-up: first-call costs (imports, allocator) stay out of the tables
        weight_matching(spec_for(tiny), tiny, build_model("mlp", 1 / 16), method=m)
    if args.sizes:
        bench_assignment(args.sizes, methods, device, ref)
        print()
    if widths:
        print("| width | hidden | sweeps | solves | distance before -> after | "
              + " | ".join(f"WM {m} cpu s (wall s)" for m in methods)
              + f" | speed-up over {ref} | same perm | 11-pt curve (s) |")
        print("|---" * (len(methods) + 8) + "|")
        for w in widths:
            bench_matching(w, methods, ds, device, not args.no_curve, ref)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
