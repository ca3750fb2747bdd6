"""Staging helpers for the rendered book: generated toc, placeholder and failure pages, tidy notebooks.

bookbuild.stage() drives them; nothing here executes a chapter.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from lmc_lib.core.utils import LmcError

CHAPTERS_CAPTION = "Chapters"
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


def chapter_title(source: Path) -> str:
    """The chapter's title: its first `# # Title` markdown line, else its file stem."""
    for line in source.read_text().splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem


def failure(nb_path: Path) -> str | None:
    """Why a papermill-executed notebook is not fine (papermill's marks, error outputs), or None."""
    try:
        nb = json.loads(nb_path.read_text())
    except (OSError, ValueError) as err:
        return f"unreadable notebook ({err})"
    cells = nb.get("cells", [])
    for i, cell in enumerate(cells, 1):  # the error itself first: it says what went wrong
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"cell {i} raised {out.get('ename')}: {str(out.get('evalue'))[:300]}"
    for i, cell in enumerate(cells, 1):
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return f"cell {i} failed (papermill)"
    if nb.get("metadata", {}).get("papermill", {}).get("exception"):
        return "papermill marked the run as failed"
    return None


def placeholder(source: Path, why: str) -> str:
    """A short MyST page standing in for a chapter that has no good executed notebook."""
    nn, title = source.name[:2], re.sub(r"^\d+\.\s+", "", chapter_title(source))  # the toc numbers it
    return (f"# {title}\n\n:::{{note}}\nThis chapter was {why}.\n"
            f"Run it with `make chapter CH={nn}`, then `make render`.\n:::\n")


NUMBERED_TITLE = re.compile(r"^# \d+\. ")


def unnumber_title(nb: dict) -> None:
    """Drop the hand-written "N. " of the chapter's title: the numbered toc part numbers chapters
    (and figures as N.k), so the page would otherwise read "N. N. Title"."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", ""))
            cell["source"] = NUMBERED_TITLE.sub("# ", src, count=1)
            return


def tidy(nb: dict, warning: str | None = None) -> dict:
    """Remove papermill's injected-parameters cell from the page and the title's hand number;
    optionally add a warning cell."""
    unnumber_title(nb)
    for cell in nb.get("cells", []):
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "parameters" in tags and "hide-input" not in tags:  # a reader sees no code unasked
            tags.append("hide-input")
    if warning:
        cell = {"cell_type": "markdown", "metadata": {},
                "source": f":::{{warning}}\n{warning}\n:::\n"}
        nb["cells"].insert(1 if nb.get("cells") else 0, cell)
    return nb


def stage_chapter(source: Path, nb: Path, failed_dir: Path, dest: Path) -> str | None:
    """Stage one chapter into `dest` (notebook or placeholder page); returns a failure or None.
    A failed latest run is named on the page with its reason (the previous good run stays shown)."""
    failed = sorted(failed_dir.glob(source.stem + ".ipynb")) + sorted(
        failed_dir.glob(source.name[:2] + ".ipynb"))
    newest_fail = max(failed, key=lambda p: p.stat().st_mtime) if failed else None
    reason = (failure(newest_fail) or "it failed") if newest_fail else None
    if not nb.exists():
        why = (f"not executed in this build: its latest run failed ({reason}; notebook: "
               f"{newest_fail})") if newest_fail else "not executed in this build"
        (dest / (source.stem + ".md")).write_text(placeholder(source, why))
        return f"{source.stem}: failed ({reason}), see {newest_fail}" if newest_fail else None
    bad = failure(nb)
    if bad:
        why = f"executed in this build, but the run failed: {bad} (notebook: {nb})"
        (dest / (source.stem + ".md")).write_text(placeholder(source, why))
        return f"{source.stem}: {bad}"
    warning = None
    if newest_fail and newest_fail.stat().st_mtime > nb.stat().st_mtime:
        warning = (f"The latest run of this chapter failed ({reason}; notebook: {newest_fail}); "
                   f"this page shows the previous successful run.")
    (dest / nb.name).write_text(json.dumps(tidy(json.loads(nb.read_text()), warning), indent=1))
    return f"{source.stem}: latest run failed ({reason}), see {newest_fail}" if warning else None


def toc(template: Path, chapter_stems: list[str], pages: list[str]) -> dict:
    """The toc: the template's parts; the "Chapters" part keeps its listed chapters that exist and
    gets every other book chapter after them (a new chapter needs no line); unlisted pages go last."""
    toc_ = yaml.safe_load(template.read_text())
    parts = toc_.get("parts") or []
    slots = [p for p in parts if p.get("caption") == CHAPTERS_CAPTION]
    if len(slots) != 1:
        raise LmcError(f"{template} needs exactly one part with caption {CHAPTERS_CAPTION!r} "
                       f"(found {len(slots)}): stage() fills it with the chapters")
    present = set(chapter_stems)  # listed chapters keep their order; unlisted ones follow
    kept = [c["file"] for c in slots[0].get("chapters") or [] if c.get("file") in present]
    slots[0]["chapters"] = [{"file": f} for f in kept + [s for s in chapter_stems if s not in kept]]
    listed = {toc_.get("root")} | {c.get("file") for p in parts for c in p.get("chapters") or []}
    missing = [{"file": p} for p in pages if p not in listed]
    if missing:
        if parts[-1] is slots[0]:
            parts.append({"caption": "Appendix", "chapters": []})
        parts[-1]["chapters"] = (parts[-1].get("chapters") or []) + missing
    for part in parts:  # a part without chapters is invalid for sphinx-external-toc
        part["chapters"] = [c for c in part.get("chapters") or [] if c.get("file")]
    toc_["parts"] = [p for p in parts if p["chapters"]]
    return toc_


def vendor_mathjax(src: Path, dest: Path) -> None:
    """Copy the one MathJax bundle the pages load (tex-chtml.js), its fonts and TeX extensions."""
    if not (src / MATHJAX_PARTS[0]).exists():
        raise LmcError(f"{src / MATHJAX_PARTS[0]} is missing: run `python -m lmc_lib.build.bookbuild "
                       "mathjax` (needs npm) to vendor MathJax")
    for part in MATHJAX_PARTS:
        if (src / part).is_dir():
            shutil.copytree(src / part, dest / part)
        elif (src / part).exists():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src / part, dest / part)


def network_loads(html_dir: Path) -> list[str]:
    """Script, style sheet or image tags in the rendered pages that load from the network."""
    pattern = re.compile(r'<(?:script|link|img)[^>]+(?:src|href)="(https?:)?//[^"]+"')
    return sorted({f"{page.name}: {m.group(0)[:120]}" for page in html_dir.rglob("*.html")
                   for m in pattern.finditer(page.read_text(errors="replace"))})


def prune_pages(html_dir: Path, chapter_stems: list[str]) -> list[Path]:
    """Delete the rendered pages (and their sources / notebook downloads) of chapters that are no
    longer in the book: Sphinx builds into the same folder and never removes an old page."""
    keep, gone = set(chapter_stems), []
    if not html_dir.is_dir():
        return gone
    for path in sorted(html_dir.rglob("[0-9][0-9]_*")):
        stem = path.name.split(".", 1)[0]
        if path.is_file() and stem not in keep and re.fullmatch(r"\d\d_\w+", stem):
            path.unlink()
            gone.append(path)
    return gone
