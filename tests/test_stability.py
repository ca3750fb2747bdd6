"""The stability column: a seed-shifted build's verdicts, committed, compared with the book's."""
import json

import pytest

from lmc_lib.chapters import report, stability


def _write(folder, claim, chapter, verdict, dataset="fashion_mnist", profile="cpu"):
    folder.mkdir(parents=True, exist_ok=True)
    rec = dict(claim=claim, chapter=chapter, dataset=dataset, profile=profile, verdict=verdict,
               checks={}, commit="abc1234", setting="s")
    (folder / f"{claim}_{chapter}_{dataset}.json").write_text(json.dumps(rec))
    return rec


def test_collect_copies_the_seed_shifted_verdicts_with_provenance(tmp_path):
    build = tmp_path / "_build"
    _write(build / "variants" / "02_width-seed=1000" / "results" / "cpu", "C1", "02", "reproduced")
    _write(build / "variants" / "07_weight_decay-seed=1000" / "results" / "cpu", "C8", "07", "partly")
    _write(build / "variants" / "02_width-width=2" / "results" / "cpu", "C2", "02", "partly")  # not it
    (build / "variants" / "02_width-seed=1000" / "results" / "cpu" / "notes.json").write_text("[1]")
    out = stability.collect(build, seed=1000, profile="cpu", out=tmp_path / "seed1000")
    found = stability.load(out)
    assert set(found) == {("C1", "02", "fashion_mnist"), ("C8", "07", "fashion_mnist")}
    prov = json.loads((out / stability.PROVENANCE).read_text())
    assert prov["seed"] == 1000 and prov["records"] == 2 and prov["commits"] == ["abc1234"]
    assert all("seed=1000" in s for s in prov["sources"])


def test_collect_without_a_seed_shifted_build_names_the_command(tmp_path):
    with pytest.raises(stability.StabilityError, match="make book SEED=1000"):
        stability.collect(tmp_path, seed=1000, out=tmp_path / "out")
    assert stability.main(["collect", "--build", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_survival_same_flip_and_not_recorded(tmp_path):
    other = {stability.key(r): r for r in (
        _write(tmp_path, "C1", "02", "reproduced"), _write(tmp_path, "C2", "02", "not reproduced"),
        _write(tmp_path, "C4", "04", "partly", profile="paper"))}
    book = [_write(tmp_path / "b", "C1", "02", "reproduced"), _write(tmp_path / "b", "C2", "02", "partly"),
            _write(tmp_path / "b", "C3", "03", "partly"), _write(tmp_path / "b", "C4", "04", "partly")]
    assert [stability.survival(r, other) for r in book] == [
        "same", "flips to not reproduced", "not recorded", "not recorded"]  # C4: another profile
    assert stability.summary(book, other) == (
        "Under seed offset 1000, 1 of the 2 verdicts recorded in both builds keep their value; these "
        "flip: C2 (ch. 02): partly -> not reproduced.")
    assert stability.summary(book[:1], other).endswith("keep their value; none flips.")
    assert "is not recorded" in stability.summary(book, {})
    assert stability.cell(book[:2], other) == "same (ch. 02); flips to not reproduced (ch. 02)"
    assert stability.cell(book[:2], {}) == "not recorded"


def test_the_index_shows_the_stability_column(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "live"))
    report.record_verdict("C1", "02", "smoke", {"rises": True}, {}, dataset="mnist")
    report.record_verdict("C2", "02", "smoke", {"falls": True}, {}, dataset="mnist")
    seed = stability.folder_of(1000, tmp_path / "stability")
    _write(seed, "C1", "02", "reproduced", dataset="mnist", profile="smoke")
    _write(seed, "C2", "02", "not reproduced", dataset="mnist", profile="smoke")
    monkeypatch.setattr(stability, "folder_of", lambda *args, **kwargs: seed)
    table = report.verdict_table("smoke")
    head, rule, c1, c2 = table.splitlines()[:4]
    assert "seed offset 1000" in head and rule.count("---") == 6
    assert "(ch. 02, MNIST) | same (ch. 02, MNIST) | not run | not run |" in c1  # beside the live one
    assert "| flips to not reproduced (ch. 02, MNIST) | not run | not run |" in c2
    assert "these flip: C2 (ch. 02, MNIST): " in table  # the flip list under the table, by name
