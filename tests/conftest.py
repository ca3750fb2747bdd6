"""Shared fixtures."""
import time
from pathlib import Path

import pytest
import torch

from lmc_lib.core.utils import LmcError


@pytest.fixture(scope="session")
def _smoke_dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("results")


class SmokeRuns:
    """Every chapter executed at most once per session in the smoke profile (test_book, test_browser)."""

    def __init__(self, folder: Path, cache: Path, results: Path):
        self.folder, self.cache, self.results, self.runs = folder, cache, results, {}

    def run(self, src: Path) -> dict:
        """{notebook, start, error} of a chapter's smoke execution, executed on first request."""
        if src not in self.runs:
            from lmc_lib.build import bookbuild  # needs the Jupyter stack: not on a bare GPU machine
            out, start, error = self.folder / (src.stem + ".ipynb"), time.time() - 1, None
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("LMC_CACHE", str(self.cache))
                mp.setenv("LMC_RESULTS", str(self.results))
                mp.setenv("OMP_NUM_THREADS", "1")  # the kernel inherits it: one torch thread
                try:
                    bookbuild.execute(src, out, {"profile": "smoke"})
                except LmcError as err:
                    error = str(err)
            self.runs[src] = dict(notebook=out, start=start, error=error)
        return self.runs[src]


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory, _smoke_dirs):
    """The session's smoke executions of the chapters, in one folder (each chapter runs once)."""
    cache, results = _smoke_dirs
    return SmokeRuns(tmp_path_factory.mktemp("executed"), cache, results)


@pytest.fixture
def smoke_env(_smoke_dirs, monkeypatch):
    """A model cache and a results folder shared by the smoke executions of all chapters."""
    cache, results = _smoke_dirs
    monkeypatch.setenv("LMC_CACHE", str(cache))
    monkeypatch.setenv("LMC_RESULTS", str(results))
    return cache, results


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models: one intra-op thread (2 threads on a busy 2-core box can be 50x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _no_study_cache(monkeypatch):
    """Tests compute every study (test_studycache turns the cache on where it tests it)."""
    monkeypatch.setenv("LMC_STUDY_CACHE", "0")


@pytest.fixture
def warm_small(monkeypatch):
    """Warm-started assignments for small test matrices too (below WARM_MIN_N they are solved cold)."""
    from lmc_lib.matching import warmlap
    monkeypatch.setattr(warmlap, "WARM_MIN_N", 0)


@pytest.fixture
def counted_runs(monkeypatch, tmp_path):
    """bookbuild with an empty model cache whose chapter runs (and up-front training) are
    recorded, not started."""
    from lmc_lib.build import bookbuild, buildrun
    from lmc_lib.chapters import executor

    monkeypatch.setattr(bookbuild, "BUILD", tmp_path / "build")
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "cache"))
    for var in ("PROFILE", "JOBS", "MAX_TRAIN_MINUTES"):
        monkeypatch.delenv(var, raising=False)
    started = []
    monkeypatch.setattr(buildrun, "run", lambda jobs, *a, **k: started.extend(jobs) or [])
    monkeypatch.setattr(executor, "pretrain_book", lambda *a, **k: None)
    return started
