"""Statements of scale: the index's Profiles table is generated from the config, and no
hand-written sentence about a profile names widths, pairs or epochs its config contradicts."""
import re
from pathlib import Path

import pytest

from lmc_lib.chapters import scale
from lmc_lib.core.config import PROFILES, book_settings, width_label
from lmc_lib.core.utils import REPO

BOOK = REPO / "book"


def markdown(path: Path) -> str:
    """A page's hand-written Markdown: a .md page whole; of a chapter, its Markdown cells."""
    text = path.read_text()
    if path.suffix == ".md":
        return text
    cells = [c for c in re.split(r"^# %%", text, flags=re.M) if c.lstrip().startswith("[markdown]")]
    return "\n".join(re.sub(r"^# ?", "", c, flags=re.M) for c in cells)


@pytest.mark.parametrize("page", sorted(p.name for p in list(BOOK.glob("*.md")) + list(BOOK.glob("[0-9][0-9]_*.py"))))
def test_hand_written_scale_agrees_with_the_config(page):
    found = scale.contradictions(markdown(BOOK / page))
    assert not found, "\n".join(found)


def test_the_check_catches_stale_statements():
    stale = ("| `cpu` (default of `make book`) | fractional widths, few epochs, 2 pairs per point |\n\n"
             "The `cpu` profile trains widths 1/4 to 16 for 100 epochs.\n\n"
             "The paper profile runs 3 pairs at widths up to 16 for 100 epochs.")
    found = scale.contradictions(stale)
    assert any("2 pairs" in f for f in found)
    assert any("w = 16" in f and "100 epochs" in f for f in found)
    assert not any(f.startswith("paper") for f in found)  # the paper sentence is right


def test_the_profiles_table_is_the_config():
    table = scale.profiles_table()
    for name in ("cpu", "paper", "smoke"):
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}`"))
        book = book_settings(name)
        assert f"| {', '.join(width_label(w) for w in book['widths'])}" in row
        assert f"| {PROFILES[name]['mlp']['epochs']} / {PROFILES[name]['conv']['epochs']} |" in row
        assert f"| {book['n_pairs']} |" in row
    assert "<!-- PROFILES -->" in (BOOK / "index.md").read_text()
    assert "<!-- PROFILES -->" not in scale.fill((BOOK / "index.md").read_text())
