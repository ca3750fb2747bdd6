"""Faults that need real kernels, make and signals: a chapter without a parameters cell fails alone,
two stop signals delivered together are handled once, `make lab` stops with make, and a full disk
during a chapter leaves one error line and a whole notebook in failed/."""
import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_signals import _gone, _marked, _wait_started, book  # noqa: F401 -- the fixture

from lmc_lib.build import bookbuild, bookstage, buildrun

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.chapters  # these start kernels, make or servers

FAKE = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile: str = "cpu"  # cpu | paper | smoke

# %%
print("ran")
'''


def test_a_chapter_without_the_jupytext_header_executes(tmp_path):
    """Cells pasted into a file without the generated header (no kernelspec, no language) still
    run: papermill is told the language instead of failing with "No language found"."""
    src = tmp_path / "95_bare.py"
    src.write_text(FAKE[FAKE.index("# %%"):])
    bookbuild.execute(src, tmp_path / "out.ipynb", {"profile": "smoke"}, cwd=tmp_path)
    nb = json.loads((tmp_path / "out.ipynb").read_text())
    assert any("ran" in "".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))


def test_a_chapter_without_a_parameters_cell_fails_alone(tmp_path, monkeypatch):
    """The other chapter executes; the one without a parameters cell gets a failure page that
    says what it lacks."""
    src = tmp_path / "book"
    src.mkdir()
    (src / "98_fake.py").write_text(FAKE)
    (src / "96_mine.py").write_text(FAKE.replace('# %% tags=["parameters"]\n', "# %%\n"))
    (src / "index.md").write_text("# The book\n\n<!-- VERDICTS -->\n")
    monkeypatch.setattr(bookbuild, "BOOK", src)
    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    monkeypatch.setattr(bookstage, "vendor_mathjax", lambda s, d: None)
    monkeypatch.delenv("MAX_TRAIN_MINUTES", raising=False)
    with pytest.raises(bookbuild.ChaptersFailed) as err:
        bookbuild.execute_all("smoke")
    assert "1 chapter(s) failed" in str(err.value) and "96_mine.py has no parameters cell" in str(err.value)
    assert "98_fake" not in str(err.value)
    assert (tmp_path / "build" / "executed" / "98_fake.ipynb").exists()
    dest, problems = bookbuild.stage(tmp_path / "build" / "executed", tmp_path / "stage",
                                     tmp_path / "build" / "failed")
    page = (dest / "96_mine.md").read_text()
    assert "NoParametersCell" in page and "exactly one" in page
    assert (dest / "98_fake.ipynb").exists()


BUILD = [sys.executable, "-m", "lmc_lib.build.bookbuild", "execute", "--profile", "smoke", "--jobs", "2"]


@pytest.mark.parametrize("first, second", [(signal.SIGHUP, signal.SIGTERM),
                                           (signal.SIGTERM, signal.SIGHUP)])
def test_two_stop_signals_together_are_handled_once(book, first, second):  # noqa: F811
    """SIGHUP to the build's group and SIGTERM (make's) at once: the running chapters are marked
    failed and stop; never "no chapter was running" while chapters ran. Which of the two the
    build handles is not fixed: when both are pending before it runs, Linux delivers the lower
    number (SIGHUP) first, whatever order they were sent in; the other one is then ignored."""
    proc = subprocess.Popen(BUILD, cwd=REPO, env=book["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    _wait_started(book, proc)
    os.killpg(proc.pid, first)
    os.kill(proc.pid, second)
    out = proc.communicate(timeout=60)[0]
    assert _gone(book["mark"], 15) == [], out
    assert "no chapter was running" not in out, out
    handled = re.findall(r"stopped by (SIGHUP|SIGTERM); these chapters are marked failed", out)
    assert len(handled) == 1, out  # handled once
    assert "97_sleep.py FAILED" in out and "98_sleep.py FAILED" in out
    failed = book["dir"] / "build" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["97_sleep.ipynb", "98_sleep.ipynb"]
    assert proc.returncode == 128 + signal.Signals[handled[0]]


def test_a_second_signal_during_the_clean_up_is_ignored():
    """In process: the first signal raises Stopped, the next ones (any of the three) do not."""
    old = buildrun.on_stop_signals()
    buildrun.reset_stop()
    try:
        with pytest.raises(buildrun.Stopped) as stop:
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(1)
        assert stop.value.signum == signal.SIGHUP
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            os.kill(os.getpid(), sig)  # nothing raised: the clean-up goes on
        time.sleep(0.2)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        buildrun.reset_stop()


FAKE_JUPYTER = '''#!{python}
import os, sys, time
from pathlib import Path
Path(os.environ["LMC_TEST_DIR"], "lab.started").write_text(" ".join(sys.argv[1:]))
time.sleep(600)
'''


@pytest.fixture
def fake_lab(tmp_path):
    """A venv folder for `make lab` whose jupyter is a stand-in server that only sleeps (make's
    stamps are fresh, so nothing is installed); the real python runs lmc_lib.build.lab."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    jupyter = venv / "bin" / "jupyter"
    jupyter.write_text(FAKE_JUPYTER.replace("{python}", sys.executable))
    jupyter.chmod(0o755)
    for stamp in (".lmc-installed", ".lmc-lab-installed"):
        (venv / stamp).touch()
    mark = f"lab{os.getpid()}x{time.time_ns()}"
    env = dict(os.environ, LMC_TEST_DIR=str(tmp_path), LMC_TEST_MARK=mark, PYTHONPATH=str(REPO))
    cmd = ["make", "-s", "lab", f"VENV={venv}", f"PY={sys.executable}", "LAB_ARGS=--no-browser"]
    return dict(cmd=cmd, env=env, mark=f"LMC_TEST_MARK={mark}", started=tmp_path / "lab.started")


@pytest.mark.parametrize("how", ["SIGTERM to make", "SIGHUP to the group", "SIGHUP to the group and SIGTERM",
                                 "SIGKILL to make"])
def test_make_lab_stops_with_make(fake_lab, how):
    """kill -TERM make; the terminal closed (SIGHUP to its group, make's SIGTERM after it); make
    killed outright: the server never outlives make."""
    proc = subprocess.Popen(fake_lab["cmd"], cwd=REPO, env=fake_lab["env"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not fake_lab["started"].exists():
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.2)
    args = fake_lab["started"].read_text()
    assert args.startswith(f"lab --ServerApp.root_dir={REPO}") and "--no-browser" in args
    assert len(_marked(fake_lab["mark"])) >= 2  # make, the lab process, the server
    if how == "SIGTERM to make":
        proc.send_signal(signal.SIGTERM)
    elif how == "SIGHUP to the group":
        os.killpg(proc.pid, signal.SIGHUP)
    elif how == "SIGKILL to make":
        proc.kill()
    else:
        os.killpg(proc.pid, signal.SIGHUP)
        proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=30)[0]
    assert _gone(fake_lab["mark"], 15) == [], f"JupyterLab is still running\n{out}"


BIG = FAKE.replace('print("ran")', 'print("x" * 3_000_000)')


def test_a_full_disk_during_a_chapter_is_one_line_and_a_whole_notebook(tmp_path):
    """The build under a 1 MB file-size limit (ulimit -f) runs a chapter whose notebook would be
    3 MB: papermill cannot write it; one error line names the chapter and the notebook's path; the
    notebook in failed/ is whole JSON that says what happened; no traceback."""
    src = tmp_path / "book"
    src.mkdir()
    (src / "98_big.py").write_text(BIG)
    env = dict(os.environ, LMC_BOOK=str(src), LMC_BUILD=str(tmp_path / "build"),
               LMC_CACHE=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    env.pop("MAX_TRAIN_MINUTES", None)
    limit = 2**20

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    run = subprocess.run([*BUILD[:-2], "--chapters", "98"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600, preexec_fn=small_files)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: 98_big.py")]
    assert len(errors) == 1 and "could not write" in errors[0] and "File too large" in errors[0], run.stderr
    failed = tmp_path / "build" / "failed" / "98_big.ipynb"
    nb = json.loads(failed.read_text())
    assert isinstance(nb["cells"], list) and bookstage.failure(failed)
