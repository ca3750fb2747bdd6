"""Time weight matching and one 11-point interpolation curve for random-init MLPs (784 inputs).

Usage: python benchmarks/merge_speed.py [--widths 1 2 4] [--device auto] [--dataset fashion_mnist]
Uses the real test set when it is on disk (lmc_lib.data.load), else a synthetic Dataset of the
same shape (10000 test images, 28x28). Prints a markdown table. On CUDA the default widths add 16.
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
from lmc_lib import data as data_mod  # noqa: E402
from lmc_lib.merge import curve  # noqa: E402
from lmc_lib.models import build_model  # noqa: E402
from lmc_lib.perm import spec_for, weight_matching  # noqa: E402
from lmc_lib.utils import LmcError, resolve_device  # noqa: E402


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


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(width: float, ds, device) -> dict:
    """Seconds for weight matching and for an 11-point curve at one width."""
    torch.manual_seed(0)
    a = build_model("mlp", width).to(device).eval()
    b = build_model("mlp", width).to(device).eval()
    spec = spec_for(a)
    sync(device)
    t0 = time.perf_counter()
    perm, info = weight_matching(spec, a, b, seed=0)
    sync(device)
    t1 = time.perf_counter()
    c = curve(a, b, ds, lams=11, perm=perm)
    sync(device)
    t2 = time.perf_counter()
    return dict(width=width, hidden=a.fcs[0].out_features, wm_s=t1 - t0, sweeps=info["iterations"],
                dist=f"{info['distance_before']:.1f} -> {info['distance_after']:.1f}",
                curve_s=t2 - t1, acc_half=c.rows[5]["acc"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--widths", type=float, nargs="+", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="fitted beta hits")  # random-init models: beta -> bound
    device = resolve_device(args.device)
    widths = args.widths or ([1, 2, 4, 16] if device.type == "cuda" else [1, 2, 4])
    ds, source = get_data(args.dataset, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device: {device} ({name}), torch threads: {torch.get_num_threads()}, "
          f"data: {ds.name} ({source}), test n = {len(ds.y_test)}, "
          f"load average {os.getloadavg()[0]:.1f} (timings are only comparable at low load)\n")
    print("| width | hidden | WM time (s) | WM sweeps | distance before -> after | "
          "11-pt curve (s) | acc(1/2) |")
    print("|---|---|---|---|---|---|---|")
    for w in widths:
        r = bench(w, ds, device)
        print(f"| {r['width']:g} | {r['hidden']} | {r['wm_s']:.2f} | {r['sweeps']} | {r['dist']} | "
              f"{r['curve_s']:.2f} | {r['acc_half']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
