"""The paper recipe recorded on a CPU at several training lengths (record --epochs, snapshots),
read back by lmc_lib.chapters.regimes and attributed by lmc_lib.chapters.attribution: a real
smoke-profile record at 2 epochs with its 1-epoch snapshot, and hand-made cases of the rule."""
import json

import numpy as np
import pytest

from lmc_lib.chapters import attribution, record, regimes, report
from lmc_lib.chapters.attribution import movement, statement
from lmc_lib.core import records


@pytest.fixture(scope="module")
def smoke_records(tmp_path_factory):
    """Smoke records of chapters 02, 04, 05 at 2 epochs and their 1-epoch snapshots."""
    tmp = tmp_path_factory.mktemp("regimes")
    mp = pytest.MonkeyPatch()
    mp.setenv("LMC_CACHE", str(tmp / "cache"))
    mp.setenv("LMC_BUILD", str(tmp / "build"))
    mp.setenv("LMC_TRAIN_LOG", str(tmp / "train.log"))
    rc = record.main(["--profile", "smoke", "--device", "cpu", "--root", str(tmp / "cpu"),
                      "--datasets", "fashion_mnist", "--chapters", "02", "04", "05",
                      "--epochs", "2", "1", "--n-pairs", "2"])
    assert rc == 0
    yield tmp
    mp.undo()


@pytest.fixture
def as_cpu_records(smoke_records, monkeypatch):
    """regimes reads the smoke records as if they were the paper recipe's (lengths 1 and 2)."""
    monkeypatch.setattr(regimes, "CPU_RECORDS", smoke_records / "cpu")
    monkeypatch.setattr(regimes, "PROFILE", "smoke")
    monkeypatch.setattr(regimes, "LENGTHS", (1, 2))
    monkeypatch.setattr(regimes, "FULL", 2)
    monkeypatch.setenv("LMC_BUILD", str(smoke_records / "build"))
    return smoke_records


def test_every_length_is_recorded_with_its_epochs_and_training_time(smoke_records):
    for e in (1, 2):
        for ch in ("02", "04", "05"):
            rec = json.loads((smoke_records / "cpu" / f"e{e}" / "smoke" / "fashion_mnist" / f"ch{ch}.json").read_text())
            assert rec["provenance"]["epochs"] == e and rec["provenance"]["train_seconds"] > 0
            assert f"epochs {e}" not in rec["result"]["settings"]["title"] or e == 2
    log = (smoke_records / "train.log").read_text()
    assert log.count("mlp/plain") == 8  # 2 widths x 4 models trained once, at 2 epochs


def test_lengths_and_movement_read_the_records(as_cpu_records):
    got = attribution.lengths("C2", "fashion_mnist")
    assert got["epochs"] == [1, 2] and len(got["widths"]) == 2 and got["direction"] == -1
    assert all(len(got["values"][e][-1]) == 2 for e in (1, 2))  # 2 pairs at the widest width
    assert got["values"][1] != got["values"][2]  # a snapshot is another model than the full run
    move = attribution.claim_movement("C5", "fashion_mnist")
    assert move["first"] == 1 and move["last"] == 2
    assert move["word"] in ("towards", "away", "no clear movement")
    assert attribution.claim_movement("C7", "fashion_mnist") is None  # not on the axis


def test_rejudged_verdicts_never_mix_with_the_live_build(as_cpu_records, monkeypatch):
    live = as_cpu_records / "live"
    monkeypatch.setenv("LMC_RESULTS", str(live))
    recs = regimes.rejudge("02", "fashion_mnist")
    assert {r["claim"] for r in recs} == {"C1", "C2", "C10"} and not live.exists()
    assert (regimes.verdict_root() / "smoke" / "C1_02_fashion_mnist.json").exists()
    assert set(regimes.all_verdicts()) == {"C1", "C2", "C4", "C5", "C6", "C10", "C11"}
    assert regimes.recorded_chapters(1) == [("02", "fashion_mnist"), ("04", "fashion_mnist"),
                                            ("05", "fashion_mnist")]


def test_attribution_rows_pair_each_live_verdict_with_its_record(as_cpu_records, monkeypatch):
    live = as_cpu_records / "live2"
    monkeypatch.setenv("LMC_RESULTS", str(live))
    for r in regimes.rejudge("02", "fashion_mnist", 1):  # live verdicts: the 1-epoch record's
        (live / "smoke").mkdir(parents=True, exist_ok=True)
        records.write(live / "smoke" / f"{r['claim']}_02_fashion_mnist.json", r)  # with its checksum
    rows = attribution.rows_for(live / "smoke")
    assert {r["claim"] for r in rows} == {"C1", "C2", "C10"}
    for r in rows:
        assert r["recorded"] in report.VERDICTS and r["movement"] is not None
        assert r["statement"] == statement(r["live"], r["recorded"], r["movement"])
    table = attribution.markdown(rows)
    assert table.count("\n") == 2 + len(rows) - 1 and "Fashion-MNIST" in table


def test_missing_records_say_not_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(regimes, "CPU_RECORDS", tmp_path / "none")
    assert regimes.load("02", "mnist") is None and regimes.all_verdicts() == {}
    assert attribution.lengths("C1", "mnist")["epochs"] == []
    assert attribution.claim_movement("C1", "mnist") is None
    assert "--epochs 100 3 10 30" in regimes.command("02", "mnist")


@pytest.mark.parametrize("first,last,direction,word", [
    ([0.5, 0.6, 0.55], [0.8, 0.85, 0.9], +1, "towards"),
    ([0.5, 0.6, 0.55], [0.8, 0.85, 0.9], -1, "away"),
    ([0.5, 0.6, 0.55], [0.6, 0.5, 0.56], +1, "no clear movement"),
    ([0.5], [0.9], +1, "cannot decide"),
])
def test_movement_counts_only_a_change_that_stands_out_from_the_spread(first, last, direction, word):
    assert movement(first, last, direction)[0] == word


def test_movement_is_on_the_threshold_side_of_the_spread():
    d = np.array([0.1, 0.3, 0.2])  # mean 0.2, std 0.1: mean - std = 0.1 > 0
    assert movement(np.zeros(3), d, +1)[0] == "towards"
    assert movement(np.zeros(3), np.array([-0.05, 0.1, 0.25]), +1)[0] == "no clear movement"  # 0.1 ± 0.15


TOWARDS, NONE = dict(word="towards"), dict(word="no clear movement")


@pytest.mark.parametrize("live,rec,move,says", [
    ("reproduced", None, None, "not recorded"),
    ("reproduced", "inconclusive", TOWARDS, "cannot decide in the recorded run"),
    ("inconclusive", "reproduced", TOWARDS, "cannot decide in the cpu run"),
    ("reproduced", "partly", NONE, "holds in both regimes"),
    ("not reproduced", "reproduced", NONE, "appears with training"),
    ("partly", "not reproduced", TOWARDS, "holds in the short run only"),
    ("not reproduced", "not reproduced", TOWARDS, "moves towards the paper with training"),
    ("not reproduced", "not reproduced", NONE, "fails in both, no movement"),
    ("not reproduced", "not reproduced", dict(word="away"), "fails in both, no movement"),
    ("not reproduced", "not reproduced", dict(word="cannot decide"), "fails in both; movement cannot be decided"),
    ("not reproduced", "not reproduced", None, "fails in both regimes"),
])
def test_the_attribution_rule_gives_one_statement_per_case(live, rec, move, says):
    assert statement(live, rec, move).startswith(says)
