"""Citations whole both ways: every key a page cites is in references.bib, every entry of
references.bib is cited by a chapter or page (not only listed), and a page that names a cited work
(an author or a method's name) links its citation on that page."""
import re
from pathlib import Path

from lmc_lib.core.utils import REPO

BOOK = REPO / "book"
CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
# a work named in prose -> the key a page naming it must cite
NAMED = {"Entezari": "entezari2022permutation", "Zhou et al": "zhou2023llfc",
         "REPAIR": "jordan2023repair", "Guo et al": "guo2017calibration",
         "Roy and Vetterli": "roy2007erank", "Roy & Vetterli": "roy2007erank",
         "Git Re-Basin": "ainsworth2023rebasin", "STE-MM": "ito2025stemm",
         "Sophia": "liu2024sophia", "Frankle": "frankle2020lmc", "Garipov": "garipov2018curves",
         "Draxler": "draxler2018barriers"}


def bib_keys(text: str) -> set[str]:
    return set(re.findall(r"^@\w+\{([^,\s]+),", text, re.M))


def prose(path: Path) -> str:
    """A page's prose: a .md page whole; of a chapter, its Markdown cells and figure captions."""
    text = path.read_text()
    if path.suffix == ".md":
        return text
    cells = re.split(r"^# %%", text, flags=re.M)
    keep = [c for c in cells if c.lstrip().startswith("[markdown]")]
    keep += re.findall(r'"caption": "([^"]*)"', text)
    return "\n".join(keep)


def problems(pages: dict[str, str], keys: set[str]) -> list[str]:
    """What is wrong with the citations of `pages` ({name: prose}) against the bibliography keys."""
    cited = {name: {k.strip() for m in CITE.findall(t) for k in m.split(",")} for name, t in pages.items()}
    out = [f"{name} cites {k}, which references.bib lacks" for name, ks in cited.items()
           for k in sorted(ks - keys)]
    outside = set().union(*(ks for name, ks in cited.items() if name != "references.md"))
    out += [f"references.bib lists {k}, which no chapter or page cites" for k in sorted(keys - outside)]
    for name, text in pages.items():
        for work, key in NAMED.items():
            if re.search(rf"(?<![\w-]){re.escape(work)}", CITE.sub("", text)) and key not in cited[name]:
                out.append(f"{name} names {work} without citing {key}")
    return out


def book_pages() -> dict[str, str]:
    return {p.name: prose(p) for p in sorted(BOOK.glob("*.md")) + sorted(BOOK.glob("[0-9][0-9]_*.py"))}


def test_citations_are_whole_both_ways():
    found = problems(book_pages(), bib_keys((REPO / "references.bib").read_text()))
    assert not found, "\n".join(found)


def test_the_check_catches_each_kind_of_broken_citation():
    keys = {"entezari2022permutation", "guo2017calibration", "unused2020"}
    pages = {"01.py": "Def 2.1, after Entezari et al. and {cite}`missing2021`.",
             "02.py": "temperature {cite:t}`guo2017calibration`", "references.md": "{cite}`unused2020`"}
    found = problems(pages, keys)
    assert "01.py cites missing2021, which references.bib lacks" in found
    assert "references.bib lists unused2020, which no chapter or page cites" in found
    assert "01.py names Entezari without citing entezari2022permutation" in found
    assert "references.bib lists entezari2022permutation, which no chapter or page cites" in found
    assert not [f for f in found if f.startswith("02.py")]
