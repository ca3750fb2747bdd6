"""Faults a careless user or a busy machine causes, each reproduced with real files, processes and
limits: estimates on a loaded machine, repeated widths, oversized conv nets, damaged records, a
full disk, a terminal that is not UTF-8, malformed cache sidecars, `make chapter` without CH, the
page of a deleted chapter. (Faults that start kernels or JupyterLab: test_faults_processes.py.)"""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild, bookstage, buildrun
from lmc_lib.chapters import guard, params, plan, report, studycache
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import atomic, cache, cost, records
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PROFILE", "JOBS", "MAX_TRAIN_MINUTES")}
    return dict(env, PYTHONPATH=str(REPO), **extra)


@pytest.fixture
def loaded_machine(monkeypatch):
    """The calibration as a machine at load 7 measured it: 3.2 GFLOP/s (the issue's number), so a
    cold cpu chapter estimates hours."""
    monkeypatch.setattr(cost, "_RATES", {})
    monkeypatch.setattr(cost, "time_steps", lambda device: cost.Timing(3.2e8, 0.1, 0.0, 0.0, 5))


# --- 1: estimates never refuse the default commands ----------------------------------------------
def test_a_default_run_is_never_refused_on_an_estimate(counted_runs, loaded_machine, capsys):
    """`make chapter CH=02` on an empty cache of a loaded machine: estimated above the limit,
    printed, and run; the same chapter with -p (leaving the profile) is refused before any work."""
    assert bookbuild.main(["execute", "--chapters", "02"]) == 0
    out = capsys.readouterr().out
    total = out.split("total \u2248 ")[1].split(" (")[0]
    assert total.endswith(" h") or total.endswith(" d"), out  # far above 480 min
    assert "no limit (a default run is never stopped on an estimate)" in out
    assert "an estimate, not a measurement" in out and "median of 5 timings" in out
    assert [j.source.name for j in counted_runs] == ["02_width.py"]
    assert bookbuild.main(["execute", "--chapters", "02", "-p", "n_pairs", "5"]) == 1
    assert "above max_train_minutes = 480" in capsys.readouterr().err
    assert len(counted_runs) == 1  # the variant never started


def test_an_explicit_limit_applies_to_a_default_run_too(counted_runs, loaded_machine, monkeypatch, capsys):
    monkeypatch.setenv("MAX_TRAIN_MINUTES", "30")
    assert bookbuild.main(["execute", "--chapters", "02"]) == 1
    assert "max_train_minutes = 30" in capsys.readouterr().err and counted_runs == []


USER_CHAPTER = '''# %% tags=["parameters"]
profile: str = "cpu"  # profile
lam: float = 0.5      # where on the path

# %%
from lmc_lib.chapters.experiment import Setup
setup = Setup.from_params(profile=profile)
{body}
'''


@pytest.mark.parametrize("body, trains", [("print(setup.widths)", False),
                                          ("found = hypothesis.sweep(setup, measure)", True),
                                          ("pairs = setup.pairs(1.0)", True)])
def test_a_chapter_of_your_own_is_charged_only_for_what_it_trains(tmp_path, body, trains):
    src = tmp_path / "13_mine.py"
    src.write_text(USER_CHAPTER.replace("{body}", body))
    setup = Setup.from_params(profile="cpu", device="cpu")
    configs = guard.planned("13", setup, "", source=src)
    assert (configs == plan.pair_configs(setup)) if trains else configs == []


# --- 2: repeated widths; conv nets sized before any work ------------------------------------------
@pytest.mark.parametrize("name, value, chapter, twice", [
    ("widths", "0.125,0.125,0.25,0.25", None, "0.125"), ("widths", [1, 1.0], None, "1.0"),
    ("mlp_widths", "0.5,0.5", "10", "0.5"), ("conv_plan", "{vgg11: [0.25, 0.25]}", "10", "0.25")])
def test_repeated_widths_are_refused_naming_the_width(name, value, chapter, twice):
    with pytest.raises(params.ParamError) as err:
        params.validate({name: value}, chapter)
    assert name in str(err.value) and twice in str(err.value) and "give each width once" in str(err.value)


def test_repeated_widths_never_reach_a_kernel(counted_runs, capsys):
    assert bookbuild.main(["execute", "--chapters", "02", "-p", "widths", "0.125,0.125,0.25"]) == 1
    assert "repeats the width(s) [0.125]" in capsys.readouterr().err and counted_runs == []


def test_a_conv_width_that_does_not_fit_is_refused_before_any_work(counted_runs, capsys):
    """`-p conv_plan '{vgg11: [64]}'`: about 500 GiB to train, more than any machine here has."""
    assert bookbuild.main(["execute", "--chapters", "10", "-p", "conv_plan", "{vgg11: [64]}"]) == 1
    err = capsys.readouterr().err
    assert "parameter conv_plan: width 64 (vgg11" in err and "largest width that fits is" in err, err
    assert counted_runs == []
    with pytest.raises(LmcError, match="conv_plan: width 64"):  # the kernel's own check (papermill)
        params.checked("10", conv_plan={"vgg11": [64]})


# --- 3: records whole or absent, with a checksum ---------------------------------------------------
def _verdict(claim="C1", value=0.5):
    return report.record_verdict(claim, "02", "smoke", {"rises": True}, {"gap": value},
                                 dataset="mnist")


def test_a_damaged_verdict_record_is_named_and_skipped_never_fatal(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    for claim in ("C1", "C2", "C3", "C4"):
        _verdict(claim)
    folder = tmp_path / "smoke"
    (folder / "C1_02_mnist.json").write_bytes(b"")                      # a full disk's 0-byte file
    (folder / "C2_02_mnist.json").write_text("{}")                      # valid JSON, no checksum
    edited = json.loads((folder / "C3_02_mnist.json").read_text())
    edited["verdict"] = "reproduced" if edited["verdict"] != "reproduced" else "inconclusive"
    (folder / "C3_02_mnist.json").write_text(json.dumps(edited))         # edited, still valid JSON
    found = report.load_verdicts(folder)
    assert sorted(found) == ["C4"]
    err = capsys.readouterr().err
    for claim, why in (("C1", "empty file"), ("C2", "no checksum"), ("C3", "checksum mismatch")):
        assert f"record {folder / f'{claim}_02_mnist.json'} is damaged ({why}" in err, err
    table = report.verdict_table("smoke")  # the index of a render still builds
    assert "| C4 |" in table


def test_a_verdict_write_on_a_full_disk_keeps_the_previous_record(tmp_path):
    """RLIMIT_FSIZE (ulimit -f) makes the write fail as a full disk does: one line naming the file,
    and the good record written before is still whole."""
    code = ("import resource, sys; from lmc_lib.chapters import report\n"
            "report.record_verdict('C1', '02', 'smoke', {'rises': True}, {'gap': 0.5}, dataset='mnist')\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (300, 300))\n"
            "try:\n    report.record_verdict('C1', '02', 'smoke', {'rises': False}, {'gap': [0.1] * 500},"
            " dataset='mnist')\nexcept Exception as e:\n    print(type(e).__name__, e, file=sys.stderr)\n")
    run = subprocess.run([PY, "-c", code], env=_env(LMC_RESULTS=str(tmp_path)), capture_output=True,
                         text=True, timeout=300)
    path = tmp_path / "smoke" / "C1_02_mnist.json"
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"DiskFull could not write {path} (File too large"), run.stderr
    assert "MB free on its disk" in lines[0]
    assert records.read(path)["measured"] == {"gap": 0.5}
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_a_damaged_study_result_is_named_and_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    monkeypatch.setenv(studycache.ENV, "1")
    calls = []

    @studycache.cached_study
    def study(setup, k):
        calls.append(k)
        return {"value": [k, 2 * k]}

    setup = Setup.from_params(profile="smoke", device="cpu")
    assert study(setup, 3) == {"value": [3, 6]} and study(setup, 3) == {"value": [3, 6]}
    assert calls == [3]
    [path] = list((tmp_path / "studies").iterdir())
    for damage in ("{}", path.read_text().replace("6]", "7]"), ""):
        path.write_text(damage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert study(setup, 3) == {"value": [3, 6]}  # recomputed, never the edited number
        assert any(str(path) in str(w.message) and "recomputing" in str(w.message) for w in caught)
        assert records.read(path) == {"result": {"value": [3, 6]}}  # written whole again
    assert calls == [3, 3, 3, 3]


# --- 7: a full disk ------------------------------------------------------------------------------------
FULL_DISK = '''
import resource, sys
from lmc_lib.core import cache
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.models import build_model
cfg = TrainConfig(width=2.0, epochs=1, n_train=64)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
cache._write(cache.cache_dir(), cfg.key(), cfg, build_model("mlp", 2.0), {"test_acc": 0.5})
'''


def test_a_full_disk_is_one_line_naming_the_file_and_nothing_half_written(tmp_path):
    """A model bigger than what the disk takes (RLIMIT_FSIZE): the error names the .pt and its size;
    the cache holds no entry, no partial file and no temporary."""
    run = subprocess.run([PY, "-c", FULL_DISK], env=_env(LMC_CACHE=str(tmp_path)),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("lmc_lib.core.atomic.DiskFull: could not write " + str(tmp_path)), last
    assert ".pt (File too large: it needs" in last and "nothing half-written was left" in last
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_on_a_real_full_tmpfs_the_free_space_is_named(tmp_path):
    """A 1 MiB tmpfs (where this user may mount one): ENOSPC, the size wanted and the space free."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("no tmpfs can be mounted here (the RLIMIT_FSIZE test covers a full disk)")
    try:
        (mnt / "keep.json").write_bytes(b"{}")
        with pytest.raises(atomic.DiskFull) as err:
            atomic.atomic_write(mnt / "keep.json", b"x" * (3 * 2**20))
        assert f"could not write {mnt / 'keep.json'} (No space left on device: it needs 3.0 MB" in str(err.value)
        assert "free on its disk); free at least" in str(err.value)
        assert (mnt / "keep.json").read_bytes() == b"{}" and len(list(mnt.iterdir())) == 1
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_notebook_cut_short_never_reaches_failed(tmp_path):
    """A partial notebook that a full disk cut short: failed/ gets a whole stub saying so."""
    src = REPO / "book" / "02_width.py"
    job = buildrun.plan([src], [{"profile": "smoke"}], tmp_path, {})[0]
    job.partial = tmp_path / "running" / "02_width-1.ipynb"
    job.partial.parent.mkdir()
    job.partial.write_text('{"cells": [{"cell_type": "code", "sour')
    job.started = 0.0
    line = buildrun._finish(job, False)
    nb = json.loads(job.failed.read_text())
    assert "FAILED" in line and "cut short" in json.dumps(nb) and not job.partial.exists()
    assert bookstage.failure(job.failed).startswith("cell 2 raised NotebookDamaged")


# --- 6: any locale --------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_the_estimate_prints_on_a_terminal_that_is_not_utf8(tmp_path, encoding):
    """A real build process whose stdout cannot encode the approximately-equal sign: the estimate
    prints with "~" and the run stops on its limit with one error line, no UnicodeEncodeError."""
    cmd = [PY, "-m", "lmc_lib.build.bookbuild", "execute", "--chapters", "02", "-p", "epochs", "100000"]
    run = subprocess.run(cmd, cwd=REPO, env=_env(PYTHONIOENCODING=encoding, LANG="C", LC_ALL="C",
                         LMC_CACHE=str(tmp_path), LMC_BUILD=str(tmp_path / "build")),
                         capture_output=True, timeout=600)
    out, err = run.stdout.decode("ascii"), run.stderr.decode("ascii")  # ASCII only: decodes
    assert run.returncode == 1 and "Traceback" not in err, err
    assert "total ~ " in out and "02_width:" in out, out
    assert "above max_train_minutes" in err


def test_ascii_spellings_of_the_books_signs():
    from lmc_lib.core import textout

    assert textout.ascii_safe("a \u2248 b \u00b1 c \u2192 d", "ascii") == "a ~ b +- c -> d"
    assert textout.ascii_safe("a \u2248 b", "utf-8") == "a \u2248 b"


# --- 8: cache ls, make chapter without CH, the page of a deleted chapter ----------------------------
def _as_user(cmd: list, env: dict) -> subprocess.CompletedProcess:
    """Run `cmd` where permissions count (root passes every check: drop its override powers)."""
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]
    return subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=300)


def test_cache_ls_lists_malformed_sidecars_and_tells_unreadable_from_corrupt(tmp_path):
    cfg = TrainConfig(width=1 / 64, epochs=1, n_train=64)
    cache._write(tmp_path, cfg.key(), cfg, build_model("mlp", cfg.width), {"test_acc": 0.5})
    for key, text in (("alist", "[1, 2]"), ("badjson", "{bad"), ("types", '{"config": "x", '
                      '"metrics": [1], "wall_time_s": "s"}'), ("deep", '{"config": {"width": "w"}}'),
                      ("secret", json.dumps({"config": cfg.to_dict()}))):
        (tmp_path / f"{key}.json").write_text(text)
        (tmp_path / f"{key}.pt").write_bytes(b"x")
    (tmp_path / "secret.json").chmod(0o000)
    try:
        run = _as_user([PY, "-m", "lmc_lib.core.cache", "ls"], _env(LMC_CACHE=str(tmp_path)))
    finally:
        (tmp_path / "secret.json").chmod(0o644)
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()}
    assert "unreadable" in rows["secret"] and "corrupt" not in rows["secret"]
    assert "corrupt" in rows["alist"] and "corrupt" in rows["badjson"]
    assert "0.5000" in rows[cfg.key()] and "6 entries" in run.stdout
    assert f"unreadable: {tmp_path / 'secret.json'}: Permission denied" in run.stdout


def test_make_chapter_without_ch_says_what_to_do_and_runs_nothing(tmp_path):
    run = subprocess.run(["make", "-s", "chapter"], cwd=REPO, env=_env(LMC_BUILD=str(tmp_path / "b")),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "make chapter needs CH=NN" in run.stdout, run.stdout + run.stderr
    assert "02_width" in run.stdout and "make book runs every chapter" in run.stdout
    assert not (tmp_path / "b").exists()
    with pytest.raises(LmcError, match="--chapters needs chapter numbers"):
        bookbuild._main(bookbuild._parse(["execute", "--chapters"]))


def test_render_removes_the_page_of_a_deleted_chapter(tmp_path, monkeypatch):
    """A chapter rendered before, then deleted from book/: its page, source and notebook download
    leave _build/html with the next `make render`; the other pages stay."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "98_kept.py").write_text('# # 98. Kept\n# %% tags=["parameters"]\nprofile: str = "cpu"\n')
    (book / "index.md").write_text("# The book\n\n<!-- VERDICTS -->\n")
    html = tmp_path / "out" / "_build" / "html"
    for rel in ("98_kept.html", "97_gone.html", "_sources/97_gone.ipynb", "_sources/98_kept.ipynb",
                "index.html"):
        (html / rel).parent.mkdir(parents=True, exist_ok=True)
        (html / rel).write_text("<html></html>")
    monkeypatch.setattr(bookbuild, "BOOK", book)
    monkeypatch.setattr(bookbuild, "fetch_mathjax", lambda: None)
    monkeypatch.setattr(bookstage, "vendor_mathjax", lambda src, dest: None)
    monkeypatch.setattr(bookbuild.subprocess, "run", lambda cmd, **k: subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "results"))
    bookbuild.render(tmp_path / "executed", tmp_path / "out", tmp_path / "stage", tmp_path / "failed")
    left = sorted(str(p.relative_to(html)) for p in html.rglob("*") if p.is_file())
    assert left == ["98_kept.html", "_sources/98_kept.ipynb", "index.html"]

