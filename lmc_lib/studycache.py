"""Study results cached like trained models: re-running a chapter with nothing changed loads its analysis.

`@cached_study` wraps a study's `run(setup, ...)`. The key hashes the study's name, every field of
the Setup, the other arguments, the source of every lmc_lib module (any library change recomputes),
the training recipe version and the names of the data folders present (CIFAR appearing changes
chapter 10). A result is stored as JSON in `<model cache>/studies/<key>.json` only when it
round-trips through JSON exactly, so a loaded result equals a computed one; anything else is just
recomputed. `LMC_STUDY_CACHE=0` turns the cache off (every study recomputes).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import warnings
from pathlib import Path

from . import atomic, cache, data
from .config import RECIPE_VERSION

ENV = "LMC_STUDY_CACHE"
_SOURCE: list = []


def enabled() -> bool:
    """False when LMC_STUDY_CACHE is 0 / false / off."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "off", "no")


def source_hash() -> str:
    """SHA-256 of the source of every module of lmc_lib (computed once per process)."""
    if not _SOURCE:
        root = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
        _SOURCE.append(h.hexdigest())
    return _SOURCE[0]


def study_key(name: str, setup, args: tuple, kwargs: dict) -> str:
    """The cache key of one study call."""
    fields = {f.name: getattr(setup, f.name) for f in dataclasses.fields(setup)}
    folder = data.data_root()
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    blob = json.dumps(dict(study=name, setup=fields, args=args, kwargs=kwargs, source=source_hash(),
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
        path = folder() / f"{study_key(name, setup, args, kwargs)}.json"
        found = _load(path)
        if found is not None:
            return found
        result = fn(setup, *args, **kwargs)
        _store(path, result)
        return result
    return run
