"""The book's chapters: structure (parameters cell, table of contents) and one smoke execution each."""
import ast
import json
import re
from pathlib import Path

import pytest

from lmc_lib.build import bookbuild
from lmc_lib.chapters import params

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = bookbuild.chapters()
NO_VERDICT = {"01", "12"}  # chapter 1 sets up the definitions; chapter 12 attributes the others' verdicts
REQUIRED = {"dataset", "model", "widths", "width", "epochs", "n_pairs", "weight_decay",
            "device", "profile"}


def _parameters_cell(path: Path) -> str:
    cells = path.read_text().split("\n# %%")
    tagged = [c for c in cells if re.match(r'[^\n]*tags=\[[^\]]*"parameters"', c)]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} parameters cells (want exactly 1)"
    return tagged[0].split("\n", 1)[1]


def test_there_are_chapters_and_all_are_in_the_toc():
    assert CHAPTERS, "no book/NN_topic.py chapters found"
    from lmc_lib.build import bookstage  # the staged toc fills the "Chapters" part with every chapter

    toc = bookstage.toc(REPO / "_toc.yml", [p.stem for p in CHAPTERS], [])
    part = [p for p in toc["parts"] if p["caption"] == bookstage.CHAPTERS_CAPTION]
    assert [c["file"] for c in part[0]["chapters"]] == [p.stem for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_one_parameters_cell_with_the_shared_parameters(path):
    cell = _parameters_cell(path)
    names = {t.id for node in ast.parse(cell).body if isinstance(node, (ast.Assign, ast.AnnAssign))
             for t in ([node.target] if isinstance(node, ast.AnnAssign) else node.targets)}
    assert REQUIRED <= names, f"{path.name} lacks parameters {sorted(REQUIRED - names)}"
    assert "kernelspec" in path.read_text().split("# %%")[0]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_parameters_are_declared_in_the_schema_and_defaults_are_valid(path):
    """lmc_lib.chapters.params declares every parameter of the cell, and nothing the cell lacks."""
    from lmc_lib.chapters import params

    values = {}
    exec(_parameters_cell(path), values)
    values = {k: v for k, v in values.items() if not k.startswith("__")}
    declared = params.schema(path.name[:2], path)
    assert set(values) == set(declared), f"{path.name}: cell {sorted(values)} vs schema {sorted(declared)}"
    assert params.validate(values, path.name[:2], source=path).keys() == values.keys()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_papermill_sees_every_parameter(path, tmp_path):
    """papermill's parser drops lines it cannot read (e.g. a comment with a second '=')."""
    import jupytext
    import papermill

    nb = tmp_path / (path.stem + ".ipynb")
    jupytext.write(bookbuild.to_notebook(path), nb)
    seen = set(papermill.inspect_notebook(str(nb)))
    cell = _parameters_cell(path)
    names = {t.id for node in ast.parse(cell).body if isinstance(node, ast.AnnAssign)
             for t in [node.target]}
    assert names <= seen, f"papermill cannot parse {sorted(names - seen)} in {path.name}"


@pytest.mark.chapters
@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_executes_in_the_smoke_profile(path, smoke_runs):
    run = smoke_runs.run(path)  # shared with test_browser: each chapter executes once per session
    assert run["error"] is None, run["error"]
    text = run["notebook"].read_text()
    assert '"output_type": "error"' not in text
    assert "image/png" in text, f"{path.name} drew no figure"
    fresh = [json.loads(p.read_text()) for p in (smoke_runs.results / "smoke").glob("*.json")
             if p.stat().st_mtime >= run["start"]]
    chapter = path.name[:2]  # records of chapter 10 also use "10-cifar100"
    if chapter not in NO_VERDICT:
        assert any(r["chapter"].split("-")[0] == chapter for r in fresh), \
            f"{path.name} recorded no verdict"


@pytest.mark.chapters
@pytest.mark.parametrize("chapter, given, error, names", [
    ("02", {"widht": 0.5}, "ParamError", ["'widht'", "chapter 02", "'width'"]),
    ("08", {"widht": 0.5}, "ParamError", ["'widht'", "this notebook", "'width'"]),
    ("02", {"epochs": 100000}, "TooLong", [f"max_train_minutes = {params.MAX_TRAIN_MINUTES:g}", "-p max_train_minutes 0"])])
def test_the_papermill_route_refuses_what_the_make_route_refuses(tmp_path, chapter, given, error,
                                                                 names):
    """papermill only warns about an unknown -p name; the chapter itself refuses it, and refuses a
    run whose estimated training is above max_train_minutes, before training anything."""
    import jupytext
    import papermill

    src = [p for p in CHAPTERS if p.name.startswith(chapter)][0]
    nb = tmp_path / (src.stem + ".ipynb")
    jupytext.write(bookbuild.to_notebook(src), nb)
    env = {"LMC_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        mp.delenv("LMC_TRAIN_CHECKED", raising=False)
        mp.delenv("MAX_TRAIN_MINUTES", raising=False)
        with pytest.raises(papermill.PapermillExecutionError) as err:
            papermill.execute_notebook(str(nb), str(tmp_path / "out.ipynb"), kernel_name="python3",
                                       parameters=dict(given, profile="cpu"), cwd=str(src.parent),
                                       progress_bar=False)
    assert err.value.ename == error, err.value
    assert all(n in err.value.evalue for n in names), err.value.evalue
    assert not list((tmp_path / "cache").glob("*.pt"))  # nothing was trained
