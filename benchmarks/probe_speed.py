"""Chapters 4 and 6's probes of one pair: separate probe calls (each reads every model again, as the
studies did before commit 709d389) against one pass over the inputs (probes.lewc_probes,
probes.orthogonality_probes), timed in one run on the book's cached models, the numbers compared.

Merged models are built before the clock starts (both variants use the same ones). Chapter 4 runs
its general-lam check (lam = 1/4, 1/2, 3/4) only at the profile's smallest and largest width, so a
width in between is timed without it, as in the book.

    python benchmarks/probe_speed.py [--profile cpu] [--dataset fashion_mnist] [--widths 2 4]
                                     [--pairs 1] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.chapters.experiment import Setup, width_label  # noqa: E402
from lmc_lib.chapters.studies import ch04  # noqa: E402
from lmc_lib.lmc import probes as P  # noqa: E402


def separate_ch04(a, b, merged: dict, x, lams) -> dict:
    """Chapter 4's numbers from one probe call each (the studies' code before 709d389)."""
    m = merged[0.5]
    got = {0.5: dict(cos=P.lewc_cosine(a, b, m, x, 0.5))}
    got[0.5]["norm_merged"], got[0.5]["norm_lewc"] = P.norm_decay(a, b, m, x, 0.5)
    for lam in lams:
        got.setdefault(lam, {})
        if lam != 0.5:
            got[lam]["cos"] = P.lewc_cosine(a, b, merged[lam], x, lam)
        got[lam]["scale"] = P.lewc_scale(a, b, merged[lam], x, lam)
    return got


def separate_ch06(a, b, m, x) -> dict:
    """Chapter 6's numbers from one probe call each."""
    ab, ba = P.reciprocal_orthogonality(a, b, x)
    return dict(ro_ab=ab, ro_ba=ba, cos_a=P.merged_projection_cosine(a, m, x),
                cos_b=P.merged_projection_cosine(b, m, x))


def timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def largest_difference(x: dict, y: dict) -> float:
    """The largest absolute difference between two nested {key: array} results (same keys)."""
    if isinstance(x, dict):
        return max(largest_difference(x[k], y[k]) for k in x)
    return float(np.max(np.abs(np.asarray(x) - np.asarray(y))))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--widths", nargs="+", type=float, default=[2.0, 4.0])
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    book = Setup.from_params(profile=args.profile, dataset=args.dataset, device="cpu")
    ends = {book.widths[0], book.widths[-1]}
    setup = book.but(widths=tuple(args.widths))
    x, _ = setup.eval_inputs()
    print(f"load average before: {os.getloadavg()}; {args.threads} torch thread(s); {len(x)} inputs")
    print("\n| w | chapter | separate probes (s) | one pass (s) | speed-up | largest difference |")
    print("|---|---|---|---|---|---|")
    for w in setup.widths:
        lams = ch04.LAMS if w in ends else ()
        for i, (a, b) in enumerate(setup.pairs(w, progress=False)[:args.pairs]):
            merged = {lam: ch04.merged_model(setup, a, b, lam, seed=setup.seed_of(i))
                      for lam in sorted({0.5, *lams})}
            old, t_old = timed(separate_ch04, a, b, merged, x, lams)
            new, t_new = timed(P.lewc_probes, a, b, merged, x, bool(lams), 0.5)
            print(f"| {width_label(w)} | 4{' (with the lam check)' if lams else ''} | {t_old:.1f} | "
                  f"{t_new:.1f} | {t_old / t_new:.2f}x | {largest_difference(old, new):.1e} |", flush=True)
            old, t_old = timed(separate_ch06, a, b, merged[0.5], x)
            new, t_new = timed(P.orthogonality_probes, a, b, merged[0.5], x)
            print(f"| {width_label(w)} | 6 | {t_old:.1f} | {t_new:.1f} | {t_old / t_new:.2f}x | "
                  f"{largest_difference(old, new):.1e} |", flush=True)
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
