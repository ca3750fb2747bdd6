"""Estimated against actual training time: the plan's cost model (lmc_lib.core.cost, the rate of
this process's calibration) against train.train's measured wall time, for MLPs over batch sizes
and widths, optionally while other processes load the machine.

For every (batch, width) one model is trained on Fashion-MNIST (`--n-train` images, `--epochs`);
the estimate is computed before, from the calibration only (no cached wall times). Prints a table
with estimate, actual and their ratio, and the load average at the start and end of each row.

Usage: python benchmarks/estimate_check.py [--batches 64 128 256 512] [--widths 0.125 0.25 0.5 1 2 4]
                                           [--n-train 60000] [--epochs 1] [--load 0] [--device cpu]
`--load N` starts N busy processes (pure Python loops, nice 10) for the whole run: artificial load.
A tiny run: --batches 128 512 --widths 0.125 0.5 --n-train 8192.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.core import cost, train  # noqa: E402
from lmc_lib.core.config import make_config  # noqa: E402


def _spin() -> None:
    os.nice(10)
    while True:
        pass


def _load_avg() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def row(batch: int, width: float, args, rate: cost.Rate) -> str:
    """One measured row: estimate before training, then the trainer's wall time."""
    c = make_config("cpu", "fashion_mnist", "mlp", width).replace(
        batch_size=batch, epochs=args.epochs, n_train=args.n_train)
    estimate, before = rate.seconds(c), _load_avg()
    t0 = time.perf_counter()
    _, metrics = train.train(c, device=args.device, progress=False)
    actual = metrics.get("wall_time_s") or time.perf_counter() - t0
    return (f"| {batch} | {width:g} | {cost.steps(c)} | {estimate:.2f} | {actual:.2f} | "
            f"{actual / estimate:.2f} | {before} / {_load_avg()} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 128, 256, 512])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25, 0.5, 1, 2, 4])
    ap.add_argument("--n-train", type=int, default=60000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--load", type=int, default=0, help="busy processes started for the run")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    spinners = [mp.Process(target=_spin, daemon=True) for _ in range(args.load)]
    for p in spinners:
        p.start()
    try:
        rate = cost.calibrate(args.device)
        print(f"rate: {rate.describe()}; artificial load: {args.load} busy processes; "
              f"load average at start {_load_avg()}")
        print("| batch | width | steps | estimate s | actual s | actual / estimate | load before / after |")
        print("|---|---|---|---|---|---|---|")
        for batch in args.batches:
            for width in args.widths:
                print(row(batch, width, args, rate), flush=True)
    finally:
        for p in spinners:
            p.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
