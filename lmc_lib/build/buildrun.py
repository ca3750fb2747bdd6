"""Run chapters, each in a process of its own: a failed run never overwrites a good notebook, and
any stop -- Ctrl-C, SIGTERM, SIGHUP (the terminal closed), the parent dying -- ends every chapter
process and kernel within seconds and leaves the last good notebooks as they were.

A run without -p writes `_build/executed/NN.ipynb` (what the book renders; PROFILE / --profile
chooses its profile); a run with any -p (profile too) writes `_build/variants/<NN_topic-name=value,...>/`
with its notebook, its verdicts (LMC_RESULTS) and its training log. A failed or interrupted chapter's
notebook goes to `failed/` beside it. Paths in LMC_DATA / LMC_CACHE / LMC_RESULTS are made
absolute against the folder the build was started from before a kernel (cwd book/) sees them.
"""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lmc_lib.chapters.params import variant, variant_name  # one naming rule, kernels use it too
from lmc_lib.core.runlog import follow

PATH_VARS = ("LMC_DATA", "LMC_CACHE", "LMC_RESULTS")
GRACE_S = 5.0  # after SIGTERM, a chapter process gets this long before SIGKILL


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(Exception):
    """The build was stopped by a signal (the message lists what was not finished)."""

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_code = 128 + int(signum)


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGINT, SIGTERM, SIGHUP, the parent's death) arrived."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_STOPPING: list = []  # the first stop signal of this process; later ones are only noted


def _later(signum, frame):
    """A stop signal after the first (SIGHUP to the group, then SIGTERM from make): already stopping."""


def _raise_stop(signum, frame):
    """The first stop signal raises Stopped; from then on every stop signal is ignored, so that two
    signals delivered together (SIGHUP to the terminal's group and make's SIGTERM) are handled once:
    a second one cannot cut the first one's clean-up short."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _later)
    if _STOPPING:
        return
    _STOPPING.append(signum)
    raise Stopped(signum)


def reset_stop() -> None:
    """Forget an earlier stop (a new build in the same process, as tests run them)."""
    _STOPPING.clear()


def on_stop_signals(handler=_raise_stop) -> dict:
    """Route SIGINT / SIGTERM / SIGHUP to `handler` (while stopping: on to being ignored);
    returns the old handlers (to restore)."""
    return {sig: signal.signal(sig, _later if _STOPPING and handler is _raise_stop else handler)
            for sig in STOP_SIGNALS}


def die_with_parent(sig: int = signal.SIGTERM, parent: int | None = None) -> None:
    """Ask Linux to send `sig` to this process when its parent (pid `parent`, default the present
    one) dies (prctl PR_SET_PDEATHSIG); elsewhere a thread watches os.getppid() and sends it."""
    parent = parent or os.getppid()
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(1, int(sig), 0, 0, 0) != 0:  # 1: PR_SET_PDEATHSIG
            raise OSError(ctypes.get_errno(), "prctl")
    except (OSError, AttributeError):
        import threading

        def watch():
            while os.getppid() == parent:
                time.sleep(0.5)
            os.kill(os.getpid(), sig)

        threading.Thread(target=watch, daemon=True, name="parent-watch").start()
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def absolute_env(env: dict | None = None, cwd: Path | None = None) -> dict:
    """A copy of `env` whose LMC_DATA / LMC_CACHE / LMC_RESULTS are absolute (against `cwd`)."""
    env = dict(os.environ if env is None else env)
    base = Path.cwd() if cwd is None else Path(cwd)
    for var in PATH_VARS:
        if env.get(var):
            env[var] = str((base / Path(env[var]).expanduser()).absolute())
    return env


@dataclass
class Job:
    """One chapter to run: where its good / failed notebook, its log and its verdicts go."""

    source: Path
    params: dict
    dest: Path
    failed: Path
    log: Path
    env: dict = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    partial: Path | None = None
    started: float = 0.0
    shown: int = 0  # bytes of the training log already echoed on the terminal
    seconds: float = 0.0  # wall time, once finished (the build's phase summary)


def _echo_log(job: Job) -> None:
    """Print the lines the chapter's training log got since the last call, named by chapter."""
    lines, job.shown = follow(job.log, job.shown)
    for line in lines:
        print(f"  {job.source.stem}: {line}", flush=True)


def plan(sources: list[Path], params: list[dict], build: Path, env: dict,
         given=None) -> list[Job]:
    """The jobs of a build (one checked parameter dict per source); a run with any parameter
    `given` with -p (None: every one but a cpu profile) is a variant, written under build/variants/."""
    jobs = []
    for src, par in zip(sources, params):
        if variant(par, given):
            folder = build / "variants" / variant_name(src.stem, variant(par, given))
            dest, failed = folder / (src.stem + ".ipynb"), folder / "failed"
            log, job_env = folder / (src.stem + ".log"), dict(env, LMC_RESULTS=str(folder / "results"))
        else:
            dest, failed = build / "executed" / (src.stem + ".ipynb"), build / "failed"
            log, job_env = build / "logs" / (src.stem + ".log"), dict(env)
        job_env["LMC_TRAIN_LOG"] = str(log)
        jobs.append(Job(src, par, dest, failed / (src.stem + ".ipynb"), log, job_env))
    return jobs


def _start(job: Job, running: Path) -> None:
    """Start one chapter process (own session: the terminal's Ctrl-C reaches only the parent)."""
    job.partial = running / f"{job.source.stem}-{os.getpid()}.ipynb"
    job.partial.unlink(missing_ok=True)
    job.log.parent.mkdir(parents=True, exist_ok=True)
    job.log.write_text("")
    cmd = [sys.executable, "-m", "lmc_lib.build.bookbuild", "_run", str(job.source), str(job.partial),
           json.dumps(job.params), str(job.failed)]
    job.started = time.time()
    env = dict(job.env, LMC_BUILD_PID=str(os.getpid()))  # _run dies with this build, even by kill -9
    job.proc = subprocess.Popen(cmd, env=env, start_new_session=True)


def _finish(job: Job, ok: bool) -> str:
    """Move the notebook to its good or failed path; returns a line for the summary."""
    target = job.dest if ok else job.failed
    target.parent.mkdir(parents=True, exist_ok=True)
    whole = job.partial is not None and job.partial.exists() and _whole(job.partial)
    if whole:
        os.replace(job.partial, target)
    elif not ok or job.partial is not None:  # none, or cut short (a full disk): a stub says so
        ok = False
        target = job.failed
        why = None if job.partial is None or not job.partial.exists() else (
            "NotebookDamaged", f"its notebook was cut short while being written ({job.partial}); "
            "see the training log")
        write_stub(target, job.source.name, why)
        if job.partial is not None:
            job.partial.unlink(missing_ok=True)
    secs = job.seconds = time.time() - job.started
    if ok:
        return f"{job.source.name} done in {secs:.0f} s -> {target}"
    return (f"{job.source.name} FAILED after {secs:.0f} s: notebook {target}, "
            f"training log {job.log}")


def _whole(nb: Path) -> bool:
    """Whether a notebook file is whole: valid JSON with cells (not cut short by a full disk)."""
    try:
        return isinstance(json.loads(nb.read_text()).get("cells"), list)
    except (OSError, ValueError, AttributeError):
        return False


def write_stub(path: Path, name: str, error: tuple[str, str] | None = None) -> None:
    """Write a stub notebook (see _stub) atomically: whole or absent, even on a full disk."""
    from lmc_lib.core import atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        atomic.atomic_write(path, json.dumps(_stub(name, error)).encode())
    except atomic.DiskFull as err:
        print(f"ERROR {name}: {err}", file=sys.stderr, flush=True)


def _stub(name: str, error: tuple[str, str] | None = None) -> dict:
    """A notebook saying a chapter was interrupted before it wrote anything, or why it could not
    run (`error`: exception name and message, shown as the cell's error output)."""
    text = f"{name} could not run." if error else f"{name} was interrupted before it ran."
    cell = dict(cell_type="markdown", metadata={}, source=text)
    cells = [cell]
    if error:
        out = dict(output_type="error", ename=error[0], evalue=error[1], traceback=[])
        cells.append(dict(cell_type="code", metadata={}, source="", execution_count=None,
                          outputs=[out]))
    return dict(nbformat=4, nbformat_minor=5, cells=cells,
                metadata=dict(papermill=dict(exception=True)))


def _cannot_run(src: Path) -> tuple[str, str] | None:
    """(error name, message) when a chapter cannot run at all: a syntax error anywhere (file and
    line), or not exactly one parameters cell; else None."""
    from lmc_lib.chapters.params import parameters_cell, syntax_message

    try:
        compile(src.read_text(), str(src), "exec", dont_inherit=True)
    except SyntaxError as err:
        return "SyntaxError", syntax_message(src, err)
    found = parameters_cell(src)[1]
    if found != 1:
        return "NoParametersCell", (
            f"{src} has {found or 'no'} parameters cell{'s' if found > 1 else ''}; a chapter needs "
            'exactly one, a cell starting with the line `# %% tags=["parameters"]` that holds its '
            "typed parameters (see book/guide.md); fix the chapter (this stops only this chapter)")
    return None


def broken_chapters(sources: list[Path], failed: Path, given: dict) -> dict:
    """{source: failure line} of the chapters that cannot run (a syntax error anywhere, named by
    file and line; no parameters cell, or two); a book run (no -p) records it in `failed`, so the
    book's page of the chapter says why it failed."""
    out = {}
    for src in sources:
        why = _cannot_run(src)
        if why is None:
            continue
        if not given:
            write_stub(failed / (src.stem + ".ipynb"), src.name, why)
        out[src] = f"{src.name} FAILED before it ran: {why[1]}"
        print(f"ERROR {out[src]}", flush=True)
    return out


def _stop(jobs: list[Job]) -> None:
    """SIGTERM every running chapter process group, then SIGKILL what is left after GRACE_S."""
    live = [j for j in jobs if j.proc is not None and j.proc.poll() is None]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for j in live:
            try:
                os.killpg(j.proc.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + GRACE_S
        while time.time() < deadline and any(j.proc.poll() is None for j in live):
            time.sleep(0.1)
        live = [j for j in live if j.proc.poll() is None]
        if not live:
            return


def clean_running(running: Path) -> None:
    """Delete partial notebooks left in `running` by builds whose process is gone (kill -9)."""
    for nb in running.glob("*-*.ipynb"):
        pid = nb.stem.rsplit("-", 1)[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            nb.unlink(missing_ok=True)


def run(jobs: list[Job], n_parallel: int, running: Path) -> list[str]:
    """Run the jobs, n_parallel at a time; returns the failure lines (Interrupted on a stop signal)."""
    running.mkdir(parents=True, exist_ok=True)
    clean_running(running)
    todo, active, failures = list(jobs), [], []
    old = on_stop_signals()
    try:
        while todo or active:
            while todo and len(active) < n_parallel:
                job = todo.pop(0)
                _start(job, running)
                active.append(job)
                print(f"[{jobs.index(job) + 1}/{len(jobs)}] {job.source.name} started", flush=True)
            for job in active:
                _echo_log(job)
            for job in [j for j in active if j.proc.poll() is not None]:
                _echo_log(job)
                active.remove(job)
                line = _finish(job, job.proc.returncode == 0)
                print(("      " if job.proc.returncode == 0 else "ERROR ") + line, flush=True)
                if job.proc.returncode != 0:
                    failures.append(line)
            time.sleep(0.2)
    except KeyboardInterrupt as stop:
        on_stop_signals(_later)  # a second signal must not cut the clean-up short
        _stop(active)
        lines = [_finish(j, False) for j in active]
        signum = getattr(stop, "signum", signal.SIGINT)
        raise Interrupted("\n  ".join([f"stopped by {signal.Signals(signum).name}; these chapters "
                                       "are marked failed:"] + lines
                                      + [f"not started: {j.source.name}" for j in todo]),
                          signum) from None
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return failures


def kill_children() -> None:
    """Kill the process groups of this process's children (the kernel: its own session)."""
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            pid = int(stat.parent.name)
            for kill in (lambda pid=pid: os.killpg(pid, signal.SIGKILL), lambda pid=pid: os.kill(pid, signal.SIGKILL)):
                try:
                    kill()
                except OSError:
                    pass


def child_on_sigterm() -> None:
    """In a chapter process: on SIGTERM / SIGINT / SIGHUP kill the kernel and exit at once; the
    build's death (LMC_BUILD_PID) sends SIGTERM."""
    def handler(signum, frame):
        kill_children()
        os._exit(128 + signum)

    on_stop_signals(handler)
    die_with_parent(signal.SIGTERM, int(os.environ.get("LMC_BUILD_PID") or 0) or None)
