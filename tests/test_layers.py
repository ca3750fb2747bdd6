"""The layering of lmc_lib is a rule, not prose: no import climbs a layer, no circle, no hidden import."""
import importlib
import subprocess
import sys

import pytest

import lmc_lib
from lmc_lib.core import imports

LAYERS = lmc_lib.LAYERS


def test_no_module_imports_from_a_layer_above_its_own():
    assert imports.climbing(imports.graph(), LAYERS) == []


def test_no_circle_of_imports():
    assert imports.cycles(imports.graph()) == []


def test_every_module_sits_in_a_layer():
    outside = [m for m in imports.graph() if m != "lmc_lib" and imports.layer(m, LAYERS) < 0]
    assert outside == []


def test_the_rule_sees_a_climbing_import_and_a_circle():
    edges = {"lmc_lib.core.a": {"lmc_lib.lmc.b"}, "lmc_lib.lmc.b": {"lmc_lib.core.a"},
             "lmc_lib.chapters.c": {"lmc_lib.core.a"}}
    assert imports.climbing(edges, LAYERS) == [("lmc_lib.core.a", "lmc_lib.lmc.b")]
    assert imports.cycles(edges) == [["lmc_lib.core.a", "lmc_lib.lmc.b"]]
    assert imports.depth(edges) == 3  # c -> a -> b
    assert imports.depth({"x": {"y"}, "y": set(), "z": {"y"}}) == 2


def test_lazy_and_relative_imports_are_seen(tmp_path):
    pkg = tmp_path / "lmc_lib"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("def f():\n    from ..build import b\n")
    (pkg / "build").mkdir()
    (pkg / "build" / "__init__.py").write_text("")
    (pkg / "build" / "b.py").write_text("from lmc_lib.core import a\n")
    edges = imports.graph(pkg)
    assert imports.climbing(edges, LAYERS) == [("lmc_lib.core.a", "lmc_lib.build"), ("lmc_lib.core.a", "lmc_lib.build.b")]
    assert imports.cycles(edges) == [["lmc_lib.build.b", "lmc_lib.core.a"]]


def test_no_import_through_importlib_with_a_computed_name_outside_the_study_loader():
    """Hidden imports defeat the layer rule; only the chapter-number -> study lookup may compute one."""
    hidden = [name for name, path in imports.module_paths().items()
              if "importlib.import_module(" in path.read_text() and name != "lmc_lib.chapters.studies"]
    assert hidden == []


@pytest.mark.parametrize("old, new", [("perm", "lmc_lib.matching.perm"), ("studies", "lmc_lib.chapters.studies"),
                                      ("bookbuild", "lmc_lib.build.bookbuild")])
def test_an_import_of_the_flat_layout_says_where_the_module_moved(old, new):
    for code in (f"import lmc_lib.{old}", f"from lmc_lib import {old}"):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert run.returncode == 1 and "ModuleNotFoundError" in run.stderr
        assert f"lmc_lib.{old} moved to {new}" in run.stderr
    assert importlib.import_module(new).__name__ == new
