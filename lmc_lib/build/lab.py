"""`make lab`: JupyterLab on the repository, stopped with make: SIGTERM or SIGHUP to make (or make's
death) stops the server too, within seconds, instead of leaving it serving the repository.

    python -m lmc_lib.build.lab ROOT JUPYTER [ARGS ...]

The Makefile execs this process in place of its shell, so it is make's child: it dies with make
(PR_SET_PDEATHSIG), stops the server's process group on SIGINT (Ctrl-C), SIGTERM or SIGHUP, and
kills what is left after GRACE_S; the server, in its own group, also dies with this process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from lmc_lib.build.buildrun import die_with_parent

GRACE_S = 5.0
STOP = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def command(root: Path, jupyter: str, args: list[str]) -> tuple[list[str], dict]:
    """The server's command line and environment (the repository's jupyter_config first)."""
    env = dict(os.environ)
    config = str(root / "jupyter_config")
    env["JUPYTER_CONFIG_PATH"] = config + (":" + env["JUPYTER_CONFIG_PATH"]
                                           if env.get("JUPYTER_CONFIG_PATH") else "")
    cmd = [jupyter, "lab", f"--ServerApp.root_dir={root}"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []
    return cmd + list(args), env


def _stop(proc: subprocess.Popen, sig: int) -> None:
    """`sig` to the server's process group; SIGKILL after GRACE_S."""
    for s in (sig, signal.SIGKILL):
        try:
            os.killpg(proc.pid, s)
        except ProcessLookupError:
            return
        try:
            proc.wait(GRACE_S)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    """Run the server until it ends or a stop signal comes; returns its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    root, jupyter, args = Path(argv[0]).absolute(), argv[1], argv[2:]
    cmd, env = command(root, jupyter, args)
    die_with_parent(signal.SIGTERM)  # make dies (kill -9 too): this process gets SIGTERM
    stop: list[int] = []

    def on_signal(signum, frame):
        stop.append(signum)
        raise KeyboardInterrupt

    for sig in STOP:
        signal.signal(sig, on_signal)
    proc = subprocess.Popen(cmd, env=env, cwd=root, process_group=0,
                            preexec_fn=lambda: die_with_parent(signal.SIGTERM))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        for sig in STOP:
            signal.signal(sig, signal.SIG_IGN)  # signals delivered together are handled once
        _stop(proc, signal.SIGTERM)
        name = signal.Signals(stop[0]).name if stop else "a signal"
        print(f"JupyterLab stopped ({name})", file=sys.stderr, flush=True)
        return 128 + (stop[0] if stop else signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
