"""Side by side: chapter 2's study in fp32 and with bf16 autocast (precision "bf16") on this CPU.

Trains the profile's MLP sweep twice (same seeds; the two precisions are different cache entries),
runs `lmc_lib.chapters.studies.ch02.run` on each and prints, per width, the merged model's accuracy at
lam = 1/2 in both precisions and their difference, the C1/C2/C10 verdicts of both, and the
training time of each. The decision rule is fixed before the run: bf16 may become the
cpu profile's precision only if every merged accuracy is within 0.5 pp and every verdict is equal.

    python benchmarks/bf16_check.py [--profile cpu] [--dataset fashion_mnist] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.chapters.experiment import Setup, width_label  # noqa: E402
from lmc_lib.chapters.plan import pair_configs  # noqa: E402
from lmc_lib.chapters.studies import ch02  # noqa: E402
from lmc_lib.core import cache  # noqa: E402

MAX_ACC_DIFF_PP = 0.5


def run(setup: Setup) -> tuple[dict, list, float]:
    """(ch02 result, verdicts, training seconds) of a setup."""
    t0 = time.perf_counter()
    cache.ensure_trained(pair_configs(setup, setup.widths), setup.device, progress=False)
    train_s = time.perf_counter() - t0
    result = ch02.run(setup)
    return result, ch02.verdicts(result, setup), train_s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--dataset", default="fashion_mnist")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("LMC_RESULTS", tempfile.mkdtemp(prefix="bf16_check_"))
    print(f"load average before: {os.getloadavg()}", flush=True)
    base = Setup.from_params(profile=args.profile, dataset=args.dataset, device="cpu")
    runs = {p: run(base.but(overrides=dict(precision=p))) for p in ("fp32", "bf16")}
    accs = {p: ch02.means(r[0], "none", "acc_half") for p, r in runs.items()}
    print(f"\n{base.title()}\n| w | merged acc fp32 (%) | bf16 (%) | diff (pp) |\n|---|---|---|---|")
    diffs = []
    for i, w in enumerate(base.widths):
        d = 100 * (accs["bf16"][i] - accs["fp32"][i])
        diffs.append(abs(d))
        print(f"| {width_label(w)} | {100 * accs['fp32'][i]:.2f} | {100 * accs['bf16'][i]:.2f} | {d:+.2f} |")
    verdicts = {p: {v["claim"]: v["verdict"] for v in r[1]} for p, r in runs.items()}
    for p, r in runs.items():
        print(f"{p}: training {r[2]:.0f} s; verdicts {verdicts[p]}")
    ok = max(diffs) <= MAX_ACC_DIFF_PP and verdicts["fp32"] == verdicts["bf16"]
    print(f"\nload average after: {os.getloadavg()}\nbf16 {'passes' if ok else 'fails'} the rule "
          f"(all merged accuracies within {MAX_ACC_DIFF_PP} pp and equal verdicts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
