"""Weight matching of TRAINED pairs with and without warm-started assignments (lmc_lib.warmlap).

Usage: python benchmarks/warm_assignment.py [--profile cpu] [--dataset mnist] [--widths 1 2]
                                            [--pairs 1] [--method auto] [--threads 1] [--device auto]
For every width and pair (trained once and cached, like the chapters' models: a missing one is
trained first, on --device) it runs the same weight matching twice, as the chapters do (similarity
matrices on the models' device, assignments on the CPU): every solve cold with `method`,
then with warm starts (`method` for each group's first solve only). One table: seconds of each, the
speed-up measured in this run, sweeps and solves, the warm counts (rows re-augmented and columns
scanned per warm solve) and whether both reached the same permutation. Trained pairs matter:
their similarity matrices are far harder for exact solvers than those of random-init models.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib import assignment, experiment, perm  # noqa: E402


def run(setup, width: float, pair: int, method: str) -> dict:
    """Both weight matchings of one trained pair; their seconds and agreement."""
    a, b = setup.pairs(width, progress=False)[pair]
    spec, out = perm.spec_for(a), {}
    for warm in (False, True):
        start = time.perf_counter()
        p, info = perm.weight_matching(spec, a, b, seed=pair, method=method, warm_start=warm)
        out[warm] = (p, info, time.perf_counter() - start)
    (p0, i0, t0), (p1, i1, t1) = out[False], out[True]
    same = all(torch.equal(p0[g], p1[g]) for g in spec.groups)
    w = i1["warm"]
    n_warm = max(w["warm"], 1)
    return dict(width=width, pair=pair, n=max(spec.groups.values()), cold_s=t0, warm_s=t1,
                speedup=t0 / t1, sweeps=(i0["iterations"], i1["iterations"]), solves=(i0["solves"], i1["solves"]),
                cold=w["cold"], warm=w["warm"], redone=w["redone"], free=w["free"] / n_warm,
                scans=w["scans"] / n_warm, same=same,
                rel_diff=abs(i0["distance_after"] - i1["distance_after"]) / i0["distance_after"])


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--method", default="auto", choices=assignment.METHODS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    method = assignment.resolve_method(args.method)
    setup = experiment.Setup.from_params(profile=args.profile, dataset=args.dataset, widths=args.widths,
                                         n_pairs=args.pairs, device=args.device)
    print(f"# weight matching of trained pairs, cold vs warm-started ({method} for cold solves); "
          f"profile {args.profile}, {args.dataset}, models on {setup.device}; "
          f"{platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), torch {torch.__version__}\n")
    print("| w | n | pair | every solve cold (s) | warm-started (s) | speed-up | sweeps | solves "
          "| cold / warm / redone | rows re-augmented per warm solve | columns scanned per warm solve "
          "| same permutation | distance rel. diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for width in args.widths:
        for pair in range(args.pairs):
            r = run(setup, width, pair, method)
            print(f"| {experiment.width_label(width)} | {r['n']} | {pair} | {r['cold_s']:.2f} | {r['warm_s']:.2f} "
                  f"| {r['speedup']:.1f}x | {r['sweeps'][0]} / {r['sweeps'][1]} | {r['solves'][0]} / {r['solves'][1]} "
                  f"| {r['cold']} / {r['warm']} / {r['redone']} | {r['free']:.0f} | {r['scans']:.0f} "
                  f"| {'yes' if r['same'] else 'no'} | {r['rel_diff']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
