"""Recording a chapter's study without Jupyter, reading it back; the offline check of the HTML."""
import gzip
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from lmc_lib.build import bookbuild
from lmc_lib.chapters import plan, record, studies
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import cache, data
from lmc_lib.core.utils import REPO, LmcError


def test_record_writes_result_provenance_and_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    setup = Setup.from_params(profile="smoke", device="cpu")
    out = record.record("02", setup, root=tmp_path)
    assert out == record.path_of("02", "fashion_mnist", "smoke", tmp_path)
    rec = record.load("02", "fashion_mnist", "smoke", tmp_path)
    assert rec["provenance"]["profile"] == "smoke" and rec["provenance"]["widths"] == list(setup.widths)
    assert rec["result"]["widths"] == list(setup.widths)
    assert sorted(p.name for p in (tmp_path / "smoke").glob("C*_02_*.json")) == [
        "C10_02_fashion_mnist.json", "C1_02_fashion_mnist.json", "C2_02_fashion_mnist.json"]
    assert "Recorded run" in record.describe(rec) and "No paper-profile run" in record.describe(None)


def test_unknown_chapter_is_a_clear_error():
    with pytest.raises(LmcError, match="no study module"):
        studies.load("99")


def test_check_offline_flags_network_resources(tmp_path):
    (tmp_path / "ok.html").write_text('<script src="_static/x.js"></script>'
                                      '<script>const URL = "https://example.org/a.js"</script>')
    bookbuild.check_offline(tmp_path)
    (tmp_path / "bad.html").write_text('<link rel="stylesheet" href="https://cdn.example.org/a.css">')
    with pytest.raises(LmcError, match="bad.html"):
        bookbuild.check_offline(tmp_path)


# ---------------------------------------------------------------- the command line
CHS = ("02", "04")
SMALL = ["--profile", "smoke", "--device", "cpu", "--datasets", "mnist", "--widths", "0.0625",
         "0.125", "--n-pairs", "1"]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Studies 02/04 that only count their runs; ensure_trained that only records its configs."""
    calls = dict(run=[], ensure=[], log=[])
    for ch in CHS:
        mod = studies.load(ch)

        def run(setup, ch=ch):
            calls["run"].append((ch, setup.dataset))
            return dict(widths=list(setup.widths), settings=dict(title="t"))
        monkeypatch.setattr(mod, "run", run)
        monkeypatch.setattr(mod, "verdicts", lambda result, setup: [])

    def ensure(configs, device="auto", progress=True):
        calls["ensure"].append(list(configs))
        calls["log"].append(os.environ.get("LMC_TRAIN_LOG"))
        return []
    monkeypatch.setattr(cache, "ensure_trained", ensure, raising=False)
    monkeypatch.setattr(cache, "load_or_train", lambda *a, **k: pytest.fail("trained a model"))
    monkeypatch.delenv("LMC_TRAIN_LOG", raising=False)
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    calls["root"] = tmp_path / "out"
    return calls


def _main(fake, *extra):
    return record.main(SMALL + ["--root", str(fake["root"]), "--chapters", *CHS, *extra])


def test_records_are_written_then_skipped_unless_forced(fake, capsys):
    assert _main(fake) == 0
    assert fake["run"] == [("02", "mnist"), ("04", "mnist")]
    setup = Setup.from_params(profile="smoke", dataset="mnist", device="cpu", widths=[0.0625, 0.125],
                              n_pairs=1)
    planned = set(plan.configs("02", setup)) | set(plan.configs("04", setup))
    assert len(fake["ensure"]) == 1 and set(fake["ensure"][0]) == planned
    out = capsys.readouterr().out
    assert re.search(r"recorded chapter 04 on mnist \(smoke\) in [0-9.]+ s", out)
    assert fake["log"] == [str(fake["root"] / "smoke" / "train.log")]
    assert "LMC_TRAIN_LOG" not in os.environ
    assert _main(fake) == 0
    out = capsys.readouterr().out
    assert len(fake["run"]) == 2 and len(fake["ensure"]) == 1  # nothing left to train or run
    for ch in CHS:
        assert f"skipped chapter {ch} on mnist: {record.path_of(ch, 'mnist', 'smoke', fake['root'])}" in out
    assert _main(fake, "--force") == 0
    assert len(fake["run"]) == 4


def test_provenance_holds_the_command_line_overrides(fake, monkeypatch):
    monkeypatch.setenv("LMC_COMMIT", "abc1234")  # a tree sent without .git names its commit
    assert _main(fake) == 0
    rec = record.load("02", "mnist", "smoke", fake["root"])
    assert rec["provenance"]["commit"] == "abc1234"
    assert rec["provenance"]["overrides"] == {"widths": [0.0625, 0.125], "n_pairs": 1}
    assert rec["provenance"]["widths"] == [0.0625, 0.125] and rec["provenance"]["n_pairs"] == 1
    assert record.main(SMALL[:6] + ["--root", str(fake["root"]), "--chapters", "02", "--force"]) == 0
    assert record.load("02", "mnist", "smoke", fake["root"])["provenance"]["overrides"] == {}


def test_matchings_reach_the_study_that_takes_them(fake, monkeypatch):
    seen = []

    def run(setup, lams=0, matchings=("none", "wm")):
        seen.append(tuple(matchings))
        return dict(widths=list(setup.widths), matchings=list(matchings), settings=dict(title="t"))
    monkeypatch.setattr(studies.load("02"), "run", run)
    assert _main(fake, "--matchings", "none") == 0
    assert seen == [("none",)] and ("04", "mnist") in fake["run"]  # ch04's run takes none
    rec = record.load("02", "mnist", "smoke", fake["root"])
    assert rec["provenance"]["overrides"]["matchings"] == ["none"]
    assert "(paths: none)" in record.describe(rec)
    assert _main(fake, "--force") == 0 and seen[-1] == ("none", "wm")  # the study's default


@pytest.mark.parametrize("args, named", [
    (["--chapters", "99"], "--chapters '99'"),
    (["--datasets", "mnist", "nope"], "--datasets 'nope'"),
    (["--datasets", "mnist", "cifar100"], "--datasets 'cifar100'"),
    (["--profile", "huge"], "--profile 'huge'"),
    (["--model", "lenet"], "--model 'lenet'"),
    (["--device", "tpu"], "--device 'tpu'"),
    (["--device", "cuda:0"], "--device 'cuda:0'"),
    (["--widths", "-1"], "--widths [-1.0]"),
    (["--n-pairs", "0"], "--n-pairs 0"),
    (["--n-pairs", "x"], "--n-pairs"),
    (["--root", "FILE"], "--root '{FILE}' is a file"),
    (["--root", "FILE/sub"], "--root '{FILE}/sub' is under a file"),
    (["--chapters", "04", "--matchings", "none"], "--matchings none: none of the chapters 04"),
    (["--matchings", "hungarian"], "--matchings: invalid choice: 'hungarian'"),
])
def test_bad_arguments_exit_2_naming_them_and_run_nothing(args, named, fake, tmp_path, monkeypatch,
                                                          capsys):
    data_dir = tmp_path / "data"  # mnist present, CIFAR absent, whatever this machine holds
    data_dir.mkdir()
    (data_dir / "mnist").symlink_to(data.data_root() / "mnist")
    monkeypatch.setenv("LMC_DATA", str(data_dir))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the cuda case, on any machine
    (tmp_path / "file").write_text("x")
    args = [a.replace("FILE", str(tmp_path / "file")) for a in args]
    base = ["--profile", "smoke", "--device", "cpu", "--chapters", "02", "--datasets", "mnist",
            "--root", str(fake["root"])]
    assert record.main(base + args) == 2
    assert named.replace("{FILE}", str(tmp_path / "file")) in capsys.readouterr().err
    assert fake["run"] == [] and fake["ensure"] == [] and not fake["root"].exists()


def test_corrupt_record_is_named_and_recorded_again(fake, capsys):
    path = record.path_of("02", "mnist", "smoke", fake["root"])
    path.parent.mkdir(parents=True)
    path.write_text('{"chapter": "02", "provenance": {')
    with pytest.raises(LmcError, match=re.escape(str(path))):
        record.load("02", "mnist", "smoke", fake["root"])
    assert _main(fake) == 0
    assert str(path) in capsys.readouterr().out and ("02", "mnist") in fake["run"]
    assert record.load("02", "mnist", "smoke", fake["root"])["chapter"] == "02"


def test_plan_lists_the_groups_and_trains_nothing(fake, capsys, one_thread):
    assert _main(fake, "--plan") == 0
    out = capsys.readouterr().out
    assert fake["run"] == [] and fake["ensure"] == [] and not fake["root"].exists()
    rows = [line.split() for line in out.splitlines() if line.startswith("mnist ")]
    assert [(r[1], float(r[2]), r[6], r[7]) for r in rows] == [
        ("mlp", 0.0625, "2", "0"), ("mlp", 0.125, "2", "0")]
    assert all(r[-2] == "timed" for r in rows) and "4 models, 4 to train" in out


def test_idx_reader_reads_gzipped_copies(tmp_path):
    raw = data.data_root() / "mnist" / "t10k-labels-idx1-ubyte"
    gz = tmp_path / (raw.name + ".gz")
    gz.write_bytes(gzip.compress(raw.read_bytes()))
    assert np.array_equal(data.read_idx(gz), data.read_idx(raw))
    gz.write_bytes(gzip.compress(raw.read_bytes())[:-20])
    with pytest.raises(data.DataError, match="cannot read IDX file"):
        data.read_idx(gz)


def test_gpu_script_carries_the_data_gzipped_and_unpacks_what_data_load_checks(tmp_path):
    repo = REPO
    (tmp_path / "scripts").mkdir()
    shutil.copy(repo / "scripts" / "record_gpu.sh", tmp_path / "scripts")
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(repo), LMC_DATA=str(data.data_root()),
               PACK_WHEELS="0")  # no download in a test
    subprocess.run(["bash", "scripts/record_gpu.sh", "pack"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    packed = sorted(p.relative_to(tmp_path / "data" / "gpu") for p in (tmp_path / "data" / "gpu").rglob("*"))
    assert all(p.suffix == ".gz" for p in packed if p.parent.name) and len(packed) == 10
    assert sum(p.stat().st_size for p in (tmp_path / "data" / "gpu").rglob("*")) < 48 * 2**20
    env.update(LMC_DATA=str(tmp_path / "unpacked"), OUT=str(tmp_path / "out"))
    run = subprocess.run(["bash", "scripts/record_gpu.sh", "--chapters", "99"], cwd=tmp_path, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--chapters '99'" in run.stdout
    for name in ("mnist", "fashion_mnist"):
        data.verify(name, tmp_path / "unpacked")  # every file present with its SHA-256
