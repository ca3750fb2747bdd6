"""The chapters as a book: numbered, captioned figures and self-contained, labelled equations."""
import re
from pathlib import Path

import jupytext
import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "book").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = {p: jupytext.read(p) for p in CHAPTERS}


def _cells(kind):
    return [(p, c) for p, nb in NOTEBOOKS.items() for c in nb.cells if c.cell_type == kind]


def test_every_drawn_figure_has_a_unique_name_a_caption_and_alt_text():
    names = []
    for path, cell in _cells("code"):
        fig = cell.metadata.get("mystnb", {}).get("figure")
        if fig is None:
            # recorded runs and optional data draw unnumbered figures, in input-less cells only
            assert "plt.show()" not in cell.source or "remove-input" in cell.metadata.get("tags", []) \
                or cell.source.lstrip().startswith("for name"), f"{path.name}: uncaptioned figure\n{cell.source}"
            continue
        assert cell.source.count("plt.show()") == 1 and "display(" not in cell.source, \
            f"{path.name}: a figure cell must show exactly one figure and nothing else ({fig['name']})"
        assert fig["caption"].strip() and cell.metadata["mystnb"]["image"]["alt"].strip()
        names.append(fig["name"])
    assert len(names) == len(set(names)) and len(names) >= 30


def test_equations_are_defined_once_and_every_reference_resolves():
    md = "\n".join(c.source for _, c in _cells("markdown"))
    md += "\n".join(str(c.metadata.get("mystnb", "")) for _, c in _cells("code"))
    labels = re.findall(r"^:label: (\S+)$", md, re.M)
    refs = set(re.findall(r"\{eq\}`([^`]+)`", md))
    assert len(labels) == len(set(labels)), "an equation label is defined twice"
    assert refs and refs <= set(labels), f"undefined equation references {sorted(refs - set(labels))}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_prose_cites_nothing_the_reader_does_not_have(path):
    text = "\n".join(c.source for c in NOTEBOOKS[path].cells if c.cell_type == "markdown")
    assert "SPEC" not in text and "2^-(" not in text


def test_figure_references_name_figures_of_the_book():
    names = {c.metadata["mystnb"]["figure"]["name"] for _, c in _cells("code") if "mystnb" in c.metadata}
    md = "\n".join(c.source for _, c in _cells("markdown"))
    refs = set(re.findall(r"\{numref\}`([^`]+)`", md))
    assert refs and refs <= names, f"references to unknown figures {sorted(refs - names)}"


def test_width_colours_are_sequential_colour_blind_safe_and_visible_on_white():
    """No pale yellow: every width colour has a contrast of at least 3:1 on white, and the colours
    run monotonically in lightness (readable as an order without hue, e.g. with deuteranopia)."""
    from lmc_lib.chapters.plots import style

    widths = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]
    colors = [style.width_colors(widths)[w] for w in widths]
    assert min(style.contrast(c) for c in colors) >= 3.0
    contrasts = [style.contrast(c) for c in colors]
    assert all(a < b for a, b in zip(contrasts, contrasts[1:]))  # narrow light, wide dark
    assert style.contrast((1.0, 1.0, 0.6)) < 3.0  # the check would flag a pale yellow


def test_figures_are_numbered_by_chapter_never_like_the_papers():
    """Chapters are a numbered toc part (figures read "Figure 2.3") and every caption that draws a
    paper figure names it as the paper's ("the paper's Fig 16")."""
    import yaml

    root = Path(__file__).resolve().parents[1]
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    part = next(p for p in toc["parts"] if p["caption"] == "Chapters")
    assert part.get("numbered") is True
    config = yaml.safe_load((root / "_config.yml").read_text())["sphinx"]["config"]
    assert config["numfig"] and config["numfig_format"]["figure"] == "Figure %s"
    for _, cell in _cells("code"):
        caption = cell.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
        assert not re.search(r"(?<!paper's )(?<!paper )\bFig\.? ?\d", caption.replace("Figs", "Fig")), caption
