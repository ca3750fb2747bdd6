"""A warm build keeps a chapter's notebook only when nothing it depends on changed (lmc_lib.build.reuse)."""
import json
import os

import pytest

from lmc_lib.build import bookbuild, bookstage, reuse
from lmc_lib.core import records

CHAPTER = '''# %% tags=["parameters"]
profile: str = "cpu"  # cpu | paper | smoke

# %%
import os
from pathlib import Path
from lmc_lib.chapters import report

with open(os.environ["RUNS_FILE"], "a") as f:
    f.write("{name}\\n")
report.record_verdict("H1", "{nn}", profile, {{"it ran": {ok}}}, {{}}, statement="a test claim")
print("{text}")
'''


READER = '''# %% tags=["parameters"]
profile: str = "cpu"  # cpu | paper | smoke

# %%
import os
from lmc_lib.chapters import report

with open(os.environ["RUNS_FILE"], "a") as f:
    f.write("c\\n")
print(len(report.load_verdicts(report.results_dir(profile))))
'''


def test_a_chapter_reading_every_verdict_runs_last(tmp_path):
    (tmp_path / "10_a.py").write_text(CHAPTER)
    (tmp_path / "11_b.py").write_text(READER)
    jobs = [type("Job", (), {"source": tmp_path / n})() for n in ("11_b.py", "10_a.py")]
    assert [[j.source.name for j in s] for s in reuse.stages(jobs)] == [["10_a.py"], ["11_b.py"]]


def test_fresh_is_asked_by_the_environment(monkeypatch):
    for value, fresh in (("1", True), ("yes", True), ("0", False), ("", False), ("off", False)):
        monkeypatch.setenv("LMC_FRESH", value)
        assert reuse.fresh_requested() is fresh


def _dirs(tmp_path):
    book, data, cache = (tmp_path / n for n in ("book", "data", "cache"))
    for d in (book, data, cache):
        d.mkdir()
    (book / "97_a.py").write_text("print(1)\n")
    (data / "train.idx").write_bytes(b"12345")
    (cache / "abc.pt").write_bytes(b"model")
    return book, data, cache


def _key(env, book, data, cache):
    return reuse.environment_key(env, book, data, cache)


def test_the_shared_key_changes_with_each_input_it_names(tmp_path):
    book, data, cache = _dirs(tmp_path)
    env = {"LMC_PROFILE": "cpu", "HOME": "/root"}
    base = _key(env, book, data, cache)
    assert _key(dict(env), book, data, cache) == base  # the same inputs: the same key
    assert _key(dict(env, HOME="/elsewhere", LMC_BUILD_PID="7"), book, data, cache) == base
    assert _key(dict(env, LMC_SEED="1000"), book, data, cache) != base
    assert _key(dict(env, OMP_NUM_THREADS="1"), book, data, cache) != base
    (book / "97_a.py").write_text("print(2)\n")  # a chapter's source is in its own key only
    assert _key(env, book, data, cache) == base
    (book / "97_a.ipynb").write_text("{}")  # an executed notebook beside it is no input
    assert _key(env, book, data, cache) == base
    (book / "helpers.py").write_text("X = 1\n")  # anything else in book/ is
    edited = _key(env, book, data, cache)
    assert edited != base
    (data / "train.idx").write_bytes(b"123456")
    resized = _key(env, book, data, cache)
    assert resized != edited
    (cache / "abc.lock").write_bytes(b"")
    (cache / "studies").mkdir()
    (cache / "studies" / "s.json").write_text("{}")  # study results and locks are no inputs
    assert _key(env, book, data, cache) == resized
    (cache / "def.pt").write_bytes(b"another model")
    added = _key(env, book, data, cache)
    assert added != resized
    os.utime(cache / "def.pt", ns=(1, 1))  # retrained: the same size, another time
    assert _key(env, book, data, cache) != added


def test_a_chapter_key_covers_its_source_and_parameters(tmp_path):
    src = tmp_path / "97_a.py"
    src.write_text("print(1)\n")
    key = reuse.chapter_key("shared", src, {"profile": "cpu"})
    assert reuse.chapter_key("shared", src, {"profile": "cpu"}) == key
    assert reuse.chapter_key("other", src, {"profile": "cpu"}) != key
    assert reuse.chapter_key("shared", src, {"profile": "smoke"}) != key
    src.write_text("print(2)\n")
    assert reuse.chapter_key("shared", src, {"profile": "cpu"}) != key


def test_a_damaged_or_foreign_record_is_never_reused(tmp_path):
    nb, path = tmp_path / "97_a.ipynb", tmp_path / "97_a.json"
    nb.write_text(json.dumps({"cells": []}))
    reuse.store(path, "k", tmp_path / "no results", "97")
    assert reuse.reusable(path, "k", nb) == {}
    assert reuse.reusable(path, "other key", nb) is None
    nb.write_text('{"cells": [')  # cut short
    assert reuse.reusable(path, "k", nb) is None
    nb.write_text(json.dumps({"cells": []}))
    path.write_text(path.read_text().replace('"k"', '"x"'))  # edited: its checksum fails
    assert reuse.reusable(path, "x", nb) is None


@pytest.mark.chapters
def test_a_warm_build_executes_only_what_changed(tmp_path, monkeypatch, capsys):
    """Three chapters (the third reads every verdict) built, built again (none executed, the
    verdicts written back after the results folder was deleted), one edited (only it executes:
    its verdict is the same), one whose verdict changes (it and the reader execute), --fresh (all)."""
    book = tmp_path / "book"
    book.mkdir()
    for nn, name in (("97", "a"), ("98", "b")):
        (book / f"{nn}_{name}.py").write_text(CHAPTER.format(name=name, nn=nn, text="first", ok=True))
    (book / "99_c.py").write_text(READER)
    runs = tmp_path / "runs.txt"
    monkeypatch.setattr(bookbuild, "BOOK", book)
    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    monkeypatch.setattr(bookstage, "vendor_mathjax", lambda s, d: None)
    for name in ("MAX_TRAIN_MINUTES", "LMC_RESULTS", "LMC_FRESH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LMC_BUILD", str(tmp_path / "build"))
    monkeypatch.setenv("RUNS_FILE", str(runs))

    def build(**kw):
        runs.write_text("")
        bookbuild.execute_all("smoke", **kw)
        return runs.read_text().split()

    assert build() == ["a", "b", "c"]  # the reader last
    verdict = tmp_path / "build" / "results" / "smoke" / "H1_98.json"
    first = records.read(verdict)
    (tmp_path / "build" / "results").rename(tmp_path / "gone")
    assert build() == []
    assert "kept: nothing it depends on changed" in capsys.readouterr().out
    assert records.read(verdict) == first  # written back, date and all
    (book / "97_a.py").write_text(CHAPTER.format(name="a", nn="97", text="second", ok=True))
    assert build() == ["a"]
    assert "second" in (tmp_path / "build" / "executed" / "97_a.ipynb").read_text()
    (book / "98_b.py").write_text(CHAPTER.format(name="b", nn="98", text="first", ok=False))
    assert build() == ["b", "c"]
    assert sorted(build(fresh=True)) == ["a", "b", "c"]
