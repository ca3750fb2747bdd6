"""Every way a build can be stopped ends every process it started, within seconds, and keeps the
last good notebooks: SIGTERM, SIGHUP to the terminal's group, the parent's death, `kill -TERM`
to make. Real processes, real kernels, a tiny generated book (LMC_BOOK) that only sleeps."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.chapters  # these start kernels

SLEEPER = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile: str = "cpu"  # cpu | paper | smoke

# %%
import os
import time
from pathlib import Path
Path(os.environ["LMC_TEST_DIR"], "{stem}.started").write_text(str(os.getpid()))
time.sleep(600)
'''


def _marked(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (zombies do not count)."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in env.read_bytes():
                state = (env.parent / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(env.parent.name))
        except OSError:
            pass
    return found


def _gone(marker: str, within: float) -> list[int]:
    """The marked processes still alive after waiting up to `within` seconds."""
    deadline = time.time() + within
    while time.time() < deadline and _marked(marker):
        time.sleep(0.2)
    return _marked(marker)


@pytest.fixture
def book(tmp_path):
    """Two sleeping chapters, a build folder with a good notebook of the first, and the env."""
    src = tmp_path / "book"
    src.mkdir()
    for stem in ("97_sleep", "98_sleep"):
        (src / f"{stem}.py").write_text(SLEEPER.replace("{stem}", stem))
    good = tmp_path / "build" / "executed" / "97_sleep.ipynb"
    good.parent.mkdir(parents=True)
    good.write_text("GOOD")
    mark = f"sig{os.getpid()}x{time.time_ns()}"
    env = dict(os.environ, LMC_BOOK=str(src), LMC_BUILD=str(tmp_path / "build"),
               LMC_CACHE=str(tmp_path / "cache"), LMC_TEST_DIR=str(tmp_path),
               LMC_TEST_MARK=mark, OMP_NUM_THREADS="1")
    env.pop("MAX_TRAIN_MINUTES", None)
    return dict(dir=tmp_path, env=env, mark=f"LMC_TEST_MARK={mark}", good=good)


BUILD = [sys.executable, "-m", "lmc_lib.build.bookbuild", "execute", "--profile", "smoke",
         "--jobs", "2"]


def _wait_started(book, proc, timeout=180):
    """Both sleeping chapters' kernels are in their sleep cell."""
    deadline = time.time() + timeout
    started = [book["dir"] / f"{s}.started" for s in ("97_sleep", "98_sleep")]
    while time.time() < deadline and not all(p.exists() for p in started):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.3)
    assert all(p.exists() for p in started), "the two chapters did not start"
    assert len(_marked(book["mark"])) >= 5  # driver, two chapter processes, two kernels


def _check_stopped(book, proc, code=None):
    out = proc.communicate(timeout=30)[0] if proc.stdout else ""
    assert _gone(book["mark"], 15) == [], f"processes of the build are still running\n{out}"
    if code is not None:
        assert proc.returncode == code, out
    assert book["good"].read_text() == "GOOD"  # the last good notebook is untouched
    assert not (book["dir"] / "build" / "executed" / "98_sleep.ipynb").exists()
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_every_process(book, sig):
    """kill -TERM to the build; SIGHUP to its whole group, as when the terminal is closed."""
    proc = subprocess.Popen(BUILD, cwd=REPO, env=book["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait_started(book, proc)
    if sig == signal.SIGHUP:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out = _check_stopped(book, proc, 128 + sig)
    assert f"stopped by {signal.Signals(sig).name}" in out and "97_sleep.py FAILED" in out
    failed = book["dir"] / "build" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["97_sleep.ipynb", "98_sleep.ipynb"]


def test_the_parents_death_stops_the_build(book):
    """The process that started the build is killed with SIGKILL: the build stops by itself."""
    code = ("import subprocess, sys, time; subprocess.Popen(sys.argv[1:]); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", code, *BUILD], cwd=REPO, env=book["env"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_started(book, parent)
    parent.kill()
    parent.wait()
    _check_stopped(book, parent)


def test_sigkill_to_the_build_leaves_no_chapter_process_or_kernel(book):
    """kill -9 of the build itself: its chapter processes and kernels follow it."""
    proc = subprocess.Popen(BUILD, cwd=REPO, env=book["env"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _wait_started(book, proc)
    proc.kill()
    proc.wait()
    _check_stopped(book, proc)


def test_kill_term_to_make_book_stops_everything(book):
    """The reported case: `make book` (make -> sh -> build -> chapters -> kernels), kill -TERM make."""
    env = dict(book["env"], PROFILE="smoke", JOBS="2")
    proc = subprocess.Popen(["make", "-s", "book"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    _wait_started(book, proc)
    proc.send_signal(signal.SIGTERM)
    out = _check_stopped(book, proc)
    assert proc.returncode != 0, out
