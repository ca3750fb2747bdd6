"""Tests of lmc_lib.core.train and lmc_lib.core.sophia: determinism, seeds, divergence, augmentation, schedule."""
import os
import re
import time

import numpy as np
import pytest
import torch

from lmc_lib.core import data, train
from lmc_lib.core.config import TrainConfig, make_config
from lmc_lib.core.sophia import HESSIAN_INTERVAL, SophiaG
from lmc_lib.core.train import TrainingError
from lmc_lib.core.utils import LmcError

pytestmark = pytest.mark.usefixtures("one_thread")

def synthetic(n_train=256, n_test=64, channels=1, size=8, seed=0):
    """A learnable toy dataset: class k lights up row k of an otherwise noisy image."""
    rng = np.random.default_rng(seed)

    def split(n):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 80, (n, channels, size, size)).astype(np.uint8)
        x[np.arange(n), :, y % size, :] = 250
        return x, y
    return data.from_arrays("toy", *split(n_train), *split(n_test))


TOY = synthetic()
TOY_RGB = synthetic(64, 16, channels=3)
MLP = TrainConfig(width=1 / 16, epochs=2, batch_size=64, lr=1e-3)
CONV = TrainConfig(arch="resnet20", width=1 / 16, epochs=1, batch_size=32, optimizer="sgd", lr=0.05,
                   schedule="linear", warmup_epochs=0.5, augment=True)


def fit(config, ds=TOY):
    """Train quietly on CPU."""
    return train.train(config, "cpu", progress=False, data=ds)


def same_weights(a, b):
    """True when two models' state_dicts are bit-identical."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("config,ds", [(MLP, TOY), (MLP.replace(variant="bn", optimizer="sophia"), TOY),
                                       (CONV, TOY_RGB)])
def test_same_config_gives_bit_identical_weights(config, ds):
    (a, ma), (b, mb) = fit(config, ds), fit(config, ds)
    assert same_weights(a, b)
    assert ma["step_losses"] == mb["step_losses"]


def test_seed_changes_weights_and_init_seed_shares_init():
    rng_before = torch.get_rng_state()
    a, _ = fit(MLP)
    b, _ = fit(MLP.replace(seed=1))
    spawn, _ = fit(MLP.replace(seed=1, init_seed=0))
    assert torch.equal(torch.get_rng_state(), rng_before)  # training leaves the global RNG alone
    assert not same_weights(a, b) and not same_weights(a, spawn)
    init = lambda c: train.init_model(c, TOY)  # noqa: E731
    assert same_weights(init(MLP), init(MLP.replace(seed=1, init_seed=0)))
    assert not same_weights(init(MLP), init(MLP.replace(seed=1)))


def test_metrics_and_eval_mode():
    model, m = fit(MLP)
    assert not model.training
    per_epoch = len(TOY.y_train) // MLP.batch_size
    assert len(m["step_losses"]) == MLP.epochs * per_epoch and len(m["epoch_losses"]) == MLP.epochs
    assert m["epoch_losses"][-1] == pytest.approx(np.mean(m["step_losses"][-per_epoch:]))
    assert m["train_loss"] == m["epoch_losses"][-1] and 0 <= m["train_acc"] <= 1
    assert m["n_params"] == sum(p.numel() for p in model.parameters()) and m["device"] == "cpu"
    acc, loss = train.accuracy_and_loss(model, TOY, "test")
    assert (acc, loss) == (m["test_acc"], m["test_loss"])
    assert m["epoch_losses"][-1] < m["epoch_losses"][0] and m["wall_time_s"] > 0


def test_divergence_raises_with_config():
    bad = MLP.replace(optimizer="sgd", lr=1e6)
    with pytest.raises(TrainingError, match=r"diverged.*TrainConfig\(.*lr=1000000\.0"):
        fit(bad)


@pytest.mark.parametrize("field,value,options", [("optimizer", "lbfgs", "sophia"),
                                                 ("schedule", "cosine", "linear"),
                                                 ("precision", "fp16", "fp32")])
def test_unknown_recipe_names_raise(field, value, options):
    with pytest.raises(LmcError, match=f"unknown {field} '{value}'.*{options}"):
        fit(MLP.replace(**{field: value}))
    with pytest.raises(LmcError, match="n_train=999"):
        fit(MLP.replace(n_train=999))


def test_augmentation_keeps_shape_dtype_and_flips():
    x = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    g = torch.Generator().manual_seed(0)
    for out in (train.augment(x, g), train.random_crop(x, 4, g), train.random_flip(x, g)):
        assert out.shape == x.shape and out.dtype == x.dtype
    flipped = train.random_flip(x, torch.Generator().manual_seed(1))
    same = (flipped == x).flatten(1).all(1)
    mirrored = (flipped == x.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()
    assert torch.equal(train.random_crop(x, 0, g), x)


def test_random_crop_is_a_window_of_the_padded_image():
    x = torch.randint(1, 256, (16, 1, 6, 6), dtype=torch.uint8)
    out = train.random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    windows = padded.unfold(2, 6, 1).unfold(3, 6, 1)  # [n, c, 5, 5, 6, 6]
    for i in range(len(x)):
        assert (windows[i, 0] == out[i, 0]).flatten(2).all(2).any()
    assert (out == 0).any()  # some images were shifted (zero border visible)


def test_lr_schedule_values():
    assert train.lr_factor(7, 10, 2, "none") == 1.0
    values = [train.lr_factor(t, 10, 2) for t in range(10)]
    assert values[:3] == [0.5, 1.0, 1.0]
    assert values[6] == pytest.approx(0.5) and values[9] == pytest.approx(1 / 8)
    assert all(a >= b for a, b in zip(values[1:], values[2:]))
    assert train.lr_factor(0, 10, 0) == 1.0
    with pytest.raises(LmcError, match="cosine"):
        train.lr_factor(0, 10, 0, "cosine")


def test_evaluate_returns_fp32_cpu_logits_and_restores_mode():
    model, _ = fit(MLP)
    model.train()
    x = TOY.normalize(TOY.x_test)
    logits = train.evaluate(model, x, batch_size=10)
    assert logits.dtype == torch.float32 and logits.device.type == "cpu" and logits.shape == (64, 10)
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(logits, model.eval()(x))
    with pytest.raises(LmcError, match="normalise"):
        train.evaluate(model, TOY.x_test)


def test_sophia_single_step_matches_hand_computation():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))
    opt = SophiaG([p], lr=0.1, betas=(0.9, 0.5), rho=0.04, weight_decay=0.1, bs=10)
    p.grad = torch.tensor([1.0, 2.0, 0.1, 0.0])  # sampled-label gradient g_hat
    opt.update_hessian()  # h = 0.5 g_hat^2 = [0.5, 2, 0.005, 0]; rho*bs*h = [0.2, 0.8, 0.002, 0]
    p.grad = torch.tensor([0.1, -0.2, 0.3, 0.05])  # m = 0.1 g = [0.01, -0.02, 0.03, 0.005]
    opt.step()  # p*0.99 - 0.1*clip(m / max(rho*bs*h, eps), 1) with ratios [0.05, -0.025, 15, inf]
    torch.testing.assert_close(p.detach(), torch.tensor([0.985, -1.9775, 0.395, 2.87]))
    torch.testing.assert_close(opt.state[p]["exp_avg"], torch.tensor([0.01, -0.02, 0.03, 0.005]))
    with pytest.raises(LmcError):
        SophiaG([p], betas=(1.0, 0.9))


def test_sophia_training_refreshes_hessian_every_k_steps(monkeypatch):
    calls = []
    original = SophiaG.update_hessian
    monkeypatch.setattr(SophiaG, "update_hessian", lambda self: calls.append(1) or original(self))
    config = MLP.replace(optimizer="sophia", epochs=3, batch_size=16)
    _, m = fit(config)
    assert len(calls) == len(m["step_losses"]) // HESSIAN_INTERVAL > 0


# ---- real data: run when fetched; LMC_REQUIRE_DATA=1 turns a skip into a failure
def real_or_skip(name):
    """Skip (or fail under $LMC_REQUIRE_DATA) when a real dataset is not fetched."""
    try:
        data.verify(name)
    except data.DataError:
        if os.environ.get("LMC_REQUIRE_DATA"):
            pytest.fail(f"LMC_REQUIRE_DATA is set but {name} is absent")
        pytest.skip(f"{name} not fetched in {data.data_root()} (run `make data`)")


def test_mlp_learns_real_mnist():
    real_or_skip("mnist")
    config = make_config("cpu", "mnist", "mlp", 1 / 4, n_train=5000, epochs=2)
    _, m = train.train(config, "cpu", progress=False)
    assert m["test_acc"] > 0.8, m


def test_prepare_data_pads_subsets_and_caches():
    real_or_skip("mnist")
    conv = make_config("smoke", "mnist", "resnet20", 1 / 8, n_train=100)
    ds = train.prepare_data(conv, "cpu")
    assert ds.x_train.shape == (100, 1, 32, 32) and ds.x_test.shape == (10000, 1, 32, 32)
    assert train.prepare_data(conv, "cpu") is ds
    mlp = train.prepare_data(conv.replace(arch="mlp"), "cpu")
    assert mlp.image_size == 28 and len(mlp.y_train) == 100


def test_batch_source_matches_per_batch_normalisation(monkeypatch):
    norm = train.normalizer(TOY, "cpu")
    idx = torch.tensor([[3, 0, 7], [5, 5, 1]])
    pre = train.batch_source(MLP, TOY, "cpu")  # no augmentation: normalised once, then gathered
    assert torch.equal(pre(idx, None), norm(TOY.x_train[idx]))
    assert torch.equal(pre(idx[0], None), norm(TOY.x_train[idx[0]]))
    monkeypatch.setattr(train, "PRENORM_BYTES", 0)  # too big to normalise once: per batch
    assert torch.equal(train.batch_source(MLP, TOY, "cpu")(idx[1], None), norm(TOY.x_train[idx[1]]))
    aug = train.batch_source(MLP.replace(augment=True), TOY, "cpu")
    out = aug(idx[0], torch.Generator().manual_seed(0))
    assert out.shape == (3, 1, 8, 8) and not torch.equal(out, norm(TOY.x_train[idx[0]]))


# ---------------------------------------------------------------- the recipe's SGD settings

def test_sgd_momentum_and_nesterov_reach_the_optimizer():
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = MLP.replace(optimizer="sgd", lr=0.05)
    default = train.make_optimizer(sgd, params, 64).defaults
    plain = train.make_optimizer(sgd.replace(momentum=0.0, nesterov=False), params, 64).defaults
    heavy = train.make_optimizer(sgd.replace(momentum=0.5, nesterov=False), params, 64).defaults
    assert (default["momentum"], default["nesterov"]) == (TrainConfig.momentum, TrainConfig.nesterov)
    assert (plain["momentum"], plain["nesterov"]) == (0.0, False)
    assert (heavy["momentum"], heavy["nesterov"]) == (0.5, False)


def test_other_momentum_trains_other_weights_and_has_its_own_key():
    sgd = MLP.replace(optimizer="sgd", lr=0.05)
    (a, _), (b, _) = fit(sgd), fit(sgd.replace(momentum=0.5, nesterov=False))
    assert not same_weights(a, b)
    assert len({sgd.key(), sgd.replace(momentum=0.5).key(), sgd.replace(nesterov=False).key()}) == 3


def test_key_of_a_config_at_the_new_fields_defaults_is_the_key_it_had_before_them():
    import hashlib
    import json

    from lmc_lib.core import config as cfg

    for c in (MLP, CONV, make_config("cpu", "fashion_mnist", "mlp", 0.5, seed=3)):
        before = {k: v for k, v in c.to_dict().items() if k not in cfg.KEYED_UNLESS_DEFAULT}
        blob = json.dumps({"recipe": cfg.RECIPE_VERSION, **before}, sort_keys=True)
        assert c.key() == hashlib.sha256(blob.encode()).hexdigest()[:20]


@pytest.mark.parametrize("changes,match", [
    (dict(momentum=0.5), "apply to optimizer 'sgd' only"),
    (dict(optimizer="sgd", momentum=0.0), "nesterov=True needs momentum > 0"),
    (dict(optimizer="sgd", momentum=1.0), "momentum must be in"),
    (dict(optimizer="sgd", momentum=-0.1, nesterov=False), "momentum must be in"),
])
def test_impossible_momentum_settings_are_refused_before_training(changes, match):
    with pytest.raises(TrainingError, match=match):
        train.check_config(MLP.replace(**changes))


def test_the_log_line_names_the_recipe_and_a_groups_wall_time(monkeypatch, tmp_path):
    from lmc_lib.core import runlog, train_group

    log = tmp_path / "train.log"
    monkeypatch.setenv(runlog.LOG_ENV, str(log))
    sgd = MLP.replace(optimizer="sgd", lr=0.05, momentum=0.5, nesterov=False)
    start = time.perf_counter()
    train_group.train_group([sgd.replace(seed=s) for s in (1, 2, 3)], "cpu", data=TOY)
    took = time.perf_counter() - start
    lines = log.read_text().splitlines()
    assert len(lines) == 3 and all("sgd lr=0.05 momentum=0.5 wd=0.003" in line for line in lines)
    assert "momentum" not in runlog.recipe(MLP) and "nesterov" in runlog.recipe(CONV)
    group_s, share_s = (float(x) for x in re.search(
        r" ([\d.]+)s for its group of 3 trained together \(([\d.]+)s per model\)", lines[0]).groups())
    assert share_s == pytest.approx(group_s / 3, abs=0.06) and group_s <= took + 0.05
    fit(MLP.replace(seed=7))  # alone: its own time, no group
    assert "group" not in log.read_text().splitlines()[-1]


def test_evaluate_in_bf16_rounds_the_forward_but_returns_fp32():
    model, _ = fit(MLP)
    x = TOY.normalize(TOY.x_test)
    full = train.evaluate(model, x)
    half = train.evaluate(model, x, precision="bf16")
    assert half.dtype == torch.float32 and half.shape == full.shape
    gap = (half - full).abs().max().item()
    # bf16 keeps 8 significant bits: the logits move, but by far less than their own size
    assert 0 < gap < 0.05 * full.abs().max().item()
    with pytest.raises(LmcError, match="precision"):
        train.evaluate(model, x, precision="fp16")
