"""The training code's fingerprint: which code trained a cached model, so the cache never mixes recipes.

A model entry records `of(config)`: a hash of the source of every function of the training code
that a model of `config` passes through -- the trainer's loop, step and loss, the optimiser, the
lr schedule, the data order, batching and augmentation, the initialisation -- found by following
the names these functions use, from ROOTS, through the modules of COVERED (a function they call is
in, wherever it moves; a helper a test monkeypatches in is in). Sources are compared as parsed
code without docstrings, comments and the wording of raised errors (ast.unparse), so rewording a
docstring or a message changes nothing.
Two paths: "group" (train_group's stacked trainer: groupable MLPs) and "single" (train.train).
What the fingerprint leaves out: the architecture (models.py) and the data files (data.py), whose
changes bump config.RECIPE_VERSION as before, and a chapter's ingredients, which are in the key.

An entry whose fingerprint is neither the running code's nor in HARMLESS was trained by other
code: the cache retrains it (with a one-line warning). HARMLESS lists fingerprints of earlier code
known to train the same models bit for bit; tests/test_fingerprint.py proves each by training tiny
models with a frozen copy of that code (tests/fixtures/recipes/<name>/) and with the running code.
Entries written before fingerprints existed are taken as trained by the code of LEGACY.

Changing the training code: a change that trains other models either bumps RECIPE_VERSION (new
keys, the old models stay for the old code) or simply lands (the entries of before are retrained
on use, one warning each). A change meant to train the same models (a refactor) keeps the cache:
copy the modules of the code before it into tests/fixtures/recipes/<commit>/, add that copy's two
fingerprints (`of_path("group" | "single", frozen.load("<commit>"))`) to HARMLESS, and
tests/test_fingerprint.py checks the claim by training with both.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import sys
import textwrap
from types import ModuleType

from lmc_lib.core.config import TrainConfig

COVERED = ("lmc_lib.core.train", "lmc_lib.core.train_group", "lmc_lib.core.cudagraph",
           "lmc_lib.core.sophia", "lmc_lib.core.utils", "lmc_lib.core.ingredient")
ROOTS = {"group": (("train_group", "_fit"), ("train_group", "_stack"), ("train_group", "_unstack"),
                   ("train", "init_model"), ("train", "prepare_data")),
         "single": (("train", "_fit"), ("train", "init_model"), ("train", "prepare_data"))}
NOT_RECIPE = {"_check_finite", "_check_members"}  # raise on divergence, never change a weight
# Fingerprints of earlier training code that trains the same models as the running code (each
# proved by tests/test_fingerprint.py with a frozen copy under tests/fixtures/recipes/).
HARMLESS = {
    "e0bf5eabeb7cf4f6": "aca4d19 group trainer (before ingredients; frozen copy: aca4d19)",
    "11d4ab8837c556d1": "aca4d19 single trainer (before ingredients; frozen copy: aca4d19)",
}
# Entries without a fingerprint were written by code up to commit aca4d19 (the record runs of the
# paper recipe among them, still running with it when fingerprints came): the trainers did not
# change from RECIPE_VERSION 2 to then, so such an entry counts as trained by aca4d19's code, which
# HARMLESS (and its test) accepts for as long as the running code trains the same models.
LEGACY = {"group": "e0bf5eabeb7cf4f6", "single": "11d4ab8837c556d1"}
_PARSED: dict = {}  # id(object) -> (object, normalised source, names it uses)
_TOP: dict = {}     # module file -> names its own top level defines


def path_of(config: TrainConfig) -> str:
    """"group" when the config trains stacked (train_group.groupable), else "single"."""
    from lmc_lib.core import train_group

    return "group" if train_group.groupable(config) else "single"


def of(config: TrainConfig, modules: dict | None = None) -> str:
    """The fingerprint of the code that trains `config` (`modules`: {"train": ..., "train_group":
    ...} to fingerprint other code, e.g. a frozen copy; default the running modules)."""
    return of_path(path_of(config), modules)


def of_path(path: str, modules: dict | None = None) -> str:
    """The fingerprint of the "group" or "single" training path."""
    if modules is None:
        from lmc_lib.core import train, train_group
        modules = dict(train=train, train_group=train_group)
    todo = [getattr(modules[m], name) for m, name in ROOTS[path]]
    seen: dict = {}
    while todo:
        obj = todo.pop()
        label = f"{obj.__module__}.{getattr(obj, '__qualname__', '?')}"
        if label in seen:
            continue
        text, names = _parsed(obj)
        seen[label] = text
        todo += _followed(obj, names)
    blob = "\n".join(f"{k}\n{seen[k]}" for k in sorted(seen))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def accepted(recorded: str | None, path: str, current: str) -> bool:
    """Whether an entry whose recorded fingerprint is `recorded` (None: written before
    fingerprints, see LEGACY) may stand for a model of the running code (`current`)."""
    fp = LEGACY[path] if recorded is None else recorded
    return fp == current or fp in HARMLESS


def _parsed(obj) -> tuple[str, set]:
    """The source of a function or class without docstrings (ast.unparse), and the names it uses."""
    hit = _PARSED.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1], hit[2]
    try:
        source = textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError):  # no source file (exec): its compiled code
        code = getattr(obj, "__code__", None)
        source = repr(code.co_code) if code else repr(obj)
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda's partial line, or compiled code: the text as it is
        out = (source, set())
    else:
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
                    and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                node.exc, node.cause = node.exc.func, None  # an error's wording trains nothing
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        names |= {(n.value.id, n.attr) for n in ast.walk(tree)
                  if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
        out = (ast.unparse(tree), names)
    _PARSED[id(obj)] = (obj, *out)
    return out


def _globals(obj) -> dict:
    """The namespace a function or class reads its global names from."""
    if hasattr(obj, "__globals__"):
        return obj.__globals__
    methods = [v for v in vars(obj).values() if inspect.isfunction(v)]  # a class: its methods'
    return methods[0].__globals__ if methods else vars(sys.modules[obj.__module__])


def _top_names(glob: dict) -> set:
    """Names the module of `glob` defines at its own top level (def, class, assignment)."""
    path = glob.get("__file__")
    if path not in _TOP:
        try:
            tree = ast.parse(open(path).read())
        except (OSError, TypeError, SyntaxError):
            tree = ast.Module(body=[], type_ignores=[])
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names |= {t.id for t in targets if isinstance(t, ast.Name)}
        _TOP[path] = names
    return _TOP[path]


def _code_like(value) -> bool:
    return inspect.isfunction(value) or inspect.isclass(value)


def _followed(obj, names: set) -> list:
    """The functions and classes of the training code that `obj` uses by name: those of a COVERED
    module, or whatever now sits under a name a COVERED module defines itself (a monkeypatch)."""
    glob = _globals(obj)
    own = glob.get("__name__") in COVERED
    top = _top_names(glob) if own else set()
    out = []
    for name in names:
        if isinstance(name, tuple):
            mod = glob.get(name[0])
            if isinstance(mod, ModuleType) and mod.__name__ in COVERED:
                value = getattr(mod, name[1], None)
                if _code_like(value) and name[1] not in NOT_RECIPE:
                    out.append(value)
            continue
        value = glob.get(name)
        if not _code_like(value) or name in NOT_RECIPE:
            continue
        if getattr(value, "__module__", None) in COVERED or name in top:
            out.append(value)
    return out
