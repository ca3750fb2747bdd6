"""One module per chapter: `run(setup, ...) -> dict` computes the chapter's numbers (JSON-able),
`verdicts(result, setup) -> list[dict]` judges its claims. Chapters and `lmc_lib.chapters.record` call the
same functions, so a recorded GPU run and a live CPU run are drawn by the same plot code."""
import importlib

from lmc_lib.core.utils import LmcError


def load(chapter: str):
    """The study module of a chapter number ("02" -> lmc_lib.chapters.studies.ch02)."""
    try:
        return importlib.import_module(f"{__name__}.ch{chapter}")
    except ModuleNotFoundError as err:
        raise LmcError(f"chapter {chapter!r} has no study module lmc_lib/chapters/studies/ch{chapter}.py") from err


def exists(chapter: str) -> bool:
    """Whether a chapter has a study module (a chapter of your own may not)."""
    try:
        load(chapter)
        return True
    except LmcError:
        return False


def costly(chapter: str) -> bool:
    """Whether a chapter's study evaluates many models per pair (its COSTLY: the profile's
    costly_widths); False for a chapter without a study module (a chapter of your own)."""
    return exists(chapter) and bool(getattr(load(chapter), "COSTLY", False))
