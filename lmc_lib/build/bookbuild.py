"""Build the book: execute the .py chapters with papermill, then render them offline with Jupyter Book.

    python -m lmc_lib.build.bookbuild execute [--profile cpu] [--chapters 01 02] [-p NAME VALUE ...]
    python -m lmc_lib.build.bookbuild render          # stage executed notebooks + index, jupyter-book build
    python -m lmc_lib.build.bookbuild all [--profile cpu] [--executor ray [--address HOST:PORT]]
    python -m lmc_lib.build.bookbuild notebooks       # book/NN_topic.ipynb beside the sources (git-ignored)
    python -m lmc_lib.build.bookbuild mathjax         # vendor MathJax 3 from npm into _static/mathjax
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

from lmc_lib.build import reuse
from lmc_lib.core.utils import REPO, LmcError, build_dir, env_set

BOOK = Path(os.environ.get("LMC_BOOK") or REPO / "book").absolute()  # tests use a tiny book
BUILD = build_dir()  # $LMC_BUILD: tests build elsewhere
EXECUTED = BUILD / "executed"
PHASES: dict[str, float] = {}  # this process's build phases and their wall seconds (phase_summary)
STAGE = BUILD / "stage"
FAILED = BUILD / "failed"
MATHJAX = REPO / "_static" / "mathjax"
MATHJAX_NPM = "mathjax@3.2.2"
MATHJAX_SHA256 = "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09"


def chapters(selected=None) -> list[Path]:
    """The chapter sources book/NN_topic.py, optionally only those whose NN is in `selected`."""
    found = sorted(BOOK.glob("[0-9][0-9]_*.py"))
    if selected:
        found = [p for p in found if p.name[:2] in set(selected)]
        missing = set(selected) - {p.name[:2] for p in found}
        if missing:
            raise LmcError(f"no chapter numbered {sorted(missing)} in {BOOK}")
    return found


def to_notebook(source: Path):
    """Read a percent-format chapter as a notebook (jupytext)."""
    import jupytext

    return jupytext.read(source)


def execute(source: Path, out: Path, parameters: dict, cwd: Path = BOOK) -> float:
    """Execute one chapter with papermill into `out`; returns seconds; a cell error raises."""
    import jupytext
    import papermill
    from nbclient.exceptions import DeadKernelError

    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        nb_in = Path(tmp) / (source.stem + ".ipynb")
        jupytext.write(to_notebook(source), nb_in)
        try:
            papermill.execute_notebook(str(nb_in), str(out), parameters=parameters,
                                       kernel_name="python3", language="python",  # no header
                                       cwd=str(cwd), progress_bar=False,
                                       config=kernel_config())
        except papermill.PapermillExecutionError as err:
            raise LmcError(f"{source.name} failed in cell {err.exec_count} "
                           f"({err.ename}: {err.evalue}); the executed notebook with the "
                           f"traceback is {out}") from None
        except DeadKernelError:
            raise LmcError(f"{source.name}: the kernel died in {_running_cell(out)} (killed: out "
                           f"of memory? see `dmesg`); the notebook so far is {out}") from None
    return time.time() - t0


def kernel_config():
    """The kernel's channels encrypted (CurveZMQ keys from jupyter_client >= 8.10) where pyzmq has
    Curve: ipykernel warns about every unencrypted TCP kernel, and there is then nothing to warn about."""
    import zmq
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    able = zmq.has("curve") and KernelManager.class_traits().get("transport_encryption")
    quiet = {"NotebookClient": {"kernel_manager_class":  # no ERROR line after a good run
                                "lmc_lib.build.kernelmanager.QuietShutdownKernelManager"}}
    return Config(dict(quiet, KernelManager={"transport_encryption": "auto"}) if able else quiet)


def _running_cell(nb_path: Path) -> str:
    """The cell a dead kernel was running: the last code cell that got an execution count."""
    try:
        cells = json.loads(nb_path.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return "an unknown cell"
    code = [c for c in cells if c.get("cell_type") == "code"]
    ran = [i for i, c in enumerate(code, 1) if c.get("execution_count") is not None]
    if not ran:
        return "an unknown cell"
    first = "".join(code[ran[-1] - 1].get("source", "")).strip().split("\n")[0][:60]
    return f"code cell {ran[-1]} of {len(code)} ({first!r})"


def check_parameters(sources: list[Path], given: dict, profile: str | None) -> list[dict]:
    """Every -p value checked for every chapter before any kernel starts; profile resolved once."""
    from lmc_lib.chapters import params as schema

    if profile is not None and given.get("profile", profile) != profile:
        raise schema.ParamError(f"--profile (or PROFILE) {profile!r} and -p profile "
                                f"{given['profile']!r} differ; give the profile once")
    merged = dict(given, profile=given.get("profile") or profile or "cpu")
    checked = [schema.validate(merged, src.name[:2], where=src.name, source=src) for src in sources]
    if checked:
        from lmc_lib.chapters import sizing  # a chapter's own widths (conv_plan ...) too

        for values in checked:
            sizing.check_widths(values)
    common = {k: v for k, v in merged.items() if k in schema.COMMON}
    if set(common) - {"profile"}:
        from lmc_lib.chapters.experiment import Setup  # sizes against the device, once, before any kernel

        Setup.from_params(**common)
    return checked


def check_jobs(jobs) -> int:
    """--jobs / JOBS as a whole number >= 1."""
    try:
        value = int(str(jobs).strip())
    except ValueError:
        value = 0
    if value < 1:
        raise LmcError(f"--jobs (make book JOBS=...) = {jobs!r}: give a whole number >= 1, "
                       "e.g. JOBS=2")
    return value


class ChaptersFailed(LmcError):
    """Some chapters of a build failed (their notebooks are under failed/)."""


def execute_all(profile=None, selected=None, parameters=None, jobs=1, executor="local",
                address=None, fresh=False) -> list[Path]:
    """Check every parameter and the training estimate, then execute the (selected) chapters `jobs`
    at a time (own processes); a chapter that does not compile fails alone, before any work. A
    book chapter whose inputs did not change since its last good run is kept (lmc_lib.build.reuse)
    unless `fresh` or $LMC_FRESH."""
    from lmc_lib.build import buildrun
    from lmc_lib.chapters import executor as trainer

    given = dict(parameters or {})
    explicit = given.pop("max_train_minutes", None)
    limit = train_limit(explicit)
    broken = buildrun.broken_chapters(chapters(selected), BUILD / "failed", given)
    todo = [src for src in chapters(selected) if src not in broken]
    per_chapter = check_parameters(todo, given, profile)
    n_jobs = check_jobs(jobs)
    trainer.check(executor, address)
    env = buildrun.absolute_env()
    env["LMC_PROFILE"] = per_chapter[0]["profile"] if per_chapter else "cpu"
    os.environ.setdefault("LMC_PROFILE", env["LMC_PROFILE"])  # render's live verdicts (`all`)
    if n_jobs > 1:  # each kernel then gets its share of the cores (torch reads this at start-up)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) // n_jobs)))
    if not enforced_limit(explicit, given, per_chapter):
        limit = 0.0  # a default run: the estimate is printed, never a reason to stop
    check_training(todo, per_chapter, limit)
    env["LMC_TRAIN_CHECKED"] = "1"  # the kernels need not estimate again
    env["MAX_TRAIN_MINUTES"] = f"{limit:g}"  # a recipe chosen inside a chapter: the same limit
    plan = buildrun.plan(todo, per_chapter, BUILD, env, given=set(given))
    total = time.time()
    trainer.pretrain_book(todo, per_chapter, executor, address)  # every core, before the kernels
    PHASES["training"] = time.time() - total
    reusing = not (fresh or reuse.fresh_requested())
    shared = _shared_key(plan, env) if reusing else None
    ran, kept, failures = [], [], list(broken.values())
    for stage in reuse.stages(plan):  # a chapter reading the others' verdicts runs after them
        keys = {job.source: reuse.chapter_key(shared, job.source, job.params, _verdicts_read(job))
                for job in stage if shared and job.dest.parent == BUILD / "executed"}  # variants always run
        todo_now = [job for job in stage if not (job.source in keys and _keep(job, keys[job.source]))]
        kept += [job for job in stage if job not in todo_now]
        ran += todo_now
        failures += buildrun.run(todo_now, n_jobs, BUILD / "running")
        for job in stage:
            if job.source in keys and job.proc is not None and job.proc.returncode == 0:
                reuse.store(_reuse_path(job), keys[job.source], _results(job), job.source.name[:2])
    PHASES[f"chapters ({n_jobs} at a time)"] = time.time() - total - PHASES["training"]
    PHASES.update({f"  {job.source.stem}": job.seconds for job in ran})
    print(f"executed {len(ran) + len(broken) - len(failures)} of {len(ran) + len(broken)} chapter(s) "
          f"in {time.time() - total:.0f} s" + (f"; kept {len(kept)} whose inputs did not change "
                                               "(make book FRESH=1 executes them too)" if kept else ""))
    if failures:
        raise ChaptersFailed(f"{len(failures)} chapter(s) failed:\n  " + "\n  ".join(failures))
    return [job.dest for job in plan]


def _shared_key(plan: list, env: dict) -> str:
    """The part of the chapters' reuse keys they share (lmc_lib.build.reuse.environment_key)."""
    from lmc_lib.core import cache, data

    with env_set("LMC_DATA", env.get("LMC_DATA")), env_set("LMC_CACHE", env.get("LMC_CACHE")):
        return reuse.environment_key(env, BOOK, data.data_root(), cache.cache_dir())


def _reuse_path(job) -> Path:
    return BUILD / "reuse" / (job.source.stem + ".json")


def _results(job) -> Path:
    """Where the job's kernel writes its live verdicts (lmc_lib.chapters.report.results_dir)."""
    root = Path(job.env["LMC_RESULTS"]) if job.env.get("LMC_RESULTS") else BUILD / "results"
    return root / job.env.get("LMC_PROFILE", "cpu")


def _verdicts_read(job) -> dict | None:
    """The other chapters' verdicts, for a chapter that reads them (reuse.reads_all_verdicts)."""
    if not reuse.reads_all_verdicts(job.source):
        return None
    return reuse.others_verdicts(_results(job), job.source.name[:2])


def _keep(job, key: str) -> bool:
    """Keep the job's last good notebook when its inputs' key is unchanged; its verdicts are written back."""
    verdicts = reuse.reusable(_reuse_path(job), key, job.dest)
    if verdicts is None:
        return False
    reuse.restore(verdicts, _results(job))
    print(f"      {job.source.name} kept: nothing it depends on changed since its last run -> {job.dest}",
          flush=True)
    return True


def train_limit(value=None) -> float:
    """max_train_minutes: -p, else $MAX_TRAIN_MINUTES, else the default (0: no limit)."""
    from lmc_lib.chapters import params

    if value is None:
        value = os.environ.get("MAX_TRAIN_MINUTES") or params.MAX_TRAIN_MINUTES
    return params.parse("max_train_minutes", value, params.RUN["max_train_minutes"])


def enforced_limit(explicit, given: dict, per_chapter: list[dict]) -> bool:
    """Whether max_train_minutes stops this build: when given (-p or $MAX_TRAIN_MINUTES), or when the
    run leaves its profile (any -p value, or a profile not made for this machine); never for the
    README's default commands (`make book`, `make chapter CH=NN` without ARGS)."""
    from lmc_lib.chapters.guard import OWN_PROFILES

    if explicit is not None or os.environ.get("MAX_TRAIN_MINUTES", "").strip():
        return True
    profile = per_chapter[0]["profile"] if per_chapter else "cpu"
    return bool(given) or profile not in OWN_PROFILES


def check_training(sources: list[Path], per_chapter: list[dict], limit: float) -> float:
    """The build's training estimate, printed before any kernel starts; refused above `limit`."""
    from lmc_lib.chapters import guard
    from lmc_lib.chapters.executor import chapter_setups

    runs = [(src, setup, values.get("second_dataset") or "")
            for src, setup, values in chapter_setups(sources, per_chapter)]
    return guard.check_book(runs, limit)


def fetch_mathjax() -> Path:
    """Vendor MathJax 3 (es5 bundle) from the npm registry into _static/mathjax, once."""
    if (MATHJAX / "tex-chtml.js").exists():
        return MATHJAX
    if shutil.which("npm") is None:
        raise LmcError("npm is needed to vendor MathJax for the offline book; install Node.js/npm")
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(["npm", "pack", MATHJAX_NPM, "--silent"], cwd=tmp,
                             capture_output=True, text=True)
        if run.returncode != 0:
            raise LmcError(f"'npm pack {MATHJAX_NPM}' failed: {run.stderr.strip()[-500:]}")
        tgz = Path(tmp) / run.stdout.strip().splitlines()[-1]
        digest = hashlib.sha256(tgz.read_bytes()).hexdigest()
        if digest != MATHJAX_SHA256:
            raise LmcError(f"{tgz.name}: SHA-256 {digest} != expected {MATHJAX_SHA256}")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, members=[m for m in tar.getmembers()
                                         if m.name.startswith("package/es5/")], filter="data")
        MATHJAX.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(Path(tmp) / "package" / "es5", MATHJAX, dirs_exist_ok=True)
    return MATHJAX


def stage(executed: Path = EXECUTED, dest: Path = STAGE,
          failed: Path = FAILED) -> tuple[Path, list]:
    """Lay out config, generated toc, pages, executed notebooks (or placeholders) and MathJax."""
    from lmc_lib.build import bookstage
    from lmc_lib.chapters import attribution, regimes
    from lmc_lib.chapters.report import results_dir, verdict_table
    from lmc_lib.chapters.scale import fill

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    shutil.copy(REPO / "references.bib", dest / "references.bib")
    if (REPO / "_static").is_dir():  # never the vendored MathJax: JB would load every .js in it
        shutil.copytree(REPO / "_static", dest / "_static", ignore=shutil.ignore_patterns("mathjax"))
    bookstage.vendor_mathjax(MATHJAX, dest / "_vendor" / "_static" / "mathjax")
    pages = sorted(p.stem for p in BOOK.glob("*.md"))
    for page in pages:  # statements of scale generated from the config (chapters.scale)
        (dest / (page + ".md")).write_text(fill((BOOK / (page + ".md")).read_text()))
    index = dest / "index.md"
    live = os.environ.get("LMC_PROFILE", "cpu")
    table = verdict_table(live, regimes.all_verdicts()) + "\n\n" + \
        attribution.index_section(results_dir(live))
    index.write_text(index.read_text().replace("<!-- VERDICTS -->", table))
    problems = [p for src in chapters() if (p := bookstage.stage_chapter(
        src, executed / (src.stem + ".ipynb"), failed, dest))]
    toc = bookstage.toc(REPO / "_toc.yml", [src.stem for src in chapters()],
                        [p for p in pages if p != "index"])
    (dest / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return dest, problems


def render(executed: Path = EXECUTED, out: Path = BUILD.parent, stage_dir: Path = STAGE,
           failed: Path = FAILED) -> Path:
    """Render executed chapters (placeholders for the rest) with jupyter-book into out/_build/html."""
    start = time.time()
    fetch_mathjax()
    src, problems = stage(executed, stage_dir, failed)
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src),
           "--path-output", str(out)]
    if subprocess.run(cmd).returncode != 0:
        raise LmcError("jupyter-book build failed (see the messages above)")
    PHASES["render"] = time.time() - start
    index = out / "_build" / "html" / "index.html"
    from lmc_lib.build import bookstage

    for gone in bookstage.prune_pages(index.parent, [c.stem for c in chapters()]):
        print(f"removed {gone}: its chapter is no longer in {BOOK}")
    check_offline(index.parent)
    print(f"\nThe book is at {index}\n(open it in a browser: file://{index})")
    if problems:
        raise LmcError("rendered, but these chapters failed (their pages say so):\n  "
                       + "\n  ".join(problems))
    return index


def phase_summary(phases: dict[str, float]) -> str:
    """The build's wall time per phase, one line each (chapters indented, slowest first), for the
    end of the build log: where a cold build's minutes go."""
    top = {k: v for k, v in phases.items() if not k.startswith(" ")}
    chapters_ = sorted(((k, v) for k, v in phases.items() if k.startswith(" ")), key=lambda kv: -kv[1])
    lines = ["time per phase (wall seconds):"]
    for name, secs in top.items():
        lines.append(f"  {name:<28} {secs:7.0f} s")
        if name.startswith("chapters"):
            lines += [f"  {k:<28} {v:7.0f} s" for k, v in chapters_]
    lines.append(f"  {'total':<28} {sum(top.values()):7.0f} s")
    return "\n".join(lines)


def check_offline(html_dir: Path) -> None:
    """Fail when a rendered page loads a script, style sheet or image from the network."""
    from lmc_lib.build.bookstage import network_loads

    offenders = network_loads(html_dir)
    if offenders:
        raise LmcError("the book loads resources from the network at view time:\n"
                       + "\n".join(offenders[:10]))


def _parse(argv):
    ap = argparse.ArgumentParser(prog="python -m lmc_lib.build.bookbuild", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["execute", "render", "all", "notebooks", "mathjax"])
    ap.add_argument("--profile", default=os.environ.get("PROFILE") or None,
                    help="cpu | paper | smoke (default $PROFILE, else -p profile, else cpu)")
    ap.add_argument("--chapters", nargs="*", help="chapter numbers, e.g. 01 04 (default: all)")
    ap.add_argument("--jobs", default=os.environ.get("JOBS", "1"),
                    help="chapters executed at a time (default $JOBS, else 1)")
    ap.add_argument("--executor", default=os.environ.get("EXECUTOR") or "local",
                    help="local | ray: ray trains the chapters' planned models first, as Ray tasks")
    ap.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray)")
    ap.add_argument("--fresh", action="store_true",
                    help="execute every chapter, also those whose inputs did not change (default $LMC_FRESH)")
    ap.add_argument("-p", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                    help="chapter parameter (YAML value), as with papermill -p")
    return ap.parse_args(argv)


def _given(pairs) -> dict:
    """-p NAME VALUE pairs as a dict (YAML values); a name given twice is an error."""
    names = [k for k, _ in pairs]
    twice = sorted({k for k in names if names.count(k) > 1})
    if twice:
        raise LmcError(f"parameter(s) {twice} given more than once with -p; give each once")
    out = {}
    for k, v in pairs:
        try:
            out[k] = yaml.safe_load(v) if v.strip() else v  # -p second_dataset "": the empty string
        except yaml.YAMLError:
            out[k] = v
    return out


def _run_one(argv) -> int:
    """Internal (a chapter process of execute_all): _run SOURCE OUT PARAMS_JSON FAILED_PATH."""
    from lmc_lib.build.buildrun import child_on_sigterm
    from lmc_lib.core import atomic

    child_on_sigterm()
    try:
        execute(Path(argv[0]), Path(argv[1]), json.loads(argv[2]))
    except LmcError as err:  # the notebook is moved to the failed path when this process ends
        print(f"error: {str(err).replace(argv[1], argv[3])}", file=sys.stderr, flush=True)
        return 1
    except OSError as err:  # a full disk while papermill writes the notebook: one line, no traceback
        print(f"error: {Path(argv[0]).name}: {atomic.write_error(err, Path(argv[1]))}",
              file=sys.stderr, flush=True)
        return 1
    return 0


def main(argv=None) -> int:
    """Command-line entry point."""
    from lmc_lib.build.buildrun import Interrupted, Stopped, on_stop_signals, reset_stop
    from lmc_lib.core import textout

    textout.safe_streams()  # any locale: ASCII spellings where the terminal lacks a character
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["_run"]:
        return _run_one(argv[1:])
    reset_stop()
    old = on_stop_signals()  # SIGTERM / SIGHUP stop the build as Ctrl-C does (children included)
    try:
        return _main(_parse(argv))
    except Interrupted as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except Stopped as stop:
        print(f"error: stopped by {stop}; no chapter was running", file=sys.stderr)
        return 128 + stop.signum
    except LmcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _main(args) -> int:
    """The commands; ChaptersFailed in `all` still renders (failed chapters get a failure page)."""
    failed = None
    if args.chapters == [] and args.command in ("execute", "all"):
        raise LmcError("--chapters needs chapter numbers (make chapter CH=02, or CH=\"02 04\"); "
                       f"the chapters are {' '.join(p.name[:2] for p in chapters())}; `make book` "
                       "runs them all")
    if args.command in ("execute", "all"):
        try:
            execute_all(args.profile, args.chapters, _given(args.p), args.jobs,
                        args.executor, args.address, args.fresh)
        except ChaptersFailed as err:
            if args.command == "execute":
                raise
            failed = err
    if args.command in ("render", "all"):
        render()
    if PHASES:
        print(phase_summary(PHASES))
    if args.command == "notebooks":
        import jupytext

        for src in chapters(args.chapters):
            jupytext.write(to_notebook(src), src.with_suffix(".ipynb"))
            print(f"wrote {src.with_suffix('.ipynb')}")
    if args.command == "mathjax":
        print(f"MathJax in {fetch_mathjax()}")
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from lmc_lib.build.buildrun import die_with_parent

    die_with_parent()  # make / the shell that started the build dies: SIGTERM stops it cleanly
    sys.exit(main())
