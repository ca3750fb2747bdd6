"""The study-result cache: same call -> stored result, anything changed -> recomputed."""
import pytest

from lmc_lib.chapters import studycache
from lmc_lib.chapters.experiment import Setup

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
    monkeypatch.setattr(studycache, "source_hash", lambda *a, **k: "another library version")
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
    with pytest.warns(UserWarning, match="study result .* is damaged .*recomputing"):
        assert study(on)["v"] == [0.5, 1.5]
    assert CALLS == [1, 1]


def _library_copy(tmp_path):
    """A copy of lmc_lib's source to edit (the study key reads the source, not the loaded modules)."""
    import shutil

    from lmc_lib.core import imports
    copy = tmp_path / "lmc_lib"
    shutil.copytree(imports.PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _append(path, text):
    path.write_text(path.read_text() + text)


def test_editing_a_plot_or_the_build_keeps_study_keys_editing_a_probe_drops_its_users(tmp_path, monkeypatch):
    monkeypatch.setattr(studycache, "_SOURCE", {})
    lib = _library_copy(tmp_path)
    key = {ch: studycache.source_hash(f"lmc_lib.chapters.studies.{ch}", package=lib) for ch in ("ch02", "ch04")}
    _append(lib / "chapters" / "plots" / "paths.py", "\n\ndef another_colour():\n    return 'red'\n")
    _append(lib / "build" / "bookbuild.py", "\n# a comment in the build tooling\n")
    monkeypatch.setattr(studycache, "_SOURCE", {})
    assert {ch: studycache.source_hash(f"lmc_lib.chapters.studies.{ch}", package=lib) for ch in key} == key
    _append(lib / "lmc" / "probes.py", "\n\ndef a_new_probe():\n    return 0.0\n")
    monkeypatch.setattr(studycache, "_SOURCE", {})
    after = {ch: studycache.source_hash(f"lmc_lib.chapters.studies.{ch}", package=lib) for ch in key}
    assert after["ch04"] != key["ch04"]  # chapter 04's study measures LEWC with lmc.probes
    assert after["ch02"] == key["ch02"]  # chapter 02's study does not use the probes


def test_a_study_of_ones_own_is_keyed_by_its_own_source(on, monkeypatch):
    monkeypatch.setattr(studycache, "_SOURCE", {})
    first = studycache.source_hash(__name__, study)
    monkeypatch.setattr(studycache, "_SOURCE", {})
    assert studycache.source_hash(__name__, study) == first
    monkeypatch.setattr(studycache, "_SOURCE", {})
    assert studycache.source_hash(__name__, _append) != first  # another function, another key
