"""Weight matching of TRAINED pairs: every solve cold, warm-started, and warm with auction-priced
first solves (lmc_lib.matching.warmlap).

Usage: python benchmarks/warm_assignment.py [--profile cpu] [--dataset mnist] [--widths 1 2]
                                            [--pairs 1] [--method auto] [--threads 1] [--device auto]
                                            [--skip-cold]
For every width and pair (trained once and cached, like the chapters' models: a missing one is
trained first, on --device) it runs the same weight matching three times, as the chapters do
(similarity matrices on the models' device, assignments on the CPU): every solve cold with
`method` (--skip-cold leaves this out: it is the slow one), warm-started with `method` for each
group's first solve, and warm-started with a coarse auction plus the exact finish for the first
solves. One table: seconds of each, the speed-ups measured in this run, sweeps and solves, the
first-solve and warm counts, and whether all reached the same distance. Trained pairs matter: their
similarity matrices are far harder for exact solvers than those of random-init models.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.chapters import experiment  # noqa: E402
from lmc_lib.matching import assignment, perm  # noqa: E402

VARIANTS = ("cold", "warm", "auction")  # every solve cold | warm starts | warm, auction-priced firsts


def match(spec, a, b, pair: int, method: str, variant: str) -> tuple:
    """(seconds, info) of one weight matching of the pair in `variant`."""
    start = time.perf_counter()
    _, info = perm.weight_matching(spec, a, b, seed=pair, method="auction" if variant == "auction" else method,
                                   warm_start=variant != "cold")
    return time.perf_counter() - start, info


def run(setup, width: float, pair: int, method: str, variants) -> dict:
    """Each variant's seconds and info for one trained pair."""
    a, b = setup.pairs(width, progress=False)[pair]
    spec = perm.spec_for(a)
    return dict(n=max(spec.groups.values()), **{v: match(spec, a, b, pair, method, v) for v in variants})


def row(width: float, pair: int, r: dict, variants) -> str:
    """One Markdown table row."""
    secs = {v: r[v][0] for v in variants}
    cells = [experiment.width_label(width), str(r["n"]), str(pair)]
    cells += [f"{secs[v]:.2f}" if v in secs else "-" for v in VARIANTS]
    base = secs.get("cold")
    cells += [f"{base / secs[v]:.1f}x" if base and v in secs else "-" for v in ("warm", "auction")]
    infos = [r[v][1] for v in variants]
    cells.append(" / ".join(str(i["solves"]) for i in infos))
    for v in ("warm", "auction"):
        w = r[v][1]["warm"] if v in r else None
        cells.append(f"{w['cold']}+{w['priced']} / {w['warm']} / {w['redone']}" if w else "-")
    dists = [i["distance_after"] for i in infos]
    cells.append(f"{(max(dists) - min(dists)) / min(dists):.1e}")
    return "| " + " | ".join(cells) + " |"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--widths", type=float, nargs="+", default=[1.0, 2.0])
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--method", default="auto", choices=assignment.METHODS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip-cold", action="store_true", help="leave out the every-solve-cold run")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    method = assignment.resolve_method(args.method)
    variants = VARIANTS[1:] if args.skip_cold else VARIANTS
    setup = experiment.Setup.from_params(profile=args.profile, dataset=args.dataset, widths=args.widths,
                                         n_pairs=args.pairs, device=args.device)
    print(f"# weight matching of trained pairs ({method} for cold solves); profile {args.profile}, "
          f"{args.dataset}, models on {setup.device}; {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s), torch {torch.__version__}\n")
    print("| w | n | pair | every solve cold (s) | warm-started (s) | warm, auction-priced first solves (s) "
          "| speed-up warm | speed-up auction | solves | warm: cold+priced / warm / redone "
          "| auction: cold+priced / warm / redone | distance spread (rel.) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for width in args.widths:
        for pair in range(args.pairs):
            print(row(width, pair, run(setup, width, pair, method, variants), variants), flush=True)


if __name__ == "__main__":
    main()
