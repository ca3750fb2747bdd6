"""Does bf16 change the book's numbers more than floating-point noise does? A rule checked on a null first.

The rule (fixed on 2026-12-07, before its null or bf16 run; it replaces "every bf16 mean within one
fp32 std of the fp32 mean, for 40 quantities at once", which fails noise itself: for two means of
3 pairs that differ like two seed draws, |Z| > 1.22 happens for about one quantity in five, so 40
quantities almost never all pass):

    Same seeds, three pairs per width. For every width and every quantity q (the merged model's
    accuracy at lam = 1/2, the accuracy barrier, the calibrated-loss barrier (Def 2.1, max over the
    11-point grid), beta at lam = 1/2 (chapter 2), the LEWC cosine of every layer (Def 4.1, chapter
    4)), take the paired differences d_i = q_i(condition) - q_i(fp32) over pairs i and a two-sided
    paired t-test of mean(d) = 0. Over all quantities of a data set (one family), Holm's step-down
    correction at a family-wise level of 0.05: the condition FAILS when any test rejects, or when
    any verdict (C1, C2, C10 of ch02.verdicts, C4 of ch04.verdicts) differs from fp32's. False-alarm
    rate: at most 5 % per data set when the differences are normal with mean 0 (Holm controls the
    family-wise error under any dependence between the tests).

    The null comparison: fp32 against fp32 with each batch's samples in reverse order (the same
    samples, the same mean, another summation order: a pure floating-point change). It must pass;
    only then is the rule applied to bf16. 1 vs 2 torch threads is no null here: the trained
    weights are bit-identical on this CPU (checked), so it would test nothing.

Stages: `--stage train` compares training conditions (null, bf16 autocast of forward and
backward; curves and probes in fp32); `--stage eval` compares curve evaluation (fp32-trained
models, curves in fp32 and under bf16 autocast; the curve quantities and C1, C2, C10 only);
`--stage probes` compares chapters 4-6's probes (fp32-trained models, probes in fp32 and under bf16
autocast, Setup.probe_precision; per layer: the LEWC cosine and the merged norm ratio (ch. 4), the
weak-additivity cosine, tiny-unit share, active-unit overlap without and with weight matching
(ch. 5), the reciprocal-orthogonality ratios and merged-projection cosines (ch. 6); verdicts C4,
C11, C5, C6, C7), by the same rule with one Holm family per data set.
Prints the table (width x quantity: reference and condition mean ± std, mean difference, p,
Holm's threshold, pass), the verdicts, the times and the decision per condition; writes the raw
numbers as JSON.

    python benchmarks/bf16_check.py [--stage train|eval] [--conditions null bf16] [--profile cpu]
                                    [--datasets fashion_mnist mnist] [--widths 0.125 ... 1]
                                    [--n-pairs 3] [--threads 2] [--out FILE.json]
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
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.chapters.experiment import Setup, width_label  # noqa: E402
from lmc_lib.chapters.plan import pair_configs  # noqa: E402
from lmc_lib.chapters.studies import ch02, ch04, ch05, ch06  # noqa: E402
from lmc_lib.core import cache, train_group  # noqa: E402
from lmc_lib.core.utils import env_set  # noqa: E402

CONDITIONS = ("null", "bf16")  # compared with "fp32", the reference
FAMILY_ALPHA = 0.05
SCALARS = {"merged acc at 1/2 (%)": ("acc_half", 100), "acc. barrier (pp)": ("acc_barrier_max", 100),
           "cal. barrier (nats)": ("cal_barrier_max", 1), "beta at 1/2": ("beta_half", 1)}


class ReversedBatches:
    """`torch` as train_group sees it, except that each epoch's order is reversed inside every batch
    (the same random draws, the same samples per batch, another summation order)."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size

    def __getattr__(self, name):
        return getattr(torch, name)

    def randperm(self, n, **kw):
        p = torch.randperm(n, **kw)
        full = n // self.batch_size * self.batch_size
        return torch.cat([p[:full].view(-1, self.batch_size).flip(1).reshape(-1), p[full:]])


def run(setup: Setup, log) -> dict:
    """Per-pair quantities, verdicts and seconds of one training condition on one data set."""
    t0 = time.perf_counter()
    cache.ensure_trained(pair_configs(setup, setup.widths), setup.device, progress=False)
    t1 = time.perf_counter()
    log(f"  trained in {t1 - t0:.0f} s")
    r2 = ch02.run(setup, matchings=("none",))
    r4 = ch04.run(setup, lams=())
    t2 = time.perf_counter()
    log(f"  evaluated in {t2 - t1:.0f} s")
    q, verdicts = curve_numbers(r2, setup)
    add_layers(q, "LEWC cosine", ch04.per_pair(r4, "cos"), r4["layers"])
    verdicts.update({v["claim"]: v["verdict"] for v in ch04.verdicts(r4, setup) if v["claim"] == "C4"})
    return dict(quantities=q, verdicts=verdicts, train_s=t1 - t0, eval_s=t2 - t1)


def add_layers(q: dict, name: str, rows, layers) -> None:
    """q["<name>, layer l"] = [widths][pairs] from rows [widths][pairs][layers]."""
    for j, layer in enumerate(layers):
        q[f"{name}, layer {layer}"] = [[float(p[j]) for p in row] for row in rows]


def run_probes(setup: Setup, log) -> dict:
    """Chapters 4-6's probe quantities per layer and their verdicts (C4, C11, C5, C6, C7) for
    fp32-trained models, probes in setup.probe_precision."""
    t0 = time.perf_counter()
    r4, r5, r6 = ch04.run(setup, lams=()), ch05.run(setup), ch06.run(setup)
    secs = time.perf_counter() - t0
    log(f"  probes in {setup.probe_precision}: {secs:.0f} s")
    q = {}
    for name, key in (("LEWC cosine", "cos"), ("merged norm ratio", "norm_merged")):
        add_layers(q, name, ch04.per_pair(r4, key), r4["layers"])
    for name, key in (("WA cosine", "wa"), ("tiny-unit share", "tiny"), ("overlap", "overlap"),
                      ("overlap after WM", "overlap_wm")):
        add_layers(q, name, ch05.per_pair(r5, key), r5["hidden"])
    for key in ("ro_ab", "ro_ba", "cos_a", "cos_b"):
        add_layers(q, key, [r6["per_width"][str(w)][key] for w in r6["widths"]], r6["layers"])
    verdicts = {v["claim"]: v["verdict"] for v in
                ch04.verdicts(r4, setup) + ch05.verdicts(r5, setup) + ch06.verdicts(r6, setup)}
    return dict(quantities=q, verdicts=verdicts, train_s=0.0, eval_s=secs)


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


def paired_p(a, b) -> float:
    """Two-sided paired t-test p-value of mean(b - a) = 0 (1.0 when every difference is 0)."""
    d = np.asarray(b, float) - np.asarray(a, float)
    if np.allclose(d, 0.0, rtol=0.0, atol=0.0):
        return 1.0
    if np.std(d) == 0.0:
        return 0.0  # the same nonzero shift on every pair
    return float(stats.ttest_rel(b, a).pvalue)


def holm(pvalues: list[float], alpha: float = FAMILY_ALPHA) -> list[tuple[float, bool]]:
    """Holm's step-down: (the p-value's threshold alpha / (m - rank), rejected) per test, in order."""
    m, order = len(pvalues), np.argsort(pvalues)
    out, stop = [None] * len(pvalues), False
    for rank, k in enumerate(order):
        threshold = alpha / (m - rank)
        stop = stop or pvalues[k] > threshold
        out[k] = (threshold, not stop)
    return out


def compare(widths, ref: dict, cond: dict) -> tuple[list, bool]:
    """Table rows (width, quantity, reference and condition mean ± std, mean difference, p, Holm
    threshold, pass) and whether no test of the family rejects."""
    cells, ps = [], []
    for name in ref["quantities"]:
        for i, w in enumerate(widths):
            a, b = (np.asarray(r["quantities"][name][i], float) for r in (ref, cond))
            cells.append((width_label(w), name, a, b))
            ps.append(paired_p(a, b))
    rows = []
    for (w, name, a, b), p, (thr, rejected) in zip(cells, ps, holm(ps)):
        rows.append((w, name, f"{a.mean():.4g} ± {a.std(ddof=1):.2g}",
                     f"{b.mean():.4g} ± {b.std(ddof=1):.2g}", f"{(b - a).mean():+.2g}",
                     f"{p:.3g}", f"{thr:.2g}", "**no**" if rejected else "yes"))
    return rows, not any(rej for _, rej in holm(ps))


STAGES = {"train": run, "eval": run_eval, "probes": run_probes}


def conditions_of(stage: str, names) -> dict:
    """{name: (Setup change, training context)} of the conditions compared with fp32."""
    if stage != "train":
        field = "curve_precision" if stage == "eval" else "probe_precision"
        return {"bf16": ({field: "bf16"}, None)}
    out = {}
    for n in names:
        out[n] = (dict(overrides=dict(precision="bf16")), None) if n == "bf16" else ({}, "reversed")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--datasets", nargs="+", default=["fashion_mnist", "mnist"])
    ap.add_argument("--widths", nargs="*", type=float, default=[])
    ap.add_argument("--n-pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="")
    ap.add_argument("--stage", choices=tuple(STAGES), default="train",
                    help="train: training conditions (curves fp32); eval: fp32 models, curves in "
                         "bf16; probes: fp32 models, chapters 4-6's probes in bf16")
    ap.add_argument("--conditions", nargs="+", choices=CONDITIONS, default=list(CONDITIONS),
                    help="train stage: null (reversed batch order, fp32) and/or bf16")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("LMC_RESULTS", tempfile.mkdtemp(prefix="bf16_check_"))
    log = lambda s: print(s, flush=True)  # noqa: E731
    log(f"load average before: {os.getloadavg()}")
    decisions, found = {}, {}
    for ds in args.datasets:
        base = Setup.from_params(profile=args.profile, dataset=ds, device="cpu", widths=args.widths,
                                 n_pairs=args.n_pairs)
        base = base.but(curve_precision="fp32", train_precision="fp32")  # the reference: all fp32
        log(f"{ds} fp32 ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f})")
        ref = STAGES[args.stage](base, log)  # the book's models
        found[ds] = dict(widths=list(base.widths), fp32=ref)
        for name, (change, order) in conditions_of(args.stage, args.conditions).items():
            log(f"{ds} {name} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f})")
            setup = base.but(**change)
            if args.stage != "train":
                cond = STAGES[args.stage](setup, log)
            else:
                with tempfile.TemporaryDirectory(prefix="bf16_check_models_") as tmp:
                    saved = train_group.torch
                    if order == "reversed":
                        train_group.torch = ReversedBatches(setup.config(setup.widths[0]).batch_size)
                    try:  # the null's models (and studies) differ under the same keys: own cache
                        with env_set("LMC_CACHE", tmp if order else None):
                            cond = run(setup, log)
                    finally:
                        train_group.torch = saved
            rows, ok = compare(base.widths, ref, cond)
            same = ref["verdicts"] == cond["verdicts"]
            decisions[(ds, name)] = ok and same
            found[ds][name] = dict(run=cond, rows=rows, numbers_ok=ok, verdicts_equal=same)
            log(f"\n{base.title()}: {name} against fp32\n\n| w | quantity | fp32 mean ± std | "
                f"{name} mean ± std | mean diff | p | Holm threshold | pass |\n"
                "|---|---|---|---|---|---|---|---|")
            for r in rows:
                log("| " + " | ".join(r) + " |")
            log(f"\nfp32: training {ref['train_s']:.0f} s, evaluation {ref['eval_s']:.0f} s; "
                f"verdicts {ref['verdicts']}\n{name}: training {cond['train_s']:.0f} s, evaluation "
                f"{cond['eval_s']:.0f} s; verdicts {cond['verdicts']}\n{name} on {ds}: "
                f"{'passes' if ok and same else 'FAILS'} (no Holm rejection: {ok}; equal verdicts: {same})")
        if args.out:
            Path(args.out).write_text(json.dumps(found, indent=1, default=str))
    log(f"\nload average after: {os.getloadavg()}")
    for name in {n for _, n in decisions}:
        ok = all(v for (d, n), v in decisions.items() if n == name)
        log(f"{name}: {'passes' if ok else 'fails'} the rule on {', '.join(args.datasets)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
