"""Does bf16 autocast training change the book's headline numbers more than a change of seed does?

The rule, fixed before the run (it replaces an older rule that compared every merged accuracy
with fp32 within 0.5 pp, i.e. a precision change against zero instead of against a change of seed):

    Same seeds in fp32 and in bf16 (autocast of the forward and backward; weights, gradients and
    Adam state stay fp32), three pairs per width, every width of the profile, both data sets
    (fashion_mnist and mnist). For every width and every headline quantity -- the merged model's
    accuracy at lam = 1/2, the accuracy barrier and the calibrated-loss barrier (Def 2.1, max over
    the 11-point grid), the fitted inverse temperature beta at lam = 1/2 (chapter 2), and the LEWC
    cosine of each layer (Def 4.1, chapter 4's probe) -- the bf16 mean over pairs differs from the
    fp32 mean by less than the spread, the sample std (ddof 1) of the fp32 values over pairs; and
    every verdict (C1, C2, C10 of ch02.verdicts, C4 of ch04.verdicts) is equal in both precisions.
    Only then may bf16 become the cpu profile's training precision; otherwise the profile stays
    fp32. Curves and probes are evaluated in fp32 in both runs (the rule says nothing about
    evaluating in bf16).

The same rule for evaluation (`--stage eval`, fixed before its run): the models trained in fp32 once,
their interpolation curves evaluated twice, every forward in fp32 and under bf16 autocast (weights,
logits, beta fit and losses fp32); the quantities are the curve's (merged accuracy at 1/2, accuracy
barrier, calibrated-loss barrier, beta at 1/2) at every width of the profile and w = 4 (pass
`--widths`), three pairs, both data sets; the verdicts C1, C2, C10 (ch02.verdicts) must be equal.
Only then may the cpu profile evaluate curves in bf16 (`curve_precision`); probes (LEWC and the
other per-layer quantities) stay fp32 whatever this gives.

Prints the table (width x quantity: fp32 mean ± std, bf16 mean ± std, |diff|, spread, pass), the
verdicts, training and evaluation times, and the decision; writes the raw numbers as JSON.

    python benchmarks/bf16_check.py [--profile cpu] [--datasets fashion_mnist mnist] [--threads 2]
                                    [--widths 0.125 ... 4] [--n-pairs 3] [--out FILE.json]
                                    [--stage train|eval]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.chapters.experiment import Setup, width_label  # noqa: E402
from lmc_lib.chapters.plan import pair_configs  # noqa: E402
from lmc_lib.chapters.studies import ch02, ch04  # noqa: E402
from lmc_lib.core import cache  # noqa: E402

PRECISIONS = ("fp32", "bf16")
SCALARS = {"merged acc at 1/2 (%)": ("acc_half", 100), "acc. barrier (pp)": ("acc_barrier_max", 100),
           "cal. barrier (nats)": ("cal_barrier_max", 1), "beta at 1/2": ("beta_half", 1)}


def run(setup: Setup, log) -> dict:
    """Per-pair quantities, verdicts and seconds of one precision on one data set."""
    t0 = time.perf_counter()
    cache.ensure_trained(pair_configs(setup, setup.widths), setup.device, progress=False)
    t1 = time.perf_counter()
    log(f"  trained in {t1 - t0:.0f} s")
    r2 = ch02.run(setup, matchings=("none",))
    r4 = ch04.run(setup, lams=())
    t2 = time.perf_counter()
    log(f"  evaluated in {t2 - t1:.0f} s")
    q, verdicts = curve_numbers(r2, setup)
    cos = ch04.per_pair(r4, "cos")  # [widths][pairs][layers]
    for layer in r4["layers"]:
        q[f"LEWC cosine, layer {layer}"] = [[p[layer - 1] for p in row] for row in cos]
    verdicts.update({v["claim"]: v["verdict"] for v in ch04.verdicts(r4, setup) if v["claim"] == "C4"})
    return dict(quantities=q, verdicts=verdicts, train_s=t1 - t0, eval_s=t2 - t1)


def run_eval(setup: Setup, log) -> dict:
    """The curve quantities and C1, C2, C10 of fp32-trained models, curves in setup.curve_precision."""
    t0 = time.perf_counter()
    r2 = ch02.run(setup, matchings=("none",))
    secs = time.perf_counter() - t0
    log(f"  curves in {setup.curve_precision}: {secs:.0f} s")
    q, verdicts = curve_numbers(r2, setup)
    return dict(quantities=q, verdicts=verdicts, train_s=0.0, eval_s=secs)


def curve_numbers(r2: dict, setup: Setup) -> tuple[dict, dict]:
    """Chapter 2's curve quantities per width and pair (SCALARS), and its C1, C2, C10 verdicts."""
    q = {name: [[v * scale for v in row] for row in ch02.per_pair(r2, "none", key)]
         for name, (key, scale) in SCALARS.items()}
    verdicts = {v["claim"]: v["verdict"] for v in ch02.verdicts(r2, setup)
                if v["claim"] in ("C1", "C2", "C10")}
    return q, verdicts


def compare(widths, runs: dict) -> tuple[list, bool]:
    """Table rows (width, quantity, fp32 mean±std, bf16 mean±std, |diff|, spread, pass) and all-pass."""
    rows, ok = [], True
    for name in runs["fp32"]["quantities"]:
        for i, w in enumerate(widths):
            a = np.asarray(runs["fp32"]["quantities"][name][i])
            b = np.asarray(runs["bf16"]["quantities"][name][i])
            diff, spread = abs(b.mean() - a.mean()), a.std(ddof=1)
            passed = bool(diff < spread)
            ok &= passed
            rows.append((width_label(w), name, f"{a.mean():.4g} ± {spread:.2g}",
                         f"{b.mean():.4g} ± {b.std(ddof=1):.2g}", f"{diff:.2g}", f"{spread:.2g}",
                         "yes" if passed else "**no**"))
    return rows, ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mnist"])
    ap.add_argument("--widths", nargs="*", type=float, default=[])
    ap.add_argument("--n-pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--stage", choices=("train", "eval"), default="train",
                    help="train: bf16 training (curves fp32); eval: fp32 models, curves in bf16")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("LMC_RESULTS", tempfile.mkdtemp(prefix="bf16_check_"))
    log = lambda s: print(s, flush=True)  # noqa: E731
    log(f"load average before: {os.getloadavg()}")
    every_ok, found = True, {}
    for ds in args.datasets:
        base = Setup.from_params(profile=args.profile, dataset=ds, device="cpu", widths=args.widths,
                                 n_pairs=args.n_pairs)
        runs = {}
        if args.stage == "eval":
            cache.ensure_trained(pair_configs(base, base.widths), base.device, progress=False)
        for p in PRECISIONS:
            log(f"{ds} {p} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f})")
            runs[p] = (run_eval(base.but(curve_precision=p), log) if args.stage == "eval"
                       else run(base.but(overrides=dict(precision=p)), log))
        rows, ok = compare(base.widths, runs)
        same = runs["fp32"]["verdicts"] == runs["bf16"]["verdicts"]
        every_ok &= ok and same
        found[ds] = dict(widths=list(base.widths), runs=runs, rows=rows, numbers_ok=ok, verdicts_equal=same)
        log(f"\n{base.title()}\n\n| w | quantity | fp32 mean ± std | bf16 mean ± std | |diff| | spread "
            "| pass |\n|---|---|---|---|---|---|---|")
        for r in rows:
            log("| " + " | ".join(r) + " |")
        for p, r in runs.items():
            log(f"\n{p}: training {r['train_s']:.0f} s, evaluation {r['eval_s']:.0f} s; "
                f"verdicts {r['verdicts']}")
        if args.out:
            Path(args.out).write_text(json.dumps(found, indent=1))
    what = "evaluate curves" if args.stage == "eval" else "train"
    log(f"\nload average after: {os.getloadavg()}\nbf16 {'passes' if every_ok else 'fails'} the rule "
        f"(every |diff| < fp32 spread and equal verdicts): the cpu profile "
        f"{f'may {what} in bf16' if every_ok else f'does not {what} in bf16'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
