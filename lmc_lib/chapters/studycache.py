"""Study results cached like trained models: re-running a chapter with nothing changed loads its analysis.

`@cached_study` wraps a study's `run(setup, ...)`. The key hashes the study's name, every field of
the Setup, the other arguments, the source of the lmc_lib modules the study depends on (its module and
everything that module imports, directly or not, read from the source: editing a plot or the build
tooling keeps the result, editing a probe the study uses recomputes it),
the training recipe version and the names of the data folders present (CIFAR appearing changes
chapter 10). A result is stored as JSON in `<model cache>/studies/<key>.json` only when it
round-trips through JSON exactly, so a loaded result equals a computed one; anything else is just
recomputed. `LMC_STUDY_CACHE=0` turns the cache off (every study recomputes).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import json
import os
import sys
import warnings
from pathlib import Path

from lmc_lib.core import atomic, cache, data, imports
from lmc_lib.core.config import RECIPE_VERSION

ENV = "LMC_STUDY_CACHE"
_SOURCE: dict = {}
NOT_RESULTS = ("lmc_lib.chapters.plots", "lmc_lib.build")  # never change a study's numbers


def enabled() -> bool:
    """False when LMC_STUDY_CACHE is 0 / false / off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def source_hash(module: str, fn=None, package: Path = imports.PACKAGE) -> str:
    """SHA-256 of the source a study depends on (computed once per module and process).

    A study in lmc_lib: its module's import closure. A study defined elsewhere (a chapter of your
    own): the function's own source plus every lmc_lib module loaded in this process except the
    plots and the build tooling.
    """
    if (module, package) not in _SOURCE:
        edges = imports.graph(package)
        if module in edges:
            digest = imports.source_hash(imports.closure(module, edges), package)
        else:
            loaded = {m for m in sys.modules if m in edges and not m.startswith(NOT_RESULTS)}
            digest = imports.source_hash(loaded, package) + _own_source(fn)
        _SOURCE[module, package] = digest
    return _SOURCE[module, package]


def _own_source(fn) -> str:
    """SHA-256 of a function's source ("" when it has none, e.g. typed at a prompt)."""
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
    except (OSError, TypeError):
        return ""


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
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        warnings.warn(f"ignoring unreadable study result {path} ({err}); recomputing", stacklevel=3)
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
        atomic.atomic_write(path, text.encode())
    except OSError as err:
        warnings.warn(f"could not store the study result {path} ({err})", stacklevel=3)


def cached_study(fn):
    """Decorator for a study's run(setup, ...): load the result when the same call was made before."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def run(setup, *args, **kwargs):
        if not enabled():
            return fn(setup, *args, **kwargs)
        path = folder() / f"{study_key(name, setup, args, kwargs, source_hash(fn.__module__, fn))}.json"
        found = _load(path)
        if found is not None:
            return found
        result = fn(setup, *args, **kwargs)
        _store(path, result)
        return result
    return run
