"""A non-editable install carries every subpackage and the chapter template (pyproject discovery)."""
import tomllib
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parent.parent


def test_package_discovery_finds_every_lmc_lib_package_and_the_template():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set(find_packages(str(REPO), include=tool["packages"]["find"]["include"]))
    on_disk = {str(p.parent.relative_to(REPO)).replace("/", ".")
               for p in (REPO / "lmc_lib").rglob("__init__.py")}
    assert on_disk <= found and {"lmc_lib.chapters.studies", "lmc_lib.chapters.plots"} <= found
    assert not {p for p in found if not p.startswith("lmc_lib")}
    data = [f for pattern in tool["package-data"]["lmc_lib"] for f in (REPO / "lmc_lib").glob(pattern)]
    assert REPO / "lmc_lib" / "build" / "templates" / "chapter.py.tmpl" in data
