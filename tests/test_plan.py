"""The plan step: plan.configs(chapter, setup) names exactly the models each study asks for."""
import importlib

import pytest

from lmc_lib.chapters import plan
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core import cache, cost
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
    monkeypatch.setattr(cost, "time_steps", lambda device: pytest.fail("timed"))
    configs = plan.configs("02", Setup.from_params(profile="smoke", device="cpu"))
    text = plan.table(configs, "cpu", measure=False)
    rows = [line for line in text.splitlines() if line.startswith("fashion_mnist")]
    assert len(rows) == len(plan.grouped(configs)) == 2
    assert f"{len(configs)} models, {len(configs)} to train" in text
    assert not list(tmp_path.iterdir())


RATE = cost.Rate(1e9, "a test")
WIDTHS = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16]


@pytest.mark.parametrize("arch,dataset", [("mlp", "mnist"), ("vgg11", "cifar10"), ("resnet20", "cifar100")])
def test_estimate_grows_with_width(arch, dataset):
    secs = [plan.estimate([make_config("paper", dataset, arch, w)], RATE) for w in WIDTHS]
    assert all(a < b for a, b in zip(secs, secs[1:])), secs
    assert secs[-1] > 100 * secs[0]  # 256x the width: the matmuls' FLOPs dominate


def test_estimate_grows_with_epochs_and_models():
    c = make_config("paper", "fashion_mnist", "mlp", 0.25)
    by_epochs = [plan.estimate([c.replace(epochs=e)], RATE) for e in (1, 2, 10, 100)]
    assert by_epochs == pytest.approx([e * by_epochs[0] for e in (1, 2, 10, 100)])
    group = [c.replace(seed=s) for s in range(6)]
    by_models = [plan.estimate(group[:k], RATE) for k in range(7)]
    assert by_models == pytest.approx([k * by_models[1] for k in range(7)]) and by_models[1] > 0
    assert plan.estimate(group, cost.Rate(2e9, "twice as fast")) == pytest.approx(by_models[6] / 2)
    assert cost.steps(c.replace(epochs=4)) == 4 * cost.steps(c.replace(epochs=1)) == 4 * 117


def test_step_flops_count_forward_backward_and_the_optimizer():
    c = make_config("paper", "mnist", "mlp", 1)  # 784 -> 512 -> 512 -> 512 -> 10
    params, _, macs = cost.counts(c)
    assert macs == 784 * 512 + 2 * 512 * 512 + 512 * 10 and params == macs + 3 * 512 + 10
    assert 6 * 512 * macs < cost.step_flops(c) < 1.2 * 6 * 512 * macs
    assert cost.step_flops(c.replace(optimizer="sgd")) < cost.step_flops(c)
    assert cost.step_flops(c, "cuda") > cost.step_flops(c)  # memory traffic weighs more on a GPU


@pytest.fixture
def fake_timing(monkeypatch):
    """cost.time_steps replaced by a counter: 2e9 FLOPs in 0.5 s (4 GFLOP/s), no overhead; a fresh memo."""
    calls = []
    monkeypatch.setattr(cost, "_RATES", {})
    monkeypatch.setattr(cost, "time_steps",
                        lambda device: calls.append(device) or cost.Timing(2e9, 0.5, 0.0, 0.0, 5))
    return calls


def test_calibration_times_once_per_process_and_the_plan_says_estimate(fake_timing, tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    three = Setup.from_params(profile="smoke", device="cpu", widths=[0.125, 0.25, 0.5])
    configs = plan.configs("02", three) + plan.configs("10", three)
    assert len({c.arch for c in configs}) == 3 and len(plan.grouped(configs)) > 3
    texts = [plan.table(configs, "cpu") for _ in range(2)]
    assert len(fake_timing) == 1
    assert texts[0] == texts[1]
    last = texts[0].splitlines()[-1]
    assert "estimate, not a measurement" in last and "\u2248" in last
    assert "4 GFLOP/s" in last and "median of 5 timings on this cpu" in last and "(mlp, " in last
    rows = [line for line in texts[0].splitlines() if line.startswith("fashion_mnist")]
    assert len(rows) == len(plan.grouped(configs)) and all(r.endswith("timed (cpu)") for r in rows)


def _entry(config, wall, device="cpu"):
    return dict(status="ok", wall_time_s=wall, device=device, config=config.to_dict())


def test_cached_wall_times_of_the_same_size_set_the_rate_instead_of_a_timing(fake_timing):
    big = make_config("cpu", "mnist", "mlp", 1)
    entries = [_entry(big, 10.0), _entry(big.replace(seed=1), 30.0), _entry(big.replace(seed=2), 20.0),
               _entry(big, 1.0, "cuda:0"),
               _entry(big.replace(width=2), 1e-6),  # another size: not this one's rate
               _entry(big.replace(batch_size=128), 1e-6),  # another batch: another step
               _entry(make_config("cpu", "cifar10", "vgg11", 1 / 4), 1.0),
               dict(_entry(big, 1.0), status="partial")]
    rate = plan.rate_for(big, "cpu", entries)
    assert "3 cached mlp models of this size" in rate.source
    assert rate.origin == "cache" and rate.device == "cpu"
    assert plan.estimate([big.replace(seed=7)], rate) == pytest.approx(20.0)  # the median
    assert plan.estimate([big.replace(seed=7, epochs=2 * big.epochs)], rate) == pytest.approx(40.0)
    assert not fake_timing
    assert plan.rate_for(big, "cpu", entries[3:], measure=False) is None
    assert plan.rate_for(big, "cpu", entries[3:]).source.startswith("the median of 5 timings")
    assert len(fake_timing) == 1
    short = big.replace(epochs=1, n_train=2048)  # a smoke-sized run of the same model: fixed cost
    assert plan.rate_for(big, "cpu", [_entry(short, 1.0)], measure=False) is None
    assert plan.estimate([short], plan.rate_for(short, "cpu", [_entry(short, 1.0)], measure=False)) \
        == pytest.approx(1.0)


def test_batch_size_counts_steps_and_every_step_pays_an_overhead():
    """Batch 128 takes 4x the steps of batch 512; with a per-step overhead the small batch costs
    more, as the trainer's fixed work per step does."""
    c = make_config("cpu", "fashion_mnist", "mlp", 0.125)
    small = c.replace(batch_size=128)
    assert cost.steps(small) == 4 * cost.steps(c)
    rate, flops_only = cost.Rate(1e10, "a test", overhead_s=2e-3), cost.Rate(1e10, "a test")
    overhead = [plan.estimate([x], rate) - plan.estimate([x], flops_only) for x in (small, c)]
    assert overhead[0] == pytest.approx(4 * overhead[1]) and overhead[1] == pytest.approx(
        cost.steps(c) * 2e-3)
    assert plan.estimate([small], rate) > plan.estimate([c], rate)


def test_the_calibration_is_the_median_of_several_timings(monkeypatch):
    """One slow round (the machine busy for a moment) does not move the rate."""
    times = {True: iter([0.1, 0.1, 5.0, 0.1, 0.1]), False: iter([0.001] * 5)}  # big, tiny steps
    monkeypatch.setattr(cost, "ROUND_STEPS", 1)
    monkeypatch.setattr(cost, "_stepper", lambda dev, width: (
        lambda it=times[width > 0.1]: next(it), 1e9 if width > 0.1 else 0.0))
    timing = cost.time_steps("cpu")
    assert timing.secs == pytest.approx(0.1) and timing.rounds == cost.ROUNDS


def test_calibration_times_the_trainer_step_here(one_thread, monkeypatch):
    monkeypatch.setattr(cost, "_RATES", {})
    timing = cost.time_steps("cpu")
    assert timing.flops == cost.step_flops(cost.calibration_config("cpu")) and timing.secs > 0
    assert timing.tiny_flops < timing.flops / 10 and timing.tiny_secs > 0
    rate = cost.calibrate("cpu")
    assert rate.flops > 0 and rate.overhead_s >= 0 and cost.calibrate("cpu") is rate


def test_rates_from_cached_models_of_several_sizes_read_as_one_range():
    rates = {("mlp", 1.0): cost.Rate(107e9, "the wall times of 4 cached mlp models of this size", origin="cache"),
             ("mlp", 2.0): cost.Rate(189e9, "the wall times of 4 cached mlp models of this size", origin="cache"),
             ("vgg11", 1.0): cost.Rate(50e9, "the median of 5 timings", overhead_s=1e-3)}
    text = plan.rates_text(rates)
    assert text.count("wall times") == 1 and "of each of 2 sizes: 107-189 GFLOP/s (mlp)" in text
    assert text.startswith("from the median of 5 timings: 50 GFLOP/s + 1 ms per step (vgg11)")
