"""Hand-written prose states no measured number: every decimal a chapter's Markdown shows is
computed (Result tables, sentences from the claims' checks) or sits in math, code or a citation."""
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
HIDDEN = [r"```\{math\}.*?```", r"\$\$.*?\$\$", r"\$[^$\n]+\$", r"\{[a-z]+\}`[^`]*`", r"`[^`\n]*`",
          r"\]\([^)]*\)",
          r"(?i)\b(?:paper )?(?:sections?|sec\.?|def\.?|definitions?|lemmas?|theorems?|propositions?|"
          r"appendi(?:x|ces)|figs?\.?|tables?|eqs?\.?|assumptions?|corollar(?:y|ies))\s+[A-Z]?\d+(?:\.\d+)*"
          r"(?:\s*(?:,|and|or|-|to)\s*[A-Z]?\d+(?:\.\d+)*)*"]
DECIMAL = re.compile(r"(?<![\w.])\d*\.\d+(?![\w.])|(?<![\w.])\d+(?:\.\d+)?\s?%")


def markdown_cells(source: str) -> list[str]:
    """The Markdown cells of a Jupytext percent-format chapter, comment marks removed."""
    cells = re.split(r"^# %%.*$", source, flags=re.M)
    heads = re.findall(r"^# %%.*$", source, flags=re.M)
    return ["\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                      for line in body.strip("\n").splitlines())
            for head, body in zip(heads, cells[1:]) if "[markdown]" in head]



def decimals(text: str) -> list[str]:
    """Decimal numbers and percentages left after math, code, roles and link targets are removed."""
    for pattern in HIDDEN:
        text = re.sub(pattern, " ", text, flags=re.S)
    return [m.group(0) for m in DECIMAL.finditer(text)]


@pytest.mark.parametrize("chapter", sorted(BOOK.glob("[0-9][0-9]_*.py")), ids=lambda p: p.stem)
def test_no_decimal_number_in_a_chapters_hand_written_markdown(chapter):
    found = [(i, d) for i, cell in enumerate(markdown_cells(chapter.read_text())) for d in decimals(cell)]
    assert not found, (f"{chapter.name}: decimal numbers in hand-written Markdown (cell, number): "
                       f"{found}; compute them (lmc_lib.lmc.claims sentences, report.show_sentences) "
                       "or write them as math ($0.93$) when they are the paper's constants")


def test_the_rule_catches_a_number_in_prose_and_spares_math_code_and_citations():
    bad = ("# %% [markdown]\n# Weight matching brings the residual to 0.52, still above.\n"
           "# %%\nx = 0.52\n")
    assert decimals(markdown_cells(bad)[0]) == ["0.52"]
    assert decimals("accuracy rises to 91% here") == ["91%"]
    fine = ("the Gaussian $0.9304$, `lr = 1e-3`, `0.5`, {cite}`ito2025` and {numref}`fig-1`, "
            "[link](x_1.2.html), width 1/8, 3 pairs, chapter 2, paper section 3.1, Sec 5.2 and 5.4, "
            "Def 2.1.\n```{math}\nr = 0.5\n```")
    assert decimals(fine) == []
    assert markdown_cells(bad)[0].startswith("Weight matching")
