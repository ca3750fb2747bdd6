"""A chapter generated from the template passes the book's own structure checks (test_book,
test_chapter_figures), run on it as if it were in book/."""
import jupytext
import test_book
import test_chapter_figures

from lmc_lib.build import newchapter


def test_generated_chapter_passes_the_books_structure_checks(tmp_path, monkeypatch):
    (tmp_path / "11_last_of_the_book.py").write_text("")  # numbered after the book's chapters
    path = newchapter.new_chapter("my_hypothesis", tmp_path)
    assert path.name == "12_my_hypothesis.py"
    test_book.test_chapter_has_one_parameters_cell_with_the_shared_parameters(path)
    test_book.test_parameters_are_declared_in_the_schema_and_defaults_are_valid(path)
    monkeypatch.setitem(test_chapter_figures.NOTEBOOKS, path, jupytext.read(path))
    test_chapter_figures.test_every_drawn_figure_has_a_unique_name_a_caption_and_alt_text()
    test_chapter_figures.test_equations_are_defined_once_and_every_reference_resolves()
    test_chapter_figures.test_prose_cites_nothing_the_reader_does_not_have(path)
    text = path.read_text()
    assert "{eq}`eq-calibrated-loss`" in text and "# -1: the profile's weight decay" in text
    assert "< 0" not in text and "chapter 2)" not in text
