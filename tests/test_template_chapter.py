"""A chapter generated from the template passes the book's own structure checks (test_book,
test_chapter_figures), run on it as if it were in book/."""
import jupytext
import test_book
import test_chapter_figures

from lmc_lib.build import newchapter


def test_generated_chapter_passes_the_books_structure_checks(tmp_path, monkeypatch):
    (tmp_path / "12_last_of_the_book.py").write_text("")  # numbered after the book's chapters
    path = newchapter.new_chapter("my_hypothesis", tmp_path)
    assert path.name == "13_my_hypothesis.py"
    test_book.test_chapter_has_one_parameters_cell_with_the_shared_parameters(path)
    test_book.test_parameters_are_declared_in_the_schema_and_defaults_are_valid(path)
    monkeypatch.setitem(test_chapter_figures.NOTEBOOKS, path, jupytext.read(path))
    test_chapter_figures.test_every_drawn_figure_has_a_unique_name_a_caption_and_alt_text()
    test_chapter_figures.test_equations_are_defined_once_and_every_reference_resolves()
    test_chapter_figures.test_prose_cites_nothing_the_reader_does_not_have(path)
    text = path.read_text()
    assert "{eq}`eq-calibrated-loss`" in text and "# -1: the profile's weight decay" in text
    assert "< 0" not in text and "chapter 2)" not in text


def _run_cells(nb, ns):
    """Execute a notebook's code cells in one namespace; profile smoke injected after its parameters."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, "chapter", "exec"), ns)
            if "parameters" in cell.metadata.get("tags", []):
                exec('profile = "smoke"', ns)


def test_generated_chapter_evaluates_three_path_points_and_a_rerun_loads_its_studies(tmp_path, monkeypatch):
    from lmc_lib.chapters import hypothesis
    from lmc_lib.lmc import merge

    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("LMC_STUDY_CACHE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr("matplotlib.pyplot.show", lambda *a, **k: None)
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: None)
    grids, original = [], merge.curve
    monkeypatch.setattr(merge, "curve", lambda *a, **k: grids.append(list(k["lams"])) or original(*a, **k))
    nb = jupytext.read(newchapter.new_chapter("my_hypothesis", tmp_path))
    ns = {"__name__": "__main__"}
    _run_cells(nb, ns)
    assert grids and all(g == [0.0, 0.5, 1.0] for g in grids)  # one 3-point path per pair and width
    assert ns["records"][0]["core"] == [ns["CORE"]]
    calls = []
    monkeypatch.setattr(hypothesis, "compare_to_ensemble", lambda *a, **k: calls.append(1))
    n_curves = len(grids)
    _run_cells(nb, {"__name__": "__main__"})
    assert len(grids) == n_curves and not calls  # both studies loaded from the study cache
