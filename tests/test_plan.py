"""The plan step: plan.configs(chapter, setup) names exactly the models each study asks for."""
import importlib

import pytest

from lmc_lib.chapters import plan
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import cache
from lmc_lib.core.config import make_config
from lmc_lib.core.utils import LmcError

CHAPTERS = [f"{i:02d}" for i in range(1, 12)]


@pytest.fixture(scope="module")
def requested(_smoke_dirs, one_thread):
    """run(chapter) -> the set of configs its smoke study passed to cache.load_or_train
    (the model cache is the one the smoke executions of the chapters share)."""
    seen, done = {}, {}
    real = cache.load_or_train
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LMC_CACHE", str(_smoke_dirs[0]))
        mp.setenv("LMC_RESULTS", str(_smoke_dirs[1]))

        def recording(config, *args, **kwargs):
            seen.setdefault(current[0], set()).add(config)
            return real(config, *args, **kwargs)

        mp.setattr(cache, "load_or_train", recording)
        current = [None]

        def run(chapter):
            if chapter not in done:
                current[0] = chapter
                setup = Setup.from_params(profile="smoke", device="cpu")
                importlib.import_module(f"lmc_lib.chapters.studies.ch{chapter}").run(setup)
                done[chapter] = seen.get(chapter, set())
            return done[chapter]
        yield run


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_plan_equals_what_the_study_requests(chapter, requested):
    setup = Setup.from_params(profile="smoke", device="cpu")
    planned = plan.configs(chapter, setup)
    assert len(planned) == len(set(planned))
    assert set(planned) == requested(chapter)


def test_plan_follows_the_setup():
    small = Setup.from_params(profile="smoke", device="cpu", widths=[0.5], n_pairs=1)
    three = Setup.from_params(profile="smoke", device="cpu", widths=[0.125, 0.25, 0.5], n_pairs=3)
    assert {(c.width, c.seed) for c in plan.configs("02", small)} == {(0.5, 0), (0.5, 1)}
    assert {c.width for c in plan.configs("02", three)} == {0.125, 0.25, 0.5}
    assert {c.seed for c in plan.configs("02", three)} == set(range(6))
    assert {c.width for c in plan.configs("01", three)} == {0.125, 0.5}  # narrowest and widest only
    wds = {c.weight_decay for c in plan.configs("07", three)}
    assert len(wds) > 1 and len({c.width for c in plan.configs("07", three)}) == 1


def test_grouped_splits_by_everything_but_seeds():
    a = [make_config("smoke", "mnist", "mlp", 0.25, seed=s) for s in range(4)]
    spawned = [c.replace(init_seed=0) for c in a]
    other = [make_config("smoke", "mnist", "mlp", 0.5, seed=s) for s in range(2)]
    groups = plan.grouped(a + other + spawned + a[:1])
    assert [len(g) for g in groups] == [8, 2]
    assert set(groups[0]) == set(a + spawned) and set(groups[1]) == set(other)


def test_unknown_chapter_is_a_clear_error():
    with pytest.raises(LmcError, match="'99'"):
        plan.configs("99", Setup.from_params(profile="smoke", device="cpu"))


def test_table_lists_groups_and_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "load_or_train", lambda *a, **k: pytest.fail("trained"))
    configs = plan.configs("02", Setup.from_params(profile="smoke", device="cpu"))
    text = plan.table(configs, "cpu", measure=False)
    rows = [line for line in text.splitlines() if line.startswith("fashion_mnist")]
    assert len(rows) == len(plan.grouped(configs)) == 2
    assert f"{len(configs)} models, {len(configs)} to train" in text
    assert not list(tmp_path.iterdir())


def test_estimate_uses_cached_wall_times_scaled_by_epochs():
    c = make_config("smoke", "mnist", "mlp", 0.25)
    entry = dict(status="ok", wall_time_s=10.0, config=c.replace(seed=5).to_dict())
    secs, src = plan.estimate([c.replace(epochs=3), c.replace(epochs=3, seed=1)], "cpu", [entry])
    assert src == "cache" and secs == pytest.approx(2 * 3 * 10.0)
    other = dict(entry, config=c.replace(width=0.5).to_dict())
    secs, src = plan.estimate([c], "cpu", [other], measure=False)
    assert src == "-"


def test_measured_estimate_is_positive_and_grows_with_epochs(one_thread):
    c = make_config("smoke", "mnist", "mlp", 1 / 16)
    assert plan.measured_seconds(c, "cpu") > 0
    assert plan.steps(c.replace(epochs=4)) == 4 * plan.steps(c)
