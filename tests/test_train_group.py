"""Tests of lmc_lib.core.train_group and cache.ensure_trained: a grouped member equals its solo run."""
import json

import numpy as np
import pytest
import torch

from lmc_lib.core import cache, cudagraph, data, runlog, train
from lmc_lib.core import train_group as tg
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.train import TrainingError

pytestmark = pytest.mark.usefixtures("one_thread")


def synthetic(n_train=256, n_test=64, size=8, seed=0, device="cpu"):
    """A learnable toy dataset: class k lights up row k of an otherwise noisy image."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 80, (n, 1, size, size)).astype(np.uint8)
        x[np.arange(n), :, y % size, :] = 250
        return x, y
    return data.from_arrays("toy", *split(n_train), *split(n_test), device=device)


TOY = synthetic()
MLP = TrainConfig(dataset="toy", width=1 / 16, epochs=2, batch_size=64, lr=1e-3)


def solo(config):
    """train.train quietly on CPU on the toy data."""
    return train.train(config, "cpu", progress=False, data=TOY)


def group(configs):
    """train_group quietly on CPU on the toy data."""
    return tg.train_group(configs, "cpu", progress=False, data=TOY)


def same_weights(a, b):
    """True when two models' state_dicts are bit-identical."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("optimizer,lr", [("adam", 1e-3), ("sgd", 0.05)])
@pytest.mark.parametrize("variant,bias", [("plain", True), ("skip", False)])
def test_group_member_equals_solo_training(optimizer, lr, variant, bias):
    configs = [MLP.replace(optimizer=optimizer, lr=lr, variant=variant, bias=bias, seed=s)
               for s in (0, 1, 2)]
    for config, (model, metrics) in zip(configs, group(configs)):
        ref, ref_metrics = solo(config)
        assert metrics.keys() == ref_metrics.keys() and not model.training
        sa, sb = model.state_dict(), ref.state_dict()
        assert sa.keys() == sb.keys()
        for name in sa:
            torch.testing.assert_close(sa[name], sb[name], rtol=1e-5, atol=1e-5 * sb[name].abs().max())
            assert not torch.equal(sa[name], train.init_model(config, TOY).state_dict()[name])
        np.testing.assert_allclose(metrics["step_losses"], ref_metrics["step_losses"], rtol=1e-5)
        assert metrics["test_acc"] == pytest.approx(ref_metrics["test_acc"], abs=1 / 64)
        assert metrics["n_params"] == ref_metrics["n_params"] and metrics["wall_time_s"] > 0


def test_members_with_other_seeds_differ_and_spawns_share_init():
    configs = [MLP.replace(seed=0), MLP.replace(seed=1), MLP.replace(seed=2, init_seed=0)]
    (a, _), (b, _), (spawn, ma) = group(configs)
    assert not same_weights(a, b) and not same_weights(a, spawn)
    assert same_weights(train.init_model(configs[0], TOY), train.init_model(configs[2], TOY))
    assert ma["epoch_losses"][-1] < ma["epoch_losses"][0]


def test_member_weights_do_not_depend_on_the_group_size():
    (a, ma), _ = group([MLP.replace(seed=0), MLP.replace(seed=1)])
    (b, mb), _, _ = group([MLP.replace(seed=s) for s in (0, 5, 6)])
    assert same_weights(a, b) and ma["step_losses"] == mb["step_losses"]


def test_unsupported_configs_fall_back_to_solo_training():
    bn = [MLP.replace(variant="bn", seed=s) for s in (0, 1)]
    assert not tg.groupable(bn[0]) and tg.groupable(MLP)
    for config, (model, metrics) in zip(bn, group(bn)):
        ref, ref_metrics = solo(config)
        assert same_weights(model, ref) and metrics["step_losses"] == ref_metrics["step_losses"]


def test_diverging_member_raises_naming_it(monkeypatch):
    original = train.init_model

    def init(config, ds):
        model = original(config, ds)
        if config.seed == 1:
            with torch.no_grad():
                model.fcs[-1].weight[0, 0] = float("inf")
        return model
    monkeypatch.setattr(train, "init_model", init)
    with pytest.raises(TrainingError, match=r"diverged.*TrainConfig\(.*seed=1,"):
        group([MLP.replace(seed=s) for s in (0, 1, 2)])


def test_mixed_recipes_or_empty_group_raise():
    with pytest.raises(TrainingError, match="differ only in seed"):
        group([MLP, MLP.replace(seed=1, lr=0.1)])
    with pytest.raises(TrainingError, match="at least one config"):
        group([])


def test_plan_groups_splits_recipes_and_caps_by_memory():
    seeds = [MLP.replace(seed=s) for s in range(20)]
    bn = MLP.replace(variant="bn")
    other = MLP.replace(lr=0.01)
    plan = tg.plan_groups(seeds + [bn, other])
    assert [bn] in plan and [other] in plan
    assert sorted(c.seed for g in plan if g[0].lr == MLP.lr and tg.groupable(g[0]) for c in g) \
        == list(range(20))
    assert max(len(g) for g in plan) == tg.MAX_GROUP
    wide = MLP.replace(width=4.0)
    assert 1 < tg.max_group_size(wide) < tg.MAX_GROUP
    assert tg.max_group_size(wide) * 16 * tg.mlp_params_bound(wide) <= tg.GROUP_BYTES
    assert tg.max_group_size(MLP.replace(width=16.0)) == 1  # one member is over the budget
    big = 40 * tg.GROUP_BYTES  # a GPU's share: w = 16 members group too
    assert 1 < tg.max_group_size(MLP.replace(width=16.0), big) <= tg.MAX_GROUP
    assert max(len(g) for g in tg.plan_groups([wide.replace(seed=s) for s in range(12)])) \
        < max(len(g) for g in tg.plan_groups([wide.replace(seed=s) for s in range(12)], big)) == 12


def test_group_bytes_on_cpu_is_the_fixed_budget():
    assert tg.group_bytes("cpu") == tg.GROUP_BYTES


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_cuda_graph_step_equals_eager(monkeypatch):
    """The graphed step replays the eager step's kernels: the same weights after 2 epochs."""
    configs = [MLP.replace(seed=s, epochs=2) for s in (0, 1)]
    assert cudagraph.usable(configs[0], torch.device("cuda"))
    toy = synthetic(device="cuda")
    graphed = tg.train_group(configs, "cuda", progress=False, data=toy)
    monkeypatch.setenv(cudagraph.ENV, "0")
    assert not cudagraph.usable(configs[0], torch.device("cuda"))
    eager = tg.train_group(configs, "cuda", progress=False, data=toy)
    for (g, gm), (e, em) in zip(graphed, eager):
        assert gm["step_losses"] == em["step_losses"]
        for (name, a), b in zip(g.state_dict().items(), e.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7, msg=name)


@pytest.fixture
def toy_cache(monkeypatch, tmp_path):
    """The cache in tmp_path; every config's dataset is the toy data."""
    monkeypatch.setattr(train, "prepare_data", lambda config, dev="auto": train._subset(TOY, config.n_train))
    return tmp_path / "models"


def test_ensure_trained_writes_ordinary_entries(toy_cache, monkeypatch):
    configs = [MLP.replace(seed=s) for s in range(3)] + [MLP.replace(variant="bn")]
    keys = cache.ensure_trained(configs + configs[:1], "cpu", progress=False, cache_dir=toy_cache)
    assert sorted(keys) == sorted(c.key() for c in configs)
    assert cache.ensure_trained(configs, "cpu", progress=False, cache_dir=toy_cache) == []
    ref, ref_metrics = solo(configs[1])

    def no_training(*args, **kwargs):
        raise AssertionError("the cache should not train")
    monkeypatch.setattr(train, "train", no_training)
    monkeypatch.setattr(tg, "train_group", no_training)
    models = [cache.load_or_train(c, "cpu", progress=False, cache_dir=toy_cache) for c in configs]
    torch.testing.assert_close(models[1].state_dict(), ref.state_dict(), rtol=1e-5, atol=1e-6)
    assert models[1].train_metrics["test_acc"] == pytest.approx(ref_metrics["test_acc"], abs=1 / 64)
    pairs = cache.model_pairs(MLP, 1, "cpu", progress=False, cache_dir=toy_cache)
    assert [m.cache_key for m in pairs[0]] == [configs[0].key(), configs[1].key()]


def test_model_pairs_trains_missing_models_grouped(toy_cache, monkeypatch):
    calls = []
    original = tg.train_group
    monkeypatch.setattr(tg, "train_group", lambda cs, *a, **k: calls.append(len(cs)) or original(cs, *a, **k))
    pairs = cache.model_pairs(MLP.replace(seed=5), 2, "cpu", progress=False, cache_dir=toy_cache)
    assert calls == [4]
    assert [(a.config.seed, b.config.seed) for a, b in pairs] == [(5, 6), (7, 8)]


def test_train_log_file_gets_one_line_per_model(monkeypatch, tmp_path, capsys):
    log = tmp_path / "train.log"
    monkeypatch.setenv(runlog.LOG_ENV, str(log))
    tg.train_group([MLP.replace(seed=s) for s in (3, 4)], "cpu", progress=True, data=TOY)
    train.train(MLP.replace(variant="skip", seed=9), "cpu", progress=True, data=TOY)
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and capsys.readouterr().err == ""
    assert "mlp/plain w=0.0625 seed=3 " in lines[0] and "seed=9" in lines[2] and "test_acc=0." in lines[2]
    monkeypatch.delenv(runlog.LOG_ENV)
    train.train(MLP, "cpu", progress=True, data=TOY)  # stderr is not a terminal under pytest
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "seed=0" in err[0] and len(log.read_text().splitlines()) == 3


def test_one_config_gives_one_result_alone_or_in_a_group(toy_cache):
    configs = [MLP.replace(seed=s) for s in (0, 1, 2)]
    alone = cache.load_or_train(configs[1], "cpu", progress=False, cache_dir=toy_cache / "alone")
    (_, _), (member, _), (_, _) = group(configs)
    assert same_weights(alone, member.to("cpu"))


def test_bf16_precision_autocasts_on_cpu_and_stays_close_to_fp32():
    dev = torch.device("cpu")
    assert train.uses_bf16(MLP.replace(precision="bf16"), dev)
    assert not train.uses_bf16(MLP, dev) and not train.uses_bf16(MLP.replace(precision="fp32"), dev)
    (half, mh), = group([MLP.replace(precision="bf16")])
    (full, mf), = group([MLP])
    assert not same_weights(half, full)
    assert all(p.dtype == torch.float32 for p in half.parameters())  # fp32 master weights
    assert all(np.isfinite(mh["step_losses"])) and mh["epoch_losses"][-1] < mh["epoch_losses"][0]
    assert abs(mh["test_acc"] - mf["test_acc"]) < 0.2


def test_a_snapshot_is_the_shorter_run_bit_for_bit(toy_cache):
    long = [MLP.replace(epochs=4, seed=s) for s in (0, 1)]
    cache.ensure_trained(long, "cpu", progress=False, cache_dir=toy_cache, snapshots=(1, 3, 9))
    short = [c.replace(epochs=3) for c in long]
    snapped = [cache.load_or_train(c, "cpu", progress=False, cache_dir=toy_cache) for c in short]
    assert all(cache.load_or_train(c.replace(epochs=1), "cpu", progress=False,
                                   cache_dir=toy_cache).train_metrics for c in long)
    assert not (toy_cache / f"{long[0].replace(epochs=9).key()}.json").exists()  # beyond the run
    for config, snap in zip(short, snapped):
        (ref, ref_metrics), = group([config])  # a run of 3 epochs, alone
        assert same_weights(snap, ref) and not same_weights(snap, group([config.replace(epochs=4)])[0][0])
        assert snap.train_metrics["epoch_losses"] == ref_metrics["epoch_losses"]
        assert snap.train_metrics["test_acc"] == ref_metrics["test_acc"]


def test_a_cached_entry_is_kept_and_compared_with_its_snapshot(toy_cache, monkeypatch, tmp_path):
    log = tmp_path / "train.log"
    monkeypatch.setenv(runlog.LOG_ENV, str(log))
    short, other = MLP.replace(epochs=1, seed=3), MLP.replace(epochs=1, seed=4)
    cache.ensure_trained([short, other], "cpu", progress=False, cache_dir=toy_cache)
    cache.ensure_trained([short.replace(epochs=2)], "cpu", progress=False, cache_dir=toy_cache,
                         snapshots=(1,))
    assert "seed=3 (adam lr=0.001" in log.read_text()
    assert "at epoch 1: identical to the cached entry" in log.read_text()
    # the entry of seed 3 replaced by seed 4's weights: kept, and the log says it differs
    (toy_cache / f"{short.key()}.pt").write_bytes((toy_cache / f"{other.key()}.pt").read_bytes())
    side = json.loads((toy_cache / f"{other.key()}.json").read_text())
    (toy_cache / f"{short.key()}.json").write_text(json.dumps(dict(side, key=short.key())))
    cache.ensure_trained([short.replace(epochs=3)], "cpu", progress=False, cache_dir=toy_cache,
                         snapshots=(1,))
    assert f"at epoch 1: DIFFERS from the cached entry {short.key()}" in log.read_text()
    assert (toy_cache / f"{short.key()}.pt").read_bytes() == (toy_cache / f"{other.key()}.pt").read_bytes()


def test_snapshots_refuse_a_scheduled_learning_rate():
    sched = [MLP.replace(epochs=3, schedule="linear", warmup_epochs=1.0)]
    with pytest.raises(TrainingError, match="constant learning rate"):
        tg.train_group(sched, "cpu", progress=False, data=TOY, snapshots=(1,), on_snapshot=print)
