"""The study-result cache: same call -> stored result, anything changed -> recomputed."""
import pytest

from lmc_lib import studycache
from lmc_lib.experiment import Setup

CALLS = []


@studycache.cached_study
def study(setup, scale: int = 1, shape: str = "list"):
    CALLS.append(scale)
    values = [0.5 * scale, 1.5]
    return {"widths": list(setup.widths), "v": tuple(values) if shape == "tuple" else values}


@pytest.fixture
def on(monkeypatch, tmp_path):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("LMC_STUDY_CACHE", "1")
    CALLS.clear()
    return Setup.from_params(profile="smoke", device="cpu")


def test_same_call_is_loaded_and_equal(on):
    first = study(on, scale=2)
    assert study(on, scale=2) == first and CALLS == [2]
    assert len(list(studycache.folder().glob("*.json"))) == 1


def test_other_arguments_setup_or_source_recompute(on, monkeypatch):
    study(on)
    study(on, scale=3)
    study(on.but(n_pairs=on.n_pairs + 1))
    monkeypatch.setattr(studycache, "_SOURCE", ["another library version"])
    study(on)
    assert CALLS == [1, 3, 1, 1]


def test_disabled_cache_always_computes(on, monkeypatch):
    monkeypatch.setenv("LMC_STUDY_CACHE", "0")
    study(on)
    study(on)
    assert CALLS == [1, 1] and not studycache.folder().exists()


def test_results_that_do_not_round_trip_are_not_stored(on):
    assert study(on, shape="tuple")["v"] == (0.5, 1.5)
    assert study(on, shape="tuple")["v"] == (0.5, 1.5)  # computed again, never a list
    assert CALLS == [1, 1]


def test_unreadable_result_is_recomputed_with_a_warning(on):
    study(on)
    path, = studycache.folder().glob("*.json")
    path.write_text("{truncated")
    with pytest.warns(UserWarning, match="unreadable study result"):
        assert study(on)["v"] == [0.5, 1.5]
    assert CALLS == [1, 1]
