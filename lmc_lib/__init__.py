"""lmc_lib: the tested library under the lmc-book chapters, in layers (see docs/CONTRACT.md).

core < matching < lmc < chapters < build: a module imports only from its own layer or below
(tests/test_layers.py). Code written against the flat layout of lmc_lib 0.1 (`lmc_lib.perm`,
`from lmc_lib import merge`) fails with an ImportError that names the module's new home.
"""
import importlib.abc
import sys

__version__ = "0.2.0"

LAYERS = ("core", "matching", "lmc", "chapters", "build")  # lowest first
MOVED = {  # the flat module of lmc_lib 0.1 -> where it lives now
    **dict.fromkeys(("utils", "config", "data", "models", "train", "train_group", "cache", "atomic",
                     "sophia", "cudagraph", "budget", "runlog"), "core"),
    **dict.fromkeys(("perm", "similarity", "assignment", "auction", "warmlap"), "matching"),
    **dict.fromkeys(("merge", "calibrate", "barriers", "probes", "probes_flat", "claims"), "lmc"),
    **dict.fromkeys(("experiment", "params", "plan", "executor", "studycache", "record", "report",
                     "hypothesis", "studies", "plots"), "chapters"),
    **dict.fromkeys(("bookbuild", "buildrun", "bookstage", "newchapter"), "build"),
}


def moved_message(name: str) -> str:
    """What to write instead of the flat module lmc_lib.<name>."""
    new = f"lmc_lib.{MOVED[name]}.{name}"
    return (f"lmc_lib.{name} moved to {new} (lmc_lib is layered since 0.2): write "
            f"`from lmc_lib.{MOVED[name]} import {name}` or `import {new}`")


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Turns an import of a flat 0.1 module into an ImportError naming its new path."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, rest = fullname.partition(".")
        top = rest.split(".")[0]
        if head == "lmc_lib" and top in MOVED:
            raise ModuleNotFoundError(moved_message(top), name=fullname)
        return None


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedFinder())


def __getattr__(name):
    """`from lmc_lib import perm` (0.1 layout): an ImportError naming the new path."""
    if name in MOVED:
        raise ModuleNotFoundError(moved_message(name), name=f"lmc_lib.{name}")
    raise AttributeError(f"module 'lmc_lib' has no attribute {name!r}")
