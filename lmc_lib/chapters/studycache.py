"""Study results cached like trained models: re-running a chapter with nothing changed loads its analysis.

`@cached_study` wraps a study's `run(setup, ...)`. The key hashes the study's name, every field of
the Setup, the other arguments, the source of the lmc_lib modules the study depends on (its module and
everything that module imports, directly or not, read from the source: editing a plot or the build
tooling keeps the result, editing a probe the study uses recomputes it),
the training recipe version and the names of the data folders present (CIFAR appearing changes
chapter 10). A study defined in a chapter of your own is keyed by its own source, the sources of the
chapter's functions it calls and the parameter values it reads (`own_source`; `depends=` adds more). A result is stored as JSON in `<model cache>/studies/<key>.json` only when it
round-trips through JSON exactly, so a loaded result equals a computed one; anything else is just
recomputed. The file is written atomically with a checksum (lmc_lib.core.records): a damaged one
(empty, cut short, edited, `{}`) is named in a warning and recomputed, never used. `LMC_STUDY_CACHE=0` turns the cache off (every study recomputes).
"""
from __future__ import annotations

import dataclasses
import dis
import functools
import hashlib
import inspect
import json
import marshal
import os
import sys
import warnings
from pathlib import Path

from lmc_lib.core import cache, data, imports, records
from lmc_lib.core.config import RECIPE_VERSION
from lmc_lib.core.utils import LmcError

ENV = "LMC_STUDY_CACHE"
_SOURCE: dict = {}
NOT_RESULTS = ("lmc_lib.chapters.plots", "lmc_lib.build")  # never change a study's numbers


def enabled() -> bool:
    """False when LMC_STUDY_CACHE is 0 / false / off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def source_hash(module: str, fn=None, package: Path = imports.PACKAGE, depends=()) -> str:
    """SHA-256 of the source a study depends on (the library part computed once per module and process).

    A study in lmc_lib: its module's import closure. A study defined elsewhere (a chapter of your
    own): every lmc_lib module loaded in this process except the plots and the build tooling, plus
    the study's own source, the chapter functions it calls and the values it reads (own_source).
    `depends`: more functions whose sources join the key (e.g. one reached through a dict).
    """
    if (module, package) not in _SOURCE:
        edges = imports.graph(package)
        if module in edges:
            digest = imports.source_hash(imports.closure(module, edges), package)
        else:
            loaded = {m for m in sys.modules if m in edges and not m.startswith(NOT_RESULTS)}
            digest = imports.source_hash(loaded, package)
        _SOURCE[module, package] = (digest, module in edges)
    digest, in_library = _SOURCE[module, package]
    own = [] if in_library or fn is None else [fn]
    return digest + (own_source(*own, *depends) if own or depends else "")


MUTATORS = {"append", "extend", "insert", "pop", "remove", "clear", "update", "add", "setdefault"}


def _code_names(code) -> set:
    """The global names a code object (and the functions nested in it) reads, less those it only
    mutates in place (`calls.append(x)`: a log kept by the study, not one of its inputs)."""
    ins = list(dis.get_instructions(code))
    names = {i.argval for i in ins if i.opname == "LOAD_GLOBAL"}
    names -= {a.argval for a, b in zip(ins, ins[1:]) if a.opname == "LOAD_GLOBAL"
              and b.opname in ("LOAD_METHOD", "LOAD_ATTR") and b.argval in MUTATORS}
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _code_names(const)
    return names


def _plain(value, depth: int = 0) -> bool:
    """A number, string, bool or None, or a short list / tuple of them: a parameter's value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return (isinstance(value, (list, tuple)) and depth < 2 and len(value) <= 1000
            and all(_plain(v, depth + 1) for v in value))


def own_source(*fns) -> str:
    """SHA-256 of functions defined outside lmc_lib: their sources, the sources of the functions of
    their own module that they call by name (recursively), and the plain values (parameters such
    as `lam = 0.5`) they read from it. Tensors, models and other objects are not keyed."""
    parts, seen, todo = [], set(), [inspect.unwrap(f) for f in fns]
    while todo:
        f = todo.pop(0)
        if id(f) in seen:
            continue
        seen.add(id(f))
        try:
            parts.append(inspect.getsource(f))
        except (OSError, TypeError):  # no source file (exec, a plain prompt): its compiled code
            code = getattr(f, "__code__", None)
            parts.append(marshal.dumps(code).hex() if code else getattr(f, "__qualname__", repr(f)))
        if not hasattr(f, "__code__"):
            continue
        glob = f.__globals__
        for name in sorted(_code_names(f.__code__) & set(glob)):
            value = glob[name]
            if inspect.isfunction(inspect.unwrap(value)) and value.__module__ == f.__module__:
                todo.append(inspect.unwrap(value))
            elif _plain(value):
                parts.append(f"{name} = {value!r}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def study_key(name: str, setup, args: tuple, kwargs: dict, source: str = "") -> str:
    """The cache key of one study call."""
    fields = {f.name: getattr(setup, f.name) for f in dataclasses.fields(setup)}
    folder = data.data_root()
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    blob = json.dumps(dict(study=name, setup=fields, args=args, kwargs=kwargs, source=source,
                           recipe=RECIPE_VERSION, data=present), sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def folder() -> Path:
    """Where study results are stored: a `studies` folder inside the model cache."""
    return cache.cache_dir() / "studies"


def _load(path: Path):
    """The stored result, or None (absent; damaged: named in a warning, then recomputed)."""
    try:
        found = records.read(path)
        if set(found) != {"result"}:
            raise records.DamagedRecord(path, f"fields {sorted(found)} instead of ['result']")
        return found["result"]
    except FileNotFoundError:
        return None
    except records.DamagedRecord as err:
        warnings.warn(f"study result {err.path} is damaged ({err.why}); ignoring it and recomputing",
                      stacklevel=3)
        return None


def _store(path: Path, result) -> None:
    try:
        text = json.dumps(result)
    except (TypeError, ValueError):
        return
    if json.loads(text) != result:  # not exact (tuples, non-string keys): do not cache
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        records.write(path, {"result": result}, indent=None)
    except (OSError, LmcError) as err:  # a full disk (atomic.DiskFull) too: the result stands
        warnings.warn(f"could not store the study result {path} ({err})", stacklevel=3)


def cached_study(fn=None, *, depends=()):
    """Decorator for a study's run(setup, ...): load the result when the same call was made before.

    `@cached_study` or `@cached_study(depends=(helper, ...))` (see source_hash)."""
    if fn is None:
        return functools.partial(cached_study, depends=tuple(depends))
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def run(setup, *args, **kwargs):
        if not enabled():
            return fn(setup, *args, **kwargs)
        source = source_hash(fn.__module__, fn, depends=depends)
        path = folder() / f"{study_key(name, setup, args, kwargs, source)}.json"
        found = _load(path)
        if found is not None:
            return found
        result = fn(setup, *args, **kwargs)
        _store(path, result)
        return result
    return run
