"""Do the book's verdicts survive a change of seed? Every verdict under two seed offsets, and the flips.

For each seed offset (the chapters' `seed` parameter: added to every seed a chapter uses), each
chapter and each data set the chapter runs on (its `dataset`, and its `second_dataset` where it
has one), this trains what the chapter's plan asks for, runs the chapter's study with the
parameter values of the chapter's own parameters cell, and writes the verdict records the chapter
writes (the same `verdicts` function, the same record files) under <root>/seed-<offset>/. Then it
prints one row per (claim, chapter, data set): the verdict under each offset, and lists every flip.

Chapter 2's weight-matched paths are skipped (`--matchings none`): its verdicts (C1, C2, C10) use
only the paths without permutation, so the records are the same and the slow matching is saved.

    python benchmarks/verdict_flips.py [--profile cpu] [--seeds 0 1000] [--chapters 02 04 05 06]
                                       [--root DIR] [--threads 2] [--precision fp32]

Or compare the records of two whole builds (every chapter, as `make book` ran them), e.g. the
book's and a `make book SEED=1000` variant's:

    python benchmarks/verdict_flips.py --compare _build/results _build/variants/<name>/results
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lmc_lib.build.bookbuild import chapters as chapter_sources  # noqa: E402
from lmc_lib.chapters import executor, plan, studies  # noqa: E402
from lmc_lib.chapters.experiment import Setup  # noqa: E402
from lmc_lib.core.utils import env_set  # noqa: E402

HEADLINE = ("C1", "C2", "C4", "C10")  # the claims that must not flip


def _kwargs(fn, defaults: dict, tuples: bool) -> dict:
    """The chapter's parameter values that `fn` takes by name and that differ from fn's own
    defaults (lists as tuples for a study's run; equal calls share the study cache)."""
    names = inspect.signature(fn).parameters
    out = {k: (tuple(v) if tuples and isinstance(v, list) else v)
           for k, v in defaults.items() if k in names and k != "setup"}
    return {k: v for k, v in out.items() if names[k].default != v}


def chapter_runs(src: Path, profile: str, seed: int, overrides: dict) -> list[tuple]:
    """(chapter, setup, run kwargs, verdict kwargs) for each data set the chapter runs on."""
    ch, d = src.name[:2], executor.chapter_defaults(src)
    mod = studies.load(ch)
    common = dict(profile=profile, dataset=d["dataset"], model=d.get("model", "mlp"),
                  widths=d.get("widths", []), width=d.get("width", 0.0), epochs=d.get("epochs", 0),
                  n_pairs=d.get("n_pairs", 0), weight_decay=d.get("weight_decay", -1.0),
                  device="cpu", seed=seed, costly=studies.costly(ch), **overrides)
    setup = Setup.from_params(**common)
    run_kw = _kwargs(mod.run, d, True)
    if "matchings" in inspect.signature(mod.run).parameters:
        run_kw["matchings"] = ("none",)
    out = [(ch, setup, run_kw, _kwargs(mod.verdicts, d, False))]
    second = setup.second(d.get("second_dataset", ""))
    return out + ([(ch, second, run_kw, out[0][3])] if second else [])


def build(runs: list, root: Path, log) -> None:
    """Train each data set's planned models, then run each study and write its verdicts under root."""
    configs = plan.unique(c for ch, s, _, _ in runs for c in plan.configs(ch, s))
    t0 = time.time()
    executor.train_plan(configs, device="cpu")
    log(f"  trained {len(configs)} planned models (cached ones included) in {time.time() - t0:.0f} s")
    for ch, setup, run_kw, v_kw in runs:
        t0, mod = time.time(), studies.load(ch)
        result = mod.run(setup, **run_kw)
        with env_set("LMC_RESULTS", str(root)):
            mod.verdicts(result, setup, **v_kw)
        log(f"  chapter {ch} on {setup.dataset}: {time.time() - t0:.0f} s")


def verdicts(root: Path, profile: str) -> dict:
    """{(claim, chapter, dataset): record} of the verdict files under root."""
    out = {}
    for f in sorted((root / profile).glob("[BC]*_*.json")):
        r = json.loads(f.read_text())
        out[(r["claim"], r["chapter"], r["dataset"])] = r
    return out


def _numbers(rec: dict) -> str:
    """The record's measured numbers, short (lists of floats to 3 digits)."""
    def fmt(v):
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    return "; ".join(f"{k} {fmt(v)}" for k, v in rec["measured"].items() if k != "widths")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--seeds", nargs=2, type=int, default=[0, 1000])
    ap.add_argument("--chapters", nargs="*", default=["02", "04", "05", "06"])
    ap.add_argument("--root", default="_build/verdict_flips")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="", help="training precision override (fp32 | bf16; "
                    "on a CPU fp32 trains what the profile's auto trains, under its own cache key)")
    ap.add_argument("--compare", nargs=2, metavar=("RESULTS_A", "RESULTS_B"), default=None,
                    help="no runs: list the flips between two builds' results folders")
    args = ap.parse_args(argv)
    log = lambda s: print(s, flush=True)  # noqa: E731
    if args.compare:
        a, b = (verdicts(Path(d), args.profile) for d in args.compare)
        report(a, b, *args.compare, log)
        return 0
    over = dict(precision=args.precision) if args.precision else {}
    torch.set_num_threads(args.threads)
    log(f"load average before: {os.getloadavg()}")
    found = {}
    for seed in args.seeds:
        root = Path(args.root).absolute() / f"seed-{seed}"
        runs = [r for src in chapter_sources(args.chapters)
                for r in chapter_runs(src, args.profile, seed, over)]
        log(f"seed offset {seed} ({time.strftime('%H:%M:%S')}, load {os.getloadavg()[0]:.2f})")
        build(runs, root, log)
        found[seed] = verdicts(root, args.profile)
    a, b = args.seeds
    log(f"\nload average after: {os.getloadavg()}")
    report(found[a], found[b], f"seed {a}", f"seed {b}", log)
    return 0


def report(found_a: dict, found_b: dict, name_a: str, name_b: str, log) -> list:
    """One row per (claim, chapter, data set) with both verdicts and numbers; the flips, listed."""
    log(f"\n| claim | chapter | data set | {name_a} | {name_b} | numbers, {name_a} | numbers, {name_b} |"
        "\n|---|---|---|---|---|---|---|")
    flips = []
    for key in sorted(set(found_a) | set(found_b)):
        va, vb = (f.get(key, {}).get("verdict", "missing") for f in (found_a, found_b))
        flips += [key] if va != vb else []
        na, nb = (_numbers(f[key]) if key in f else "" for f in (found_a, found_b))
        log(f"| {' | '.join(key)} | {va} | {'**' + vb + '**' if va != vb else vb} | {na} | {nb} |")
    log("flips: " + (", ".join(f"{c} (ch{ch}, {ds})" for c, ch, ds in flips) or "none"))
    bad = [f for f in flips if f[0] in HEADLINE]
    log(f"headline flips ({', '.join(HEADLINE)}): " + (", ".join(f"{c} ({ds})" for c, _, ds in bad) or "none"))
    return flips


if __name__ == "__main__":
    sys.exit(main())
