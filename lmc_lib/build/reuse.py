"""Keep a chapter's executed notebook when nothing it depends on changed: a warm `make book` executes nothing.

A book run (no -p) of a chapter stores, after it succeeded, the key of its inputs and its verdict
records in `_build/reuse/NN_topic.json`. The next book run computes the key again; when it is the
same and `_build/executed/NN_topic.ipynb` is still whole, the notebook is kept and the verdicts are
written back instead of executing the chapter. The key hashes everything a chapter's output can
depend on:

- the chapter's source and its checked parameters;
- the build's environment: every LMC_* variable (seed, profile, data and cache folders...) except
  the per-process ones, MAX_TRAIN_MINUTES and the thread counts;
- the interpreter, every installed package's version, the machine kind and whether CUDA is there;
- every file under lmc_lib/ and results/ (the records the chapters show), and under book/ except
  notebooks, caches and the chapters' sources (each chapter's own source is in its own key);
- the data files (names and sizes) and the model cache's entries (names, sizes and modification
  times; not its study results or locks): a retrained or deleted model executes every chapter again.

A chapter that reads the other chapters' verdicts (chapter 12's attribution: `report.results_dir`
given the profile alone) runs after all the others, and its key also covers their verdicts
(without date and commit). `make book FRESH=1` (bookbuild --fresh, $LMC_FRESH=1) executes every
chapter regardless; a variant run (-p) is always executed. Verdict records keep the date and commit of the run that computed them.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from lmc_lib.core import records
from lmc_lib.core.utils import REPO

SKIP_ENV = {"LMC_BUILD_PID", "LMC_TRAIN_LOG", "LMC_TRAIN_CHECKED"}
ALSO_ENV = ("MAX_TRAIN_MINUTES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
ALL_VERDICTS = re.compile(r"results_dir\(\s*[\w.]+\s*\)")  # the profile alone: every chapter's verdicts
CHAPTER = re.compile(r"[0-9][0-9]_.*\.py")  # a chapter's source: in its own key, not the shared one


def _tree(h, root: Path, skip=lambda rel: False, skip_suffixes=(".ipynb", ".pyc")) -> None:
    """Feed every file under `root` (relative name and bytes) into `h`, in a fixed order."""
    if not root.is_dir():
        h.update(f"{root}: absent\n".encode())
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if (path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix not in skip_suffixes
                and not skip(rel)):
            h.update(f"{rel}\n".encode())
            h.update(hashlib.sha256(path.read_bytes()).digest())


def _listing(h, root: Path, skip=lambda rel: False, times: bool = False) -> None:
    """Feed the names and sizes (`times`: and modification times) of the files under `root` into `h`
    (not their bytes: models are large)."""
    if not root.is_dir():
        h.update(f"{root}: absent\n".encode())
        return
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not skip(rel):
            st = path.stat()
            h.update(f"{rel} {st.st_size} {st.st_mtime_ns if times else ''}\n".encode())


def environment_key(env: dict, book: Path, data_root: Path, model_cache: Path) -> str:
    """The part of every chapter's key that the chapters share (computed once per build)."""
    h = hashlib.sha256()
    picked = {k: v for k, v in env.items() if (k.startswith("LMC_") and k not in SKIP_ENV) or k in ALSO_ENV}
    h.update(json.dumps(sorted(picked.items())).encode())
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    h.update(json.dumps([sys.version, platform.machine(), platform.processor(), packages]).encode())
    import torch

    h.update(f"cuda {torch.cuda.is_available()}\n".encode())
    _tree(h, REPO / "lmc_lib")
    _tree(h, REPO / "results")
    _tree(h, book, skip=lambda rel: len(rel.parts) == 1 and bool(CHAPTER.fullmatch(rel.name)))
    _listing(h, data_root)
    _listing(h, model_cache, skip=lambda rel: rel.parts[0] == "studies" or rel.suffix == ".lock", times=True)
    return h.hexdigest()


def chapter_key(shared: str, source: Path, params: dict, verdicts: dict | None = None) -> str:
    """A chapter's key: the shared part, its source, its parameters and, for a chapter that reads
    them, the other chapters' verdicts (others_verdicts)."""
    h = hashlib.sha256(shared.encode())
    h.update(source.read_bytes())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    if verdicts is not None:
        h.update(json.dumps(verdicts, sort_keys=True, default=str).encode())
    return h.hexdigest()


def reads_all_verdicts(source: Path) -> bool:
    """Whether a chapter reads the whole build's verdicts (`report.results_dir(profile)`, with no
    chapter named), as chapter 12's attribution table does: it then runs after every other chapter
    and its key covers their verdicts."""
    return bool(ALL_VERDICTS.search(source.read_text()))


def stages(jobs: list) -> list[list]:
    """The jobs in the order they must run: every chapter that reads only its own verdicts, then
    those that read the others' (empty stages left out)."""
    last = [job for job in jobs if reads_all_verdicts(job.source)]
    return [s for s in ([job for job in jobs if job not in last], last) if s]


def others_verdicts(results: Path, chapter: str) -> dict:
    """{file name: what the verdict says} of every chapter but `chapter` in `results`, without the
    date and commit of the run that wrote it (a re-executed chapter with the same verdicts changes nothing)."""
    return {name: "damaged" if rec is None else {k: v for k, v in rec.items() if k not in ("date", "commit")}
            for name, rec in _records(results) if rec is None or not _of(rec, chapter)}


def _records(results: Path):
    """(file name, record or None when damaged) of every verdict record in `results`, in name order."""
    for path in sorted(results.glob("*.json")) if results.is_dir() else []:
        try:
            yield path.name, records.read(path)
        except (records.DamagedRecord, OSError):
            yield path.name, None


def _of(rec: dict, chapter: str) -> bool:
    """Whether a verdict record is chapter NN's (its "-suffix" parts too)."""
    return str(rec.get("chapter", "")).split("-")[0] == chapter


def _verdicts(results: Path, chapter: str) -> dict:
    """{file name: record} of the verdict records of `chapter` in `results`."""
    return {name: rec for name, rec in _records(results) if rec is not None and _of(rec, chapter)}


def store(path: Path, key: str, results: Path, chapter: str) -> None:
    """After a good run: the key and the chapter's verdict records, for the next build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records.write(path, dict(key=key, verdicts=_verdicts(results, chapter)))


def reusable(path: Path, key: str, notebook: Path) -> dict | None:
    """The stored verdicts when `key` is the stored one and `notebook` is whole; else None."""
    from lmc_lib.build.buildrun import _whole

    try:
        stored = records.read(path)
    except (records.DamagedRecord, OSError):
        return None
    if stored.get("key") != key or not notebook.is_file() or not _whole(notebook):
        return None
    return stored.get("verdicts", {})


def restore(verdicts: dict, results: Path) -> None:
    """Write the stored verdict records back (a deleted results folder gets them again)."""
    results.mkdir(parents=True, exist_ok=True)
    for name, rec in verdicts.items():
        records.write(results / name, rec)


def fresh_requested() -> bool:
    """True when $LMC_FRESH asks for every chapter to be executed."""
    return os.environ.get("LMC_FRESH", "0").strip().lower() not in ("", "0", "false", "no", "off")
