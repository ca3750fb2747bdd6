"""Shared fixtures."""
import pytest
import torch


@pytest.fixture(scope="session")
def _smoke_dirs(tmp_path_factory):
    return tmp_path_factory.mktemp("cache"), tmp_path_factory.mktemp("results")


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
