"""`make new-chapter NAME=...`: the generator refuses bad names and its chapter runs as generated."""
import json
import subprocess
import sys

import pytest

from lmc_lib.build import bookbuild, newchapter
from lmc_lib.core.utils import LmcError


@pytest.mark.parametrize("bad", ["", "2fast", "my-hypothesis", "my hypothesis", "class", "MyHyp", "../x"])
def test_refuses_names_that_are_not_identifiers(bad, tmp_path):
    with pytest.raises(LmcError, match="identifier"):
        newchapter.new_chapter(bad, tmp_path)
    assert not list(tmp_path.iterdir())


def test_numbers_and_refuses_existing_names(tmp_path):
    (tmp_path / "01_intro.py").write_text("")
    (tmp_path / "07_other.py").write_text("")
    path = newchapter.new_chapter("my_hypothesis", tmp_path)
    assert path.name == "08_my_hypothesis.py"
    text = path.read_text()
    assert "# # 08. My hypothesis" in text and "__NUMBER__" not in text and "__NAME__" not in text
    assert '"08"' in text  # the chapter id of the verdict record
    with pytest.raises(LmcError, match="exists already"):
        newchapter.new_chapter("my_hypothesis", tmp_path)
    with pytest.raises(LmcError, match="exists already"):
        newchapter.new_chapter("other", tmp_path)
    assert newchapter.new_chapter("second", tmp_path).name == "09_second.py"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert newchapter.new_chapter("first", empty).name == "01_first.py"
    with pytest.raises(LmcError, match="does not exist"):
        newchapter.new_chapter("x", tmp_path / "missing")


def test_cli_exit_status(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "lmc_lib.build.newchapter", "hyp", "--book", str(tmp_path)],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and (tmp_path / "01_hyp.py").exists() and "make chapter CH=01" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "lmc_lib.build.newchapter", "hyp", "--book", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "exists already" in bad.stderr


def test_papermill_sees_the_generated_chapters_parameters(tmp_path):
    import jupytext
    import papermill

    path = newchapter.new_chapter("my_hypothesis", tmp_path)
    nb = tmp_path / "nb.ipynb"
    jupytext.write(bookbuild.to_notebook(path), nb)
    seen = set(papermill.inspect_notebook(str(nb)))
    shared = {"dataset", "model", "widths", "width", "epochs", "n_pairs", "weight_decay", "device",
              "profile"}
    assert shared | {"lam", "claim", "kl_drop", "agree_min"} <= seen


def test_generated_chapter_follows_the_books_figure_and_prose_rules(tmp_path):
    nb = bookbuild.to_notebook(newchapter.new_chapter("my_hypothesis", tmp_path))
    shown = [c for c in nb.cells if c.cell_type == "code" and "plt.show()" in c.source]
    assert len(shown) == 1 and shown[0].source.count("plt.show()") == 1
    fig = shown[0].metadata["mystnb"]
    assert fig["figure"]["name"] == "fig-my_hypothesis" and fig["figure"]["caption"] and fig["image"]["alt"]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "SPEC" not in prose and "__" not in prose


@pytest.mark.chapters
def test_generated_chapter_runs_and_ends_in_a_verdict(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one torch thread
    book = tmp_path / "book"
    book.mkdir()
    path = newchapter.new_chapter("my_hypothesis", book)
    out = tmp_path / "executed" / (path.stem + ".ipynb")
    bookbuild.execute(path, out, {"profile": "smoke"}, cwd=book)
    text = out.read_text()
    assert '"output_type": "error"' not in text
    assert "image/png" in text, "the generated chapter drew no figure"
    records = list((tmp_path / "results" / "smoke").glob("H1_*.json"))
    assert [r.name for r in records] == ["H1_01_fashion_mnist.json"]
    rec = json.loads(records[0].read_text())
    assert rec["claim"] == "H1" and rec["chapter"] == "01" and rec["profile"] == "smoke"
    assert len(rec["checks"]) == 3 and len(rec["measured"]["KL mean"]) == 2  # smoke: 2 widths
    # smoke: 2 widths x 2 pairs are too few points for the rank test of the trend -> inconclusive
    assert rec["checks"]["KL falls with width beyond the spread over pairs"] is None
    assert rec["verdict"] == "inconclusive" and rec["statement"].startswith("The calibrated merged")
    assert "**H1**" in text  # the Result cell shows the verdict


DOCS = [newchapter.BOOK / "guide.md", newchapter.BOOK.parent / "docs" / "CHAPTERS.md"]
MODULES = {"experiment": "chapters", "merge": "lmc", "perm": "matching", "calibrate": "lmc",
           "probes": "lmc", "hypothesis": "chapters", "claims": "lmc", "report": "chapters",
           "cache": "core", "config": "core", "barriers": "lmc", "plots": "chapters",
           "params": "chapters", "newchapter": "build", "bookbuild": "build", "record": "chapters"}


def _resolve(dotted: str):
    """Import the longest module prefix of lmc_lib.a.b.c and getattr the rest (AttributeError if absent)."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ModuleNotFoundError(dotted)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_library_name_in_the_user_docs_exists(doc):
    import re

    from lmc_lib.chapters.experiment import Setup

    text = doc.read_text()
    full = set(re.findall(r"\blmc_lib(?:\.\w+)+", text))
    short = {f"lmc_lib.{MODULES[m]}.{m}.{n}" for m, n in re.findall(rf"\b({'|'.join(MODULES)})\.(\w+)\(", text)}
    for name in sorted(full | short):
        if name.endswith((".py", ".md", ".tmpl")) or re.search(r"\.(py|md)$", name):
            continue
        _resolve(name)
    for attr in set(re.findall(r"\bsetup\.(\w+)", text)):
        assert hasattr(Setup, attr) or attr in Setup.__dataclass_fields__, f"Setup has no {attr}"
    assert full, f"{doc.name} names no lmc_lib function"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_user_docs_name_only_existing_make_targets_and_repo_files(doc):
    import re

    repo = newchapter.BOOK.parent
    text = doc.read_text()
    targets = set(re.findall(r"^([\w-]+):", (repo / "Makefile").read_text(), re.M))
    for target in set(re.findall(r"\bmake ([a-z][\w-]*)", text)):
        assert target in targets, f"{doc.name} mentions `make {target}`, not in the Makefile"
    assert "/work/" not in text and "shared/" not in text, "points outside the repository"
    for path in set(re.findall(r"`((?:lmc_lib|docs|tests|book)/[\w/.-]+\.\w+)`", text)):
        if "NN" not in path:
            assert (repo / path).exists(), f"{doc.name} mentions {path}, which does not exist"
