"""Claim verdicts: judging, trend checks, recording and the index table."""
import json

import pytest

from lmc_lib import report


def test_judge_all_some_none():
    assert report.judge({"a": True, "b": True}) == "reproduced"
    assert report.judge({"a": True, "b": False}) == "partly"
    assert report.judge({"a": False, "b": False}) == "not reproduced"


def test_rises_and_falls():
    ws = [0.25, 0.5, 1, 2]
    assert report.rises(ws, [0.1, 0.3, 0.5, 0.9])
    assert not report.rises(ws, [0.9, 0.5, 0.3, 0.1])
    assert report.falls(ws, [0.9, 0.5, 0.3, 0.1])
    assert not report.rises(ws, [0.5, 0.5, 0.5, 0.5])
    assert not report.rises(ws, [0.1, 0.3, 0.5, 0.55], tol=0.5)


def test_record_and_table(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    rec = report.record_verdict("C1", "02", "smoke", {"rises": True, "close": False},
                                {"acc_half": [0.5, 0.7]}, setting="MLP")
    assert rec["verdict"] == "partly"
    saved = json.loads((tmp_path / "smoke" / "C1_02.json").read_text())
    assert saved["verdict"] == "partly" and saved["measured"]["acc_half"] == [0.5, 0.7]
    table = report.verdict_table("smoke")
    assert "| C1 |" in table and "partly (ch. 02)" in table
    assert table.count("not run") >= len(report.CLAIMS) - 1
    assert "partly" in report.result_markdown([rec])


def test_unknown_claim_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    with pytest.raises(KeyError):
        report.record_verdict("C99", "02", "smoke", {}, {})
