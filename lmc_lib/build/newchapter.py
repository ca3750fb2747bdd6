"""Start a chapter of your own: book/NN_name.py from the template (a worked hypothesis that runs as is).

    python -m lmc_lib.build.newchapter my_hypothesis            # or: make new-chapter NAME=my_hypothesis
    python -m lmc_lib.build.newchapter my_hypothesis --book DIR # into another book folder

NN is the next free chapter number. The template (lmc_lib/build/templates/chapter.py.tmpl) asks whether
the calibrated merged model approaches the probability ensemble as width grows and records a
verdict for the user claim H1; book/guide.md explains every part.
"""
from __future__ import annotations

import argparse
import keyword
import re
import sys
from pathlib import Path

from lmc_lib.core.utils import REPO, LmcError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "chapter.py.tmpl"
BOOK = REPO / "book"
CHAPTER = re.compile(r"^(\d\d)_(.+)\.py$")


def check_name(name: str, book_dir: Path) -> None:
    """Refuse names that are not lower-case Python identifiers, or that a chapter already uses."""
    if not name or not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise LmcError(f"chapter name {name!r} must be a lower-case Python identifier (letters, digits, "
                       "underscores, not starting with a digit), e.g. NAME=my_hypothesis")
    taken = [p.name for p in Path(book_dir).glob(f"[0-9][0-9]_{name}.py")]
    if taken:
        raise LmcError(f"a chapter named {name!r} exists already: {taken[0]} in {book_dir}; "
                       "choose another NAME (or edit that file)")


def next_number(book_dir: Path) -> int:
    """The next free chapter number: one above the largest NN of book_dir/NN_*.py (1 when none)."""
    used = [int(m.group(1)) for p in Path(book_dir).glob("*.py") if (m := CHAPTER.match(p.name))]
    number = max(used, default=0) + 1
    if number > 99:
        raise LmcError(f"{book_dir} has chapter 99 already: chapter numbers have two digits")
    return number


def render(name: str, number: int) -> str:
    """The template's text with the chapter's number, title and name filled in."""
    title = name.replace("_", " ").strip().capitalize()
    return (TEMPLATE.read_text().replace("__NUMBER__", f"{number:02d}")
            .replace("__TITLE__", title).replace("__NAME__", name))


def new_chapter(name: str, book_dir: Path | str = BOOK) -> Path:
    """Write book_dir/NN_name.py from the template (NN: the next free number) and return its path."""
    book_dir = Path(book_dir)
    if not book_dir.is_dir():
        raise LmcError(f"book folder {book_dir} does not exist; pass the folder holding NN_*.py chapters")
    check_name(name, book_dir)
    number = next_number(book_dir)
    path = book_dir / f"{number:02d}_{name}.py"
    with open(path, "x") as f:  # never overwrite
        f.write(render(name, number))
    return path


def main(argv=None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(prog="python -m lmc_lib.build.newchapter", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", help="chapter name, a lower-case identifier, e.g. my_hypothesis")
    ap.add_argument("--book", default=str(BOOK), help="folder of the chapters (default: book/)")
    args = ap.parse_args(argv)
    try:
        path = new_chapter(args.name, args.book)
    except LmcError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {path}\nrun it:  make chapter CH={path.name[:2]} ARGS=\"-p profile smoke\"   (seconds, "
          f"a variant: the book's outputs stay), then make chapter CH={path.name[:2]}\n"
          "guide:   book/guide.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
