"""Staging the book: generated toc, placeholder pages, failed runs never rendered as fine, tidy notebooks."""
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from lmc_lib.build import bookbuild, bookstage
from lmc_lib.core.utils import LmcError

REPO = Path(__file__).resolve().parent.parent


def _notebook(path: Path, error=False, marked=False) -> Path:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# 7. A title"},
             {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]},
              "source": "profile = 'smoke'", "outputs": [], "execution_count": 1},
             {"cell_type": "code", "metadata": {}, "source": "1/0", "execution_count": 2,
              "outputs": [{"output_type": "error", "ename": "ZeroDivisionError",
                           "evalue": "division by zero", "traceback": []}] if error else []}]
    meta = {"papermill": {"exception": True}} if marked else {"papermill": {"exception": None}}
    path.write_text(json.dumps({"cells": cells, "metadata": meta, "nbformat": 4,
                                "nbformat_minor": 5}))
    return path


@pytest.fixture
def chapter(tmp_path):
    src = tmp_path / "07_topic.py"
    src.write_text('# %% [markdown]\n# # 7. A question?\n#\n# Prose.\n')
    for name in ("executed", "failed", "stage"):
        (tmp_path / name).mkdir()
    return src


def test_the_repository_toc_gets_every_chapter_and_every_page():
    pages = sorted(p.stem for p in (REPO / "book").glob("*.md") if p.stem != "index")
    toc = bookstage.toc(REPO / "_toc.yml", [p.stem for p in bookbuild.chapters()], pages)
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert [f for f in files if f[:2].isdigit()] == [p.stem for p in bookbuild.chapters()]
    assert sorted(f for f in files if not f[:2].isdigit()) == pages
    assert toc["root"] == "index"


def test_a_new_chapter_and_an_unlisted_page_appear_without_editing_the_toc(tmp_path):
    template = tmp_path / "_toc.yml"
    template.write_text("format: jb-book\nroot: index\nparts:\n  - caption: Chapters\n"
                        "    chapters: []\n")
    toc = bookstage.toc(template, ["01_a", "12_new"], ["guide"])
    assert [p["caption"] for p in toc["parts"]] == ["Chapters", "Appendix"]
    assert toc["parts"][0]["chapters"] == [{"file": "01_a"}, {"file": "12_new"}]
    assert toc["parts"][1]["chapters"] == [{"file": "guide"}]


def test_listed_chapters_keep_their_order_and_missing_ones_are_dropped(tmp_path):
    template = tmp_path / "_toc.yml"
    template.write_text("format: jb-book\nroot: index\nparts:\n  - caption: Chapters\n"
                        "    chapters:\n      - file: 02_b\n      - file: 01_a\n      - file: 05_gone\n")
    toc = bookstage.toc(template, ["01_a", "02_b", "12_new"], [])
    assert toc["parts"][0]["chapters"] == [{"file": "02_b"}, {"file": "01_a"}, {"file": "12_new"}]


def test_a_toc_template_without_the_chapters_part_is_a_clear_error(tmp_path):
    template = tmp_path / "_toc.yml"
    template.write_text(yaml.safe_dump({"format": "jb-book", "root": "index",
                                        "parts": [{"caption": "Other", "chapters": []}]}))
    with pytest.raises(LmcError, match="caption 'Chapters'"):
        bookstage.toc(template, ["01_a"], [])


def test_failure_reads_papermill_marks_and_error_outputs(tmp_path):
    assert bookstage.failure(_notebook(tmp_path / "ok.ipynb")) is None
    assert "ZeroDivisionError" in bookstage.failure(_notebook(tmp_path / "e.ipynb", error=True))
    assert "papermill" in bookstage.failure(_notebook(tmp_path / "m.ipynb", marked=True))


def test_tidy_removes_the_injected_parameters_cell_from_the_page(tmp_path):
    nb = bookstage.tidy(json.loads(_notebook(tmp_path / "ok.ipynb").read_text()))
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and all("remove-cell" in c["metadata"]["tags"] for c in injected)
    assert not any("remove-cell" in c["metadata"].get("tags", []) for c in nb["cells"]
                   if c not in injected)


def test_a_chapter_not_executed_becomes_a_placeholder_page(chapter):
    d = chapter.parent
    problem = bookstage.stage_chapter(chapter, d / "executed" / "07_topic.ipynb", d / "failed",
                                      d / "stage")
    page = (d / "stage" / "07_topic.md").read_text()
    assert problem is None
    assert page.startswith("# A question?") and "make chapter CH=07" in page  # the toc numbers it
    assert not (d / "stage" / "07_topic.ipynb").exists()


def test_a_failed_execution_is_never_rendered_as_if_fine(chapter):
    d = chapter.parent
    nb = _notebook(d / "executed" / "07_topic.ipynb", error=True)
    problem = bookstage.stage_chapter(chapter, nb, d / "failed", d / "stage")
    assert "ZeroDivisionError" in problem
    assert "failed" in (d / "stage" / "07_topic.md").read_text()
    assert not (d / "stage" / "07_topic.ipynb").exists()


def test_a_later_failed_run_puts_a_warning_on_the_last_good_page(chapter):
    d = chapter.parent
    good = _notebook(d / "executed" / "07_topic.ipynb")
    old = time.time() - 60
    os.utime(good, (old, old))
    _notebook(d / "failed" / "07_topic.ipynb", error=True)
    problem = bookstage.stage_chapter(chapter, good, d / "failed", d / "stage")
    staged = json.loads((d / "stage" / "07_topic.ipynb").read_text())
    assert "latest run failed" in problem and "ZeroDivisionError" in problem
    warnings = [c["source"] for c in staged["cells"] if "{warning}" in c["source"]]
    assert len(warnings) == 1 and "ZeroDivisionError: division by zero" in warnings[0]


def test_a_failed_run_without_an_executed_notebook_is_reported(chapter):
    d = chapter.parent
    _notebook(d / "failed" / "07_topic.ipynb", error=True)
    problem = bookstage.stage_chapter(chapter, d / "executed" / "07_topic.ipynb", d / "failed",
                                      d / "stage")
    assert problem and "failed" in problem and "ZeroDivisionError" in problem
    page = (d / "stage" / "07_topic.md").read_text()
    assert "latest run failed" in page and "ZeroDivisionError: division by zero" in page


def test_vendor_mathjax_copies_only_the_bundle_the_pages_load(tmp_path):
    src = tmp_path / "mj"
    for rel in ("tex-chtml.js", "tex-svg-full.js", "sre/speech.js",
                "output/chtml/fonts/woff-v2/a.woff", "input/tex/extensions/color.js"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("x")
    bookstage.vendor_mathjax(src, tmp_path / "out")
    copied = sorted(p.relative_to(tmp_path / "out").as_posix()
                    for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert copied == ["input/tex/extensions/color.js", "output/chtml/fonts/woff-v2/a.woff",
                      "tex-chtml.js"]


def test_vendor_mathjax_without_a_download_names_the_fix(tmp_path):
    with pytest.raises(LmcError, match="bookbuild mathjax"):
        bookstage.vendor_mathjax(tmp_path / "none", tmp_path / "out")


def test_the_config_keeps_mathjax_out_of_the_static_path_and_renders_myst_outputs():
    sphinx = yaml.safe_load((REPO / "_config.yml").read_text())["sphinx"]["config"]
    assert sphinx["nb_render_markdown_format"] == "myst"
    assert sphinx["html_static_path"] == []
    assert "sphinx_thebe" not in sphinx["extensions"]



def test_the_phase_summary_puts_the_slowest_chapter_first_and_totals_the_phases():
    text = bookbuild.phase_summary({"training": 100.0, "chapters (2 at a time)": 50.0,
                                    "  02_width": 20.0, "  07_weight_decay": 45.0, "render": 10.0})
    lines = text.splitlines()
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["training", "chapters", "07_weight_decay", "02_width", "render", "total"]
    assert lines[-1].split()[-2] == "160"  # chapters are inside their phase, not added again
