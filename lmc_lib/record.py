"""Record a chapter's study on a machine without Jupyter (e.g. a lent GPU), and read records back.

    python -m lmc_lib.record --profile paper --chapters 02 04 --datasets mnist fashion_mnist

runs `lmc_lib.studies.chNN.run(setup)` -- the same function the chapter calls -- and writes its
JSON result with provenance (device, date, commit, profile, settings) to
`results/<profile>/<dataset>/chNN.json`, plus the chapter's claim verdicts to
`results/<profile>/`. The chapters show these records next to their live run. Only this code
writes those files.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from .experiment import Setup
from .report import RECORDED, git_commit
from .utils import LmcError


def study(chapter: str):
    """The study module of a chapter number ("02" -> lmc_lib.studies.ch02)."""
    try:
        return importlib.import_module(f"lmc_lib.studies.ch{chapter}")
    except ModuleNotFoundError as err:
        raise LmcError(f"chapter {chapter!r} has no study module lmc_lib/studies/ch{chapter}.py") from err


def provenance(setup: Setup, seconds: float) -> dict:
    """Where and how a result was produced."""
    dev = setup.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    return dict(device=str(dev), device_name=name, date=_dt.datetime.now().isoformat(timespec="seconds"),
                commit=git_commit(), profile=setup.profile, dataset=setup.dataset, arch=setup.arch,
                widths=list(setup.widths), n_pairs=setup.n_pairs, seconds=round(seconds, 1),
                torch=torch.__version__, python=platform.python_version())


def path_of(chapter: str, dataset: str, profile: str = "paper", root: Path = RECORDED) -> Path:
    """Where the record of a chapter's study on a dataset lives."""
    return root / profile / dataset / f"ch{chapter}.json"


def record(chapter: str, setup: Setup, root: Path = RECORDED) -> Path:
    """Run a chapter's study under `setup` and write result + provenance (+ verdicts) as JSON."""
    mod = study(chapter)
    t0 = time.time()
    result = mod.run(setup)
    out = path_of(chapter, setup.dataset, setup.profile, root)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = dict(chapter=chapter, provenance=provenance(setup, time.time() - t0), result=result)
    out.write_text(json.dumps(payload, indent=1, default=float))
    if hasattr(mod, "verdicts"):
        previous = os.environ.get("LMC_RESULTS")
        os.environ["LMC_RESULTS"] = str(root)  # verdicts of a recorded run go beside it
        try:
            mod.verdicts(result, setup)
        finally:
            if previous is None:
                os.environ.pop("LMC_RESULTS", None)
            else:
                os.environ["LMC_RESULTS"] = previous
    return out


def load(chapter: str, dataset: str, profile: str = "paper", root: Path = RECORDED) -> dict | None:
    """A recorded result ({chapter, provenance, result}) or None when nothing was recorded."""
    path = path_of(chapter, dataset, profile, root)
    return json.loads(path.read_text()) if path.exists() else None


def describe(rec: dict | None) -> str:
    """One line saying what a record is (or that there is none) for the chapter's text."""
    if rec is None:
        return ("No paper-profile run has been recorded for this setting yet (it needs a GPU: "
                "`python -m lmc_lib.record --profile paper --chapters NN`).")
    p = rec["provenance"]
    return (f"Recorded run (not re-executed in this build): profile `{p['profile']}`, "
            f"{p['dataset']}, {p['arch']}, widths {p['widths']}, {p['n_pairs']} pairs, on "
            f"{p['device_name']} ({p['device']}), {p['date']}, commit {p['commit']}, "
            f"{p['seconds']:.0f} s, torch {p['torch']}.")


def recorded_title(rec: dict) -> str:
    """Figure title of a recorded result: its own setup line plus device, date and commit."""
    p = rec["provenance"]
    return (f"RECORDED {rec['result']['settings']['title']} | {p['device_name']}, "
            f"{p['date'][:10]}, commit {p['commit']}")


def show(chapter: str, dataset: str, draws, profile: str = "paper") -> dict | None:
    """Say what was recorded for a chapter and draw it with the chapter's own plot functions."""
    import matplotlib.pyplot as plt

    rec = load(chapter, dataset, profile)
    print(describe(rec))
    if rec:
        for draw in draws:
            draw(rec["result"], recorded_title(rec))
            plt.show()
    return rec


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m lmc_lib.record", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper")
    ap.add_argument("--chapters", nargs="+", default=["02", "04"])
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--root", default=str(RECORDED), help="output folder (default results/)")
    args = ap.parse_args(argv)
    try:
        for ds in args.datasets:
            setup = Setup.from_params(profile=args.profile, dataset=ds, model=args.model,
                                      device=args.device)
            for ch in args.chapters:
                print(f"recording chapter {ch} on {ds} ({args.profile}) ...", flush=True)
                print(f"  -> {record(ch, setup, Path(args.root))}", flush=True)
    except LmcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
