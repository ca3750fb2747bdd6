"""Hostile input and faults: every parameter checked up front, nothing lost, Ctrl-C stops."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild, bookstage, buildrun
from lmc_lib.chapters import params
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import budget, cache, data
from lmc_lib.core.config import TrainConfig, make_config
from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError

REPO = Path(__file__).resolve().parent.parent
CH02 = [p for p in bookbuild.chapters() if p.name.startswith("02")]


def _fails(fn, *names):
    """fn() raises an LmcError whose message names every string in `names`."""
    with pytest.raises(LmcError) as err:
        fn()
    for name in names:
        assert name in str(err.value), f"{name!r} not in: {err.value}"
    return str(err.value)


# --- 7, 10: types, ranges, one spelling of "the profile's value" -----------------------------
@pytest.mark.parametrize("name, value, chapter", [
    ("width", "abc", None), ("width", "1e9", None), ("width", float("nan"), None),
    ("widths", "abc", None), ("widths", "0.5,,1", None), ("weight_decay", "abc", None),
    ("weight_decay", -0.5, None), ("epochs", 2.5, None), ("epochs", -2, None),
    ("n_pairs", -3, None), ("device", "tpu", None), ("profile", "fast", None),
    ("dataset", "svhn", None), ("epochs", True, None), ("n_perms", 0, "03"), ("ts", 0, "09"),
    ("lams", 4, "02"), ("lams", "[0.5, 2]", "04"), ("conv_plan", {"vit": [1]}, "10")])
def test_bad_values_name_parameter_value_and_rule(name, value, chapter):
    msg = _fails(lambda: params.validate({name: value}, chapter), name, repr(value)[:3])
    assert "must be" in msg


@pytest.mark.parametrize("text, expected", [
    ("0.5,1", [0.5, 1.0]), ("[0.5, 1]", [0.5, 1.0]), ([0.5, 1], [0.5, 1.0]), (0.5, [0.5]),
    ("24", [24.0]), ("[]", []), ([], [])])
def test_list_spellings_are_parsed(text, expected):
    assert params.validate({"widths": text})["widths"] == expected


def test_numbers_from_strings_and_profile_defaults():
    got = params.validate({"width": "0.5", "epochs": "3", "weight_decay": "-1", "n_pairs": 2.0})
    assert got == {"width": 0.5, "epochs": 3, "weight_decay": -1.0, "n_pairs": 2}
    assert isinstance(got["epochs"], int) and isinstance(got["n_pairs"], int)


def test_unknown_name_is_an_error_listing_the_known_ones():
    msg = _fails(lambda: params.validate({"widht": 0.5}, "02"), "widht", "'width'", "c1_gap_pp")
    assert "chapter 02" in msg


def test_a_new_chapter_declares_its_own_parameters_by_its_cell(tmp_path):
    src = tmp_path / "13_new.py"
    src.write_text('# %% tags=["parameters"]\nprofile: str = "cpu"  # p\nlam: float = 0.5  # l\n\n# %%\n')
    assert params.validate({"lam": "0.3"}, "13", source=src) == {"lam": 0.3}
    _fails(lambda: params.validate({"lam": "abc"}, "13", source=src), "lam", "a float")
    _fails(lambda: params.validate({"lamb": 1}, "13", source=src), "lamb", "'lam'")


def test_setup_validates_in_the_kernel_too():
    assert Setup.from_params(profile="smoke", widths="0.5,1", device="cpu").widths == (0.5, 1.0)
    _fails(lambda: Setup.from_params(profile="smoke", widths="abc", device="cpu"), "widths", "abc")
    _fails(lambda: Setup.from_params(profile="smoke", weight_decay=-0.5, device="cpu"),
           "weight_decay", "-1")
    assert params.checked("03", n_perms="2", lams=5) == (2, 5)
    _fails(lambda: params.checked("09", ts=0), "ts", ">= 2")


# --- 3: size before training ------------------------------------------------------------------
def test_too_wide_is_refused_naming_the_largest_width_that_fits(monkeypatch):
    free = 20 * 2**30
    monkeypatch.setattr(budget, "available_bytes", lambda device: free)
    msg = _fails(lambda: Setup.from_params(profile="cpu", width=64, device="cpu"),
                 "width 64", "largest width that fits is")
    best = float(msg.rsplit("is ", 1)[1])
    cfg = make_config("cpu", "fashion_mnist", "mlp", best)
    assert budget.footprint(cfg)[0] <= 0.9 * free < budget.footprint(cfg.replace(width=2 * best))[0]
    Setup.from_params(profile="cpu", width=best, device="cpu")  # the suggested width is accepted


def test_footprint_grows_with_width_and_counts_optimizer_state():
    small, big = (budget.footprint(TrainConfig(width=w))[0] for w in (1.0, 4.0))
    assert big > 8 * small  # hidden-hidden weights grow with w^2
    n_params = sum(p.numel() for p in build_model("mlp", 1.0).parameters())
    adam, sgd = (budget.footprint(TrainConfig(optimizer=o))[0] for o in ("adam", "sgd"))
    assert adam - sgd == 4 * n_params  # one fp32 state tensor per weight less


def test_far_wider_than_the_profile_prints_a_time_estimate(capsys):
    Setup.from_params(profile="smoke", device="cpu")
    assert "per model" not in capsys.readouterr().out
    Setup.from_params(profile="smoke", width=4, device="cpu")
    assert "per model on one CPU thread" in capsys.readouterr().out


# --- 1, 8: bookbuild checks everything before any kernel ----------------------------------------
@pytest.fixture
def no_kernels(monkeypatch, tmp_path):
    """bookbuild with its build folder in tmp_path; starting a chapter process (or the up-front
    training) fails the test."""
    from lmc_lib.chapters import executor

    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    monkeypatch.setattr(buildrun, "run", lambda *a, **k: pytest.fail("a chapter was started"))
    monkeypatch.setattr(executor, "pretrain_book", lambda *a, **k: pytest.fail("models were trained"))
    for var in ("PROFILE", "JOBS"):
        monkeypatch.delenv(var, raising=False)


@pytest.mark.parametrize("argv, env, names", [
    (["-p", "profile", "fast"], {}, ["profile", "fast"]),
    (["-p", "widht", "0.5"], {}, ["widht"]),
    (["-p", "width", "abc"], {}, ["width", "abc"]),
    (["-p", "width", "1e9"], {}, ["width", "'1e9'"]),
    (["-p", "device", "tpu"], {}, ["device", "tpu"]),
    (["-p", "ts", "5"], {}, ["ts", "02_width"]),
    (["-p", "width", "1", "-p", "width", "2"], {}, ["width", "more than once"]),
    ([], {"JOBS": "abc"}, ["JOBS", "abc"]),
    (["--jobs", "0"], {}, ["--jobs"]),
    ([], {"PROFILE": "bogus"}, ["profile", "bogus"]),
    (["--profile", "cpu", "-p", "profile", "smoke"], {}, ["'cpu'", "'smoke'", "differ"])])
def test_bookbuild_refuses_before_any_kernel(no_kernels, monkeypatch, capsys, argv, env, names):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert bookbuild.main(["execute", "--chapters", "02", *argv]) == 1
    err = capsys.readouterr().err
    assert all(n in err for n in names), err


def test_minus_p_profile_is_the_profile(no_kernels):
    assert bookbuild.check_parameters(CH02, {"profile": "smoke"}, None)[0]["profile"] == "smoke"
    assert bookbuild.check_parameters(CH02, {}, "paper")[0]["profile"] == "paper"
    assert bookbuild.check_parameters(CH02, {}, None)[0]["profile"] == "cpu"
    env = {k: v for k, v in os.environ.items() if k != "PROFILE"}
    cmd = ["make", "-n", "chapter", "CH=02", "ARGS=-p profile smoke"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True).stdout
    line = [x for x in out.splitlines() if "bookbuild execute" in x][0]
    assert "--profile" not in line and "-p profile smoke" in line


# --- 4: relative paths ----------------------------------------------------------------------------
def test_relative_paths_resolve_against_the_users_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for var in buildrun.PATH_VARS:
        monkeypatch.setenv(var, "rel/" + var.lower())
    assert data.data_root() == tmp_path / "rel" / "lmc_data"
    assert cache.cache_dir() == tmp_path / "rel" / "lmc_cache"
    env = buildrun.absolute_env()
    assert all(env[v] == str(tmp_path / "rel" / v.lower()) for v in buildrun.PATH_VARS)


# --- K: variants ------------------------------------------------------------------------------------
def test_variant_folders(tmp_path):
    assert buildrun.variant_name("02_width", {"width": 0.5}) == "02_width-width=0.5"
    name = buildrun.variant_name("04_lewc", {"lams": [0.25, 0.5], "dataset": "a/b c"})
    assert re.fullmatch(r"04_lewc-dataset=a_b_c,lams=0\.25_0\.5-[0-9a-f]{8}", name), name
    assert name != buildrun.variant_name("04_lewc", {"lams": [0.25, 0.5], "dataset": "a_b c"})
    assert len(buildrun.variant_name("02_width", {"widths": [0.001] * 80})) <= 120
    src = CH02[0]
    default, variant = (buildrun.plan([src], [p], tmp_path, {})[0]
                        for p in ({"profile": "cpu"}, {"profile": "cpu", "width": 0.5}))
    assert default.dest == tmp_path / "executed" / "02_width.ipynb"
    assert default.env["LMC_TRAIN_LOG"] == str(tmp_path / "logs" / "02_width.log")
    folder = tmp_path / "variants" / "02_width-width=0.5"
    assert variant.dest == folder / "02_width.ipynb" and variant.failed.parent == folder / "failed"
    assert variant.env["LMC_RESULTS"] == str(folder / "results")


def test_parameter_sets_that_differ_get_different_folders():
    """Floats differing in the seventh digit, long lists differing at the end: never one folder."""
    names = {buildrun.variant_name("02_width", p) for p in (
        {"width": 0.5000001}, {"width": 0.5000002}, {"width": 0.5}, {"widths": [0.001] * 80},
        {"widths": [0.001] * 79 + [0.002]}, {"width": 1.0}, {"width": 1.0, "profile": "smoke"})}
    assert len(names) == 7
    assert "02_width-width=0.5000001" in names and "02_width-width=1" in names


def test_any_minus_p_makes_a_variant_the_profile_too(tmp_path):
    """-p profile smoke is a variant; PROFILE=smoke (the build's profile, no -p) is the book's run."""
    src, smoke = CH02[0], {"profile": "smoke"}
    by_p = buildrun.plan([src], [smoke], tmp_path, {}, given={"profile"})[0]
    by_env = buildrun.plan([src], [smoke], tmp_path, {}, given=set())[0]
    assert by_p.dest == tmp_path / "variants" / "02_width-profile=smoke" / "02_width.ipynb"
    assert by_env.dest == tmp_path / "executed" / "02_width.ipynb"
    limit = buildrun.plan([src], [{"profile": "cpu", "max_train_minutes": 0}], tmp_path, {},
                          given={"max_train_minutes"})[0]
    assert limit.dest == by_env.dest  # how long a run may train does not change what it computes


@pytest.mark.parametrize("argv, name, value", [
    (["-p", "second_dataset", ""], "second_dataset", ""),
    (["-p", "widths", "0.5,1"], "widths", [0.5, 1.0]),
    (["-p", "widths", "[0.5, 1]"], "widths", [0.5, 1.0]),
    (["-p", "widths", "[]"], "widths", []),
    (["-p", "width", "0.5"], "width", 0.5)])
def test_documented_spellings_of_the_make_route(no_kernels, argv, name, value):
    """README / book/guide.md spellings reach the chapter as documented (e.g. "" skips a dataset)."""
    given = bookbuild._given([argv[1:]])
    assert bookbuild.check_parameters(CH02, given, None)[0][name] == value


# --- 5, 9: cache modes, unreadable entries, orphan temporaries -------------------------------------
@pytest.fixture
def entry(tmp_path):
    cfg = TrainConfig(width=1 / 64, epochs=1, n_train=64)
    model = build_model("mlp", cfg.width)
    old = os.umask(0o022)
    try:
        cache._write(tmp_path, cfg.key(), cfg, model, {"test_acc": 0.5})
    finally:
        os.umask(old)
    return tmp_path, cfg


def test_entries_are_group_readable(entry):
    root, cfg = entry
    for path in cache._paths(root, cfg.key())[:2]:
        assert path.stat().st_mode & 0o777 == 0o644


def test_unreadable_entry_is_named_and_never_deleted(entry, monkeypatch):
    root, cfg = entry
    js = cache._paths(root, cfg.key())[1]
    real = Path.read_bytes

    def denied(self):
        if self == js:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    _fails(lambda: cache.load_or_train(cfg, device="cpu", cache_dir=root), str(js), "LMC_CACHE")
    assert js.exists() and cache._paths(root, cfg.key())[0].exists()


def test_orphan_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = os.uname().nodename
    orphan = tmp_path / f".k.pt~{host}~{dead.pid}~abc.tmp"
    live = tmp_path / f".k.pt~{host}~{os.getpid()}~abc.tmp"
    old = tmp_path / ".k.json~otherhost~1~abc.tmp"
    for p in (orphan, live, old):
        p.write_bytes(b"x")
    os.utime(old, (time.time() - 2 * cache.ORPHAN_AGE_S,) * 2)
    cache._atomic_write(tmp_path / "k.json", b"{}")
    assert not orphan.exists() and not old.exists() and live.exists()
    assert (tmp_path / "k.json").read_bytes() == b"{}"


def test_partial_notebooks_of_dead_builds_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan, mine = (tmp_path / f"02_width-{pid}.ipynb" for pid in (dead.pid, os.getpid()))
    for p in (orphan, mine):
        p.write_text("{}")
    buildrun.clean_running(tmp_path)
    assert not orphan.exists() and mine.exists()


# --- 2, 3, 9: chapters that fail, die or are interrupted (these start kernels) -------------------
FAKE = '''# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
profile: str = "cpu"  # cpu | paper | smoke
width: float = 0.0    # 0.25: the kernel kills itself

# %%
import os
import signal
print("LOG", os.environ["LMC_TRAIN_LOG"], "RESULTS", os.environ.get("LMC_RESULTS"))
assert profile == "smoke", "boom: not the smoke profile"
if width == 0.25:
    os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.mark.chapters
def test_failed_dead_and_variant_runs_never_touch_the_good_notebook(tmp_path, monkeypatch, capfd):
    book = tmp_path / "book"
    book.mkdir()
    (book / "98_fake.py").write_text(FAKE)
    monkeypatch.setattr(bookbuild, "BOOK", book)
    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    good = tmp_path / "build" / "executed" / "98_fake.ipynb"
    good.parent.mkdir(parents=True)
    good.write_text("GOOD")
    _fails(lambda: bookbuild.execute_all("cpu", ["98"]), "98_fake.py FAILED", "98_fake.log")
    assert "boom" in (tmp_path / "build" / "failed" / "98_fake.ipynb").read_text()
    folder = tmp_path / "build" / "variants" / "98_fake-profile=smoke,width=0.5"
    out = bookbuild.execute_all("smoke", ["98"], {"width": 0.5})
    assert out == [folder / "98_fake.ipynb"]
    text = out[0].read_text()
    assert str(folder / "98_fake.log") in text and str(folder / "results") in text
    capfd.readouterr()
    _fails(lambda: bookbuild.execute_all("smoke", ["98"], {"width": 0.25}), "98_fake.py FAILED")
    err = capfd.readouterr().err
    # the chapter and the cell are named (which cell the dying kernel reports can vary by timing)
    assert re.search(r"98_fake\.py: the kernel died in code cell \d+ of 3", err), err
    assert good.read_text() == "GOOD"


def _marked(marker: str) -> list[int]:
    """Processes whose environment holds `marker`."""
    found = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in env.read_bytes():
                found.append(int(env.parent.name))
        except OSError:
            pass
    return found


@pytest.mark.chapters
def test_ctrl_c_stops_the_build_and_leaves_no_kernel(tmp_path):
    marker = f"LMC_TEST_MARK=ctrlc{os.getpid()}"
    env = dict(os.environ, LMC_BUILD=str(tmp_path / "build"), LMC_CACHE=str(tmp_path / "cache"),
               LMC_TEST_MARK=marker.split("=")[1], OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "lmc_lib.build.bookbuild", "execute", "--chapters", "02", "03",
           "--profile", "smoke", "--jobs", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    running = tmp_path / "build" / "running"
    deadline = time.time() + 120
    while time.time() < deadline and len(list(running.glob("*.ipynb"))) < 2:
        time.sleep(0.5)
    assert len(list(running.glob("*.ipynb"))) == 2, "the two chapters did not start"
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.time() - t0 < 15, out
    assert "stopped by SIGINT" in out and "02_width.py FAILED" in out
    time.sleep(0.5)
    assert _marked(marker) == [], "processes of the build are still running"
    failed = tmp_path / "build" / "failed"
    assert sorted(p.name for p in failed.iterdir()) == ["02_width.ipynb", "03_random_permutations.ipynb"]
    assert not (tmp_path / "build" / "executed").exists()


# --- P: a broken chapter fails alone; training estimate and limit; data-folder faults -------------
@pytest.mark.chapters
def test_a_broken_chapter_fails_alone_named_by_file_and_line(tmp_path, monkeypatch):
    """A syntax error in a chapter's parameters cell: that chapter fails (file, line, a failure
    page); the other chapter of the book executes and is staged as usual."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "98_fake.py").write_text(FAKE)
    broken = FAKE.replace('width: float = 0.0 ', 'width: float = = 0')
    (book / "97_broken.py").write_text(broken)
    line = broken.splitlines().index([t for t in broken.splitlines() if "= = 0" in t][0]) + 1
    (book / "index.md").write_text("# The book\n\n<!-- VERDICTS -->\n")
    monkeypatch.setattr(bookbuild, "BOOK", book)
    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    monkeypatch.setattr(bookstage, "vendor_mathjax", lambda src, dest: None)  # no npm needed
    msg = _fails(lambda: bookbuild.execute_all("smoke"), "1 chapter(s) failed",
                 f"97_broken.py line {line}", "in the parameters cell", "= = 0")
    assert "98_fake" not in msg
    executed = tmp_path / "build" / "executed"
    assert (executed / "98_fake.ipynb").exists()
    dest, problems = bookbuild.stage(executed, tmp_path / "stage", tmp_path / "build" / "failed")
    page = (dest / "97_broken.md").read_text()
    assert f"line {line}" in page and "SyntaxError" in page and "latest run failed" in page
    assert (dest / "98_fake.ipynb").exists() and not (dest / "98_fake.md").exists()
    assert [p for p in problems if "97_broken" in p] and not [p for p in problems if "98" in p]


@pytest.mark.parametrize("argv", [["-p", "epochs", "100000"], ["-p", "n_pairs", "1000"],
                                  ["-p", "profile", "paper"]])
def test_a_run_far_above_the_limit_stops_before_any_kernel(counted_runs, capsys, argv):
    assert bookbuild.main(["execute", "--chapters", "02", *argv]) == 1
    out, err = capsys.readouterr()
    assert "training estimate" in out and "total \u2248" in out and "GFLOP/s" in out, out
    assert "max_train_minutes" in err and "-p max_train_minutes 0" in err and "nothing was trained" in err
    assert counted_runs == []
    assert bookbuild.main(["execute", "--chapters", "02", *argv, "-p", "max_train_minutes", "0"]) == 0
    assert [job.source.name for job in counted_runs] == ["02_width.py"]
    assert "max_train_minutes" not in counted_runs[0].params  # the kernel is not asked again


def test_the_estimate_is_printed_and_a_small_run_goes_ahead(counted_runs, capsys):
    assert bookbuild.main(["execute", "--chapters", "02", "--profile", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "02_width:" in out and "models" in out and "an estimate, not a measurement" in out
    assert "no limit (a default run is never stopped on an estimate)" in out
    assert counted_runs[0].env["LMC_TRAIN_CHECKED"] == "1"
    assert counted_runs[0].env["MAX_TRAIN_MINUTES"] == "0"  # a recipe inside the chapter: no limit either


def test_the_limit_is_a_number_of_minutes_and_zero_means_none():
    from lmc_lib.chapters import guard

    guard.check(59 * 60, 60, "x", "y")
    guard.check(1e12, 0, "x", "y")
    _fails(lambda: guard.check(61 * 60, 60, "chapter 02", "give -p max_train_minutes 0"),
           "chapter 02", "max_train_minutes = 60", "give -p max_train_minutes 0")
    _fails(lambda: bookbuild.train_limit("abc"), "max_train_minutes", "abc")
    _fails(lambda: bookbuild.train_limit(-1), "max_train_minutes", ">= 0")


def _as_user(cmd: list, env: dict) -> subprocess.CompletedProcess:
    """Run `cmd` where permissions count (root passes every check: drop its override powers)."""
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        cmd = [shutil.which("setpriv") or "setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *cmd]
    return subprocess.run(cmd, cwd="/", env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("fault", ["read-only", "unreadable", "a file"])
def test_a_data_folder_fault_is_one_line_naming_the_folder_and_the_fix(fault):

    top = Path(tempfile.mkdtemp(prefix="lmc-datafault-"))
    try:
        top.chmod(0o755)
        root = top / "data"
        if fault == "a file":
            root.write_text("not a folder")
        else:
            root.mkdir(mode=0o555 if fault == "read-only" else 0o000)
            root.chmod(0o555 if fault == "read-only" else 0o000)
        env = {"PATH": "/nonexistent", "LMC_DATA": str(root), "HOME": str(top),
               "PYTHONPATH": str(REPO)}  # no npm / apt-get: a download would fail differently
        run = _as_user([sys.executable, "-m", "lmc_lib.core.data", "fetch", "mnist"], env)
        assert run.returncode == 1, run.stdout + run.stderr
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in run.stderr, run.stderr
        want = {"read-only": "is not writable", "unreadable": "is not readable",
                "a file": "is a file, not a folder"}[fault]
        assert f"data folder {root} {want}" in lines[0] and "LMC_DATA" in lines[0], lines[0]
        if fault == "unreadable":  # a chapter loading the data: the same message, as a DataError
            code = f"from lmc_lib.core import data; data.load('mnist', root={str(root)!r})"
            run = _as_user([sys.executable, "-c", code], env)
            assert f"DataError: data folder {root} is not readable" in run.stderr, run.stderr
    finally:
        for p in (top / "data", top):
            if p.is_dir():
                p.chmod(0o755)
        shutil.rmtree(top, ignore_errors=True)
