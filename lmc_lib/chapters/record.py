"""Record a chapter's study on a machine without Jupyter (e.g. a GPU server reached by ssh, or a cluster job), and read records back.

    python -m lmc_lib.chapters.record --profile paper --chapters 02 04 --datasets mnist fashion_mnist

runs `lmc_lib.chapters.studies.chNN.run(setup)` -- the same function the chapter calls -- and writes its
JSON result with provenance (device, date, commit, profile, settings) to
`results/<profile>/<dataset>/chNN.json`, plus the chapter's claim verdicts to
`results/<profile>/`. The chapters show these records next to their live run. Only this code
writes those files.

Made for a bare GPU machine or a time-limited job: every argument (and the data) is checked before any
work; the models a dataset's studies need are trained first, in groups (lmc_lib.chapters.plan,
cache.ensure_trained); each record is written as soon as it is done and an existing record is
skipped unless --force; `--plan` prints what would be trained and an estimated time, and trains
nothing. When stdout is not a terminal, training logs one line per model to
<root>/<profile>/train.log ($LMC_TRAIN_LOG) instead of progress bars.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import functools
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from lmc_lib.chapters import executor, params, plan, studies
from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.report import RECORDED, git_commit
from lmc_lib.core import cache, data, runlog
from lmc_lib.core.atomic import atomic_write
from lmc_lib.core.config import PROFILE_NAMES
from lmc_lib.core.models import ARCHS
from lmc_lib.core.utils import LmcError, env_set

MATCHINGS = ("none", "random", "wm")  # --matchings: for studies whose run() takes `matchings`
FLAGS = {"profile": "--profile", "model": "--model", "device": "--device", "widths": "--widths",
         "n_pairs": "--n-pairs", "dataset": "--datasets"}


def provenance(setup: Setup, seconds: float, overrides: dict | None = None,
               train_seconds: float | None = None) -> dict:
    """Where and how a result was produced (`overrides`: command-line widths / n_pairs given;
    `seconds`: the study's run, `train_seconds`: the training of its models, whenever it ran)."""
    dev = setup.device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    return dict(device=str(dev), device_name=name, date=_dt.datetime.now().isoformat(timespec="seconds"),
                commit=os.environ.get("LMC_COMMIT") or git_commit(), profile=setup.profile, dataset=setup.dataset, arch=setup.arch,
                widths=list(setup.widths), n_pairs=setup.n_pairs, seconds=round(seconds, 1),
                epochs=setup.config(setup.widths[-1]).epochs, threads=torch.get_num_threads(),
                train_seconds=None if train_seconds is None else round(train_seconds, 1),
                torch=torch.__version__, python=platform.python_version(),
                overrides=dict(overrides or {}))


def path_of(chapter: str, dataset: str, profile: str = "paper", root: Path = RECORDED) -> Path:
    """Where the record of a chapter's study on a dataset lives."""
    return root / profile / dataset / f"ch{chapter}.json"


def takes_matchings(chapter: str) -> bool:
    """Whether a chapter's study run() has a `matchings` argument (ch02: none, wm)."""
    return "matchings" in inspect.signature(studies.load(chapter).run).parameters


def model_seconds(configs) -> float | None:
    """The summed training wall time of cached models, from their cache entries (a member of a
    group counts its share; a snapshot the time up to it); None when one is not cached."""
    total = 0.0
    for c in configs:
        side = cache.cache_dir() / f"{c.key()}.json"
        try:
            total += float(json.loads(side.read_text())["wall_time_s"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return total


def record(chapter: str, setup: Setup, root: Path = RECORDED, overrides: dict | None = None) -> Path:
    """Run a chapter's study under `setup` and write result + provenance (+ verdicts) as JSON.

    overrides["matchings"] (from --matchings) goes to a study whose run() takes it."""
    mod = studies.load(chapter)
    t0 = time.time()
    kw = {"matchings": tuple(overrides["matchings"])} \
        if overrides and "matchings" in overrides and takes_matchings(chapter) else {}
    result = mod.run(setup, **kw)
    out = path_of(chapter, setup.dataset, setup.profile, root)
    payload = dict(chapter=chapter, result=result,
                   provenance=provenance(setup, time.time() - t0, overrides,
                                         model_seconds(plan.configs(chapter, setup))))
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(payload, indent=1, default=float).encode())  # whole or not at all
    if hasattr(mod, "verdicts"):
        with env_set("LMC_RESULTS", str(root)):  # verdicts of a recorded run go beside it
            mod.verdicts(result, setup)
    return out


def load(chapter: str, dataset: str, profile: str = "paper", root: Path = RECORDED) -> dict | None:
    """A recorded result ({chapter, provenance, result}) or None when nothing was recorded."""
    path = path_of(chapter, dataset, profile, root)
    if not path.exists():
        return None
    try:
        rec = json.loads(path.read_text())
        if not isinstance(rec, dict) or not {"provenance", "result"} <= set(rec):
            raise ValueError("no provenance/result")
    except (OSError, ValueError) as err:
        raise LmcError(f"record {path} is truncated or corrupt ({err}); delete it, or record it "
                       f"again with `python -m lmc_lib.chapters.record --force --chapters {chapter} "
                       f"--datasets {dataset} --profile {profile}`") from None
    return rec


def describe(rec: dict | None, chapter: str = "", dataset: str = "") -> str:
    """One line saying what a record is (or that there is none, with the command that records it)."""
    if rec is None:
        where = f" --chapters {chapter}" if chapter else ""
        where += f" --datasets {dataset}" if dataset else ""
        return ("No paper-profile run has been recorded for this setting yet (it needs a GPU: "
                f"`python -m lmc_lib.chapters.record --profile paper{where}`).")
    p = rec["provenance"]
    paths = rec["result"].get("matchings")
    paths = f" (paths: {', '.join(paths)})" if paths else ""
    return (f"Recorded run (not re-executed in this build): profile `{p['profile']}`, "
            f"{p['dataset']}, {p['arch']}, widths {p['widths']}{paths}, {p['n_pairs']} pairs, on "
            f"{p['device_name']} ({p['device']}), {p['date']}, commit {p['commit']}, "
            f"{p['seconds']:.0f} s, torch {p['torch']}.")


def recorded_title(rec: dict) -> str:
    """Figure title of a recorded result: its own setup line plus device, date and commit."""
    p = rec["provenance"]
    return (f"RECORDED {rec['result']['settings']['title']} | {p['device_name']}, "
            f"{p['date'][:10]}, commit {p['commit']}")


def show(chapter: str, dataset: str, draws, table=None, profile: str = "paper") -> dict | None:
    """A chapter's paper-profile section in one call: the record (read once) drawn with the chapter's
    own plot functions `draw(result, title)` and `table(result) -> Markdown`, or the command that records it."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    rec = load(chapter, dataset, profile)
    print(describe(rec, chapter, dataset))
    if rec is None:
        return None
    for draw in draws:
        draw(rec["result"], recorded_title(rec))
        plt.show()
    if table is not None:
        display(Markdown(table(rec["result"])))
    return rec


def parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    ap = argparse.ArgumentParser(prog="python -m lmc_lib.chapters.record", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="paper", help=f"one of {', '.join(PROFILE_NAMES)}")
    ap.add_argument("--chapters", nargs="+", default=["02", "04"], help="chapter numbers: 02 04")
    ap.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    ap.add_argument("--model", default="mlp", help=f"one of {', '.join(ARCHS)}")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--widths", nargs="+", type=float, help="override the profile's widths")
    ap.add_argument("--n-pairs", type=int, help="override the profile's pairs per width")
    ap.add_argument("--matchings", nargs="+", choices=MATCHINGS,
                    help="paths per width of a study that takes them (ch02; default: none wm, "
                         "weight matching at every width); '--matchings none' skips it (its exact "
                         "assignments are the slow part at large widths: docs/BENCHMARKS.md)")
    ap.add_argument("--epochs", nargs="+", type=int,
                    help="training lengths (a constant-lr recipe): the longest is trained, the "
                         "others are kept as its snapshots; each is recorded under <root>/e<E>/")
    ap.add_argument("--root", default=str(RECORDED), help="output folder (default results/)")
    ap.add_argument("--force", action="store_true", help="record again when a record exists")
    ap.add_argument("--plan", action="store_true", help="print what would be trained; train nothing")
    ap.add_argument("--executor", default="local", help="local | ray: where the planned models train")
    ap.add_argument("--address", help="Ray cluster address for --executor ray (default: a local Ray)")
    return ap


def _param(name: str, value):
    """One command-line value checked by the chapters' parameter schema (error names the flag)."""
    try:
        return params.validate({name: value})[name]
    except LmcError as err:
        raise LmcError(f"{FLAGS[name]} {value!r}: {err}") from None


def _check_root(root: Path) -> None:
    """The output folder is a folder (or can be made) and is writable."""
    if root.exists() and not root.is_dir():
        raise LmcError(f"--root {str(root)!r} is a file; give a folder for the records")
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        why = "is under a file" if not probe.is_dir() else f"is not writable ({probe})"
        raise LmcError(f"--root {str(root)!r} {why}; give a writable folder")


def _check_dataset(name: str) -> None:
    """A known dataset whose files are present (all checked before any training)."""
    _param("dataset", name)
    try:
        data.load(name)
    except LmcError as err:
        raise LmcError(f"--datasets {name!r}: {err}") from None


def check(args) -> tuple[dict, dict]:
    """Every argument checked before any work: ({dataset: Setup}, command-line overrides)."""
    for ch in args.chapters:
        try:
            studies.load(ch)
        except LmcError as err:
            raise LmcError(f"--chapters {ch!r}: {err}") from None
    for name in ("profile", "model", "device"):
        _param(name, getattr(args, name))
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise LmcError(f"--device {args.device!r}: no CUDA GPU is visible here; use auto or cpu")
    over = {k: v for k, v in dict(widths=args.widths, n_pairs=args.n_pairs).items() if v is not None}
    if args.epochs and min(args.epochs) < 1:
        raise LmcError(f"--epochs {' '.join(map(str, args.epochs))}: every training length must be >= 1")
    if "n_pairs" in over and over["n_pairs"] < 1:
        raise LmcError(f"--n-pairs {over['n_pairs']!r}: give at least 1 pair per width")
    for name, value in over.items():
        _param(name, value)
    if args.matchings:
        if not any(takes_matchings(ch) for ch in args.chapters):
            raise LmcError(f"--matchings {' '.join(args.matchings)}: none of the chapters "
                           f"{' '.join(args.chapters)} takes matchings (chapter 02 does)")
        over["matchings"] = list(dict.fromkeys(args.matchings))
    executor.check(args.executor, args.address)
    _check_root(Path(args.root))
    for ds in args.datasets:
        _check_dataset(ds)
    sizes = {k: v for k, v in over.items() if k != "matchings"}
    setups = {ds: Setup.from_params(profile=args.profile, dataset=ds, model=args.model,
                                    device=args.device, **sizes) for ds in args.datasets}
    return setups, over


def lengths(args, setup: Setup) -> dict[int | None, tuple[Setup, Path]]:
    """{epochs: (setup, root)} per --epochs (longest first), else {None: (setup, --root)}."""
    if not args.epochs:
        return {None: (setup, Path(args.root))}
    return {e: (setup.but(overrides=dict(epochs=e)), epochs_root(Path(args.root), e))
            for e in sorted(set(args.epochs), reverse=True)}


def epochs_root(root: Path, epochs: int) -> Path:
    """Where the records of one training length go under a root: <root>/e<epochs>."""
    return Path(root) / f"e{epochs}"


def todo(args, setup: Setup, root: Path | None = None) -> list[str]:
    """The chapters still to record for a setup's dataset under `root` (all of them with --force)."""
    out = []
    root = Path(args.root) if root is None else root
    for ch in args.chapters:
        path = path_of(ch, setup.dataset, setup.profile, root)
        try:
            done = not args.force and load(ch, setup.dataset, setup.profile, root)
        except LmcError as err:
            print(f"re-recording: {err}", flush=True)
            done = False
        if done:
            print(f"skipped chapter {ch} on {setup.dataset}: {path} exists (--force records it again)",
                  flush=True)
        else:
            out.append(ch)
    return out


def run_dataset(args, setup: Setup, over: dict) -> None:
    """Pre-train what the plan asks for (with --epochs: the longest run, the others its
    snapshots), then record each chapter still to do at each length, one line each."""
    runs = {e: (s, root, todo(args, s, root)) for e, (s, root) in lengths(args, setup).items()}
    longest = max((e for e in runs if e is not None), default=None)
    configs = plan.unique(c if longest is None else c.replace(epochs=longest)
                          for s, _, chapters in runs.values() for ch in chapters
                          for c in plan.configs(ch, s))
    snapshots = tuple(e for e in runs if e not in (None, longest))
    if args.plan:
        chapters = sorted({ch for _, _, chs in runs.values() for ch in chs})
        print(f"plan for {setup.dataset} ({setup.profile}), chapters {' '.join(chapters) or '-'}"
              + (f"; snapshots at epochs {', '.join(map(str, snapshots))}" if snapshots else "") + ":")
        print(plan.table(configs, setup.device), flush=True)
        print(plan.wm_line(chapters, setup, over.get("matchings")), flush=True)
        return
    if configs:
        t0 = time.time()
        trained = executor.train_plan(configs, args.executor, args.address, device=setup.device,
                                      progress=sys.stderr.isatty(),
                                      train=functools.partial(cache.ensure_trained,
                                                              snapshots=snapshots) if snapshots else None)
        train_s = time.time() - t0
        print(f"trained {len(trained)} of {len(configs)} planned models for {setup.dataset} "
              f"in {train_s:.1f} s" + (f" (snapshots at epochs {snapshots})" if snapshots else ""),
              flush=True)
    for e, (s, root, chapters) in runs.items():
        for ch in chapters:
            t0 = time.time()
            out = record(ch, s, root, over)
            print(f"recorded chapter {ch} on {s.dataset} ({s.profile}"
                  + (f", {e} epochs" if e else "") + f") in {time.time() - t0:.1f} s -> {out}",
                  flush=True)


def main(argv=None) -> int:
    """Command-line entry point: 0 done, 2 a bad argument (nothing run), 1 a failure during the run."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        setups, over = check(args)
    except LmcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    log = None
    if not args.plan and not sys.stdout.isatty() and runlog.LOG_ENV not in os.environ:
        log = Path(args.root) / args.profile / "train.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f"training log (one line per model): {log}", flush=True)
    try:
        with env_set(runlog.LOG_ENV, log and str(log)):
            for setup in setups.values():
                run_dataset(args, setup, over)
    except LmcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
