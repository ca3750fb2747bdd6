"""Claim verdicts: judging, trend checks, recording and the index table."""
import json

import pytest

from lmc_lib.chapters import report
from lmc_lib.core.utils import LmcError


def test_judge_all_some_none():
    assert report.judge({"a": True, "b": True}) == "reproduced"
    assert report.judge({"a": True, "b": False}) == "not reproduced"  # no core: every check is core
    assert report.judge({"a": True, "b": False}, core=["a"]) == "partly"
    assert report.judge({"a": False, "b": False}) == "not reproduced"
    assert report.judge({"a": None, "b": True}) == "inconclusive"
    assert "inconclusive" in report.VERDICTS


def test_record_and_table(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    rec = report.record_verdict("C1", "02", "smoke", {"rises": True, "close": False, "gap": None},
                                {"acc_half": [0.5, 0.7]}, verdict="partly",
                                setting="MLP | profile smoke | w = 1/4, 1/16 | 3 pairs | epochs 2")
    assert rec["verdict"] == "partly"
    saved = json.loads((tmp_path / "smoke" / "C1_02.json").read_text())
    assert saved["verdict"] == "partly" and saved["measured"]["acc_half"] == [0.5, 0.7]
    assert saved["checks"]["gap"] is None
    table = report.verdict_table("smoke")
    assert "| C1 |" in table and "[partly](02_width.ipynb#result) (ch. 02; w = 1/16 to 1/4)" in table
    assert "w = 1/16 to 1/4 (each verdict: its own); 3 pairs; 2 epochs" in table.splitlines()[0]  # the column's scale
    assert table.count("not run") >= len(report.CLAIMS) - 1
    assert "Claims beyond the paper" not in table
    md = report.result_markdown([rec])
    assert "partly" in md and "| gap |  |  |  |  | cannot decide |" in md


def test_unknown_claim_is_an_error_naming_the_id_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    with pytest.raises(LmcError, match=r"'C99'.*statement="):
        report.record_verdict("C99", "02", "smoke", {}, {})
    with pytest.raises(LmcError, match="plain id"):
        report.record_verdict("../x", "02", "smoke", {}, {}, statement="s")
    with pytest.raises(LmcError, match="verdict"):
        report.record_verdict("C1", "02", "smoke", {}, {}, verdict="great")


def test_claims_beyond_the_paper_get_their_own_section(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    report.record_verdict("B2", "11", "smoke", {"x": True}, {}, statement="merging needs no data")
    report.record_verdict("H1", "99", "smoke", {"x": False}, {}, statement="my own idea")
    report.record_verdict("C4", "04", "smoke", {"x": True}, {})
    found = report.load_verdicts(tmp_path / "smoke")
    assert set(found) == {"B2", "H1", "C4"} and found["H1"][0]["statement"] == "my own idea"
    paper, _, beyond = report.verdict_table("smoke").partition("Claims beyond the paper and your own")
    assert "| C4 |" in paper and "B2" not in paper
    assert "| B2 | merging needs no data | [reproduced](11_beyond.ipynb#result) (ch. 11)" in beyond
    assert "| H1 | my own idea | not reproduced (ch. 99)" in beyond  # no chapter file: no link
    assert "my own idea" in report.result_markdown(found["H1"])


def test_one_chapter_on_two_datasets_keeps_both_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    for ds, ok in (("mnist", True), ("fashion_mnist", False)):
        report.record_verdict("C1", "02", "smoke", {"rises": ok}, {}, dataset=ds)
    found = report.load_verdicts(tmp_path / "smoke")["C1"]
    assert sorted((r["dataset"], r["verdict"]) for r in found) == [
        ("fashion_mnist", "not reproduced"), ("mnist", "reproduced")]
    cell = report.verdict_table("smoke").splitlines()[2]
    assert "MNIST)" in cell and "Fashion-MNIST)" in cell
