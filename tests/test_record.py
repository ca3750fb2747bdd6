"""Recording a chapter's study without Jupyter, reading it back; the offline check of the HTML."""
import pytest

from lmc_lib import bookbuild, record
from lmc_lib.experiment import Setup
from lmc_lib.utils import LmcError


def test_record_writes_result_provenance_and_verdicts(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    setup = Setup.from_params(profile="smoke", device="cpu")
    out = record.record("02", setup, root=tmp_path)
    assert out == record.path_of("02", "fashion_mnist", "smoke", tmp_path)
    rec = record.load("02", "fashion_mnist", "smoke", tmp_path)
    assert rec["provenance"]["profile"] == "smoke" and rec["provenance"]["widths"] == list(setup.widths)
    assert rec["result"]["widths"] == list(setup.widths)
    assert sorted(p.name for p in (tmp_path / "smoke").glob("C*_02.json")) == [
        "C10_02.json", "C1_02.json", "C2_02.json"]
    assert "Recorded run" in record.describe(rec) and "No paper-profile run" in record.describe(None)


def test_unknown_chapter_is_a_clear_error():
    with pytest.raises(LmcError, match="no study module"):
        record.study("99")


def test_check_offline_flags_network_resources(tmp_path):
    (tmp_path / "ok.html").write_text('<script src="_static/x.js"></script>'
                                      '<script>const URL = "https://example.org/a.js"</script>')
    bookbuild.check_offline(tmp_path)
    (tmp_path / "bad.html").write_text('<link rel="stylesheet" href="https://cdn.example.org/a.css">')
    with pytest.raises(LmcError, match="bad.html"):
        bookbuild.check_offline(tmp_path)
