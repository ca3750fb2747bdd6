"""Tests of lmc_lib.core.cache with a fast fake lmc_lib.core.train.train (no data, no real training)."""
import hashlib
import importlib
import json
import multiprocessing as mp
import sys
import time
import types
from pathlib import Path

import pytest
import torch

import lmc_lib
from lmc_lib.core import cache
from lmc_lib.core.cache import CacheError
from lmc_lib.core.config import RECIPE_VERSION, TrainConfig
from lmc_lib.core.models import build_model

CALLS = []            # keys trained in this process
COUNTER_FILE = None   # when set, every training appends one line here (seen across processes)
SLEEP_S = 0.0


def fake_train(config, device="auto", progress=True):
    """Stand-in for lmc_lib.core.train.train: a tiny untrained MLP seeded by the config."""
    CALLS.append(config.key())
    if COUNTER_FILE is not None:
        with open(COUNTER_FILE, "a") as f:
            f.write(config.key() + "\n")
    time.sleep(SLEEP_S)
    torch.manual_seed(1000 * config.effective_init_seed + config.seed)
    model = build_model(config.arch, config.width, variant=config.variant).eval()
    metrics = dict(train_loss=0.5, train_acc=0.8, test_loss=torch.tensor(0.6), test_acc=0.75,
                   wall_time_s=1.25, device="cpu", step_losses=[1.0 / (i + 1) for i in range(1200)])
    return model, metrics


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Patch lmc_lib.core.train.train and train_group.train_group (a stub train module if train.py is
    not importable); point LMC_CACHE."""
    try:
        train_mod = importlib.import_module("lmc_lib.core.train")
    except Exception:  # noqa: BLE001 -- train.py may be missing or mid-edit
        train_mod = types.ModuleType("lmc_lib.core.train")
        monkeypatch.setitem(sys.modules, "lmc_lib.core.train", train_mod)
        monkeypatch.setattr(lmc_lib, "train", train_mod, raising=False)
    monkeypatch.setattr(train_mod, "train", fake_train, raising=False)
    monkeypatch.setattr(importlib.import_module("lmc_lib.core.train_group"), "train_group",
                        lambda configs, device="auto", progress=True, data=None, **snapshots:
                        [fake_train(c, device, progress) for c in configs])
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "models"))
    CALLS.clear()
    return tmp_path / "models"


CFG = TrainConfig(dataset="mnist", arch="mlp", width=1 / 64, seed=3, epochs=1)


def load(cfg=CFG, root=None):
    """load_or_train on CPU without progress output."""
    return cache.load_or_train(cfg, device="cpu", progress=False, cache_dir=root)


def same_weights(a, b):
    """True when two models have identical state dicts."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    assert cache.cache_dir() == tmp_path
    monkeypatch.delenv("LMC_CACHE")
    assert cache.cache_dir() == Path(lmc_lib.__file__).resolve().parent.parent / ".cache" / "models"


def test_miss_trains_once_and_writes_entry(fake):
    model = load()
    key = CFG.key()
    assert CALLS == [key]
    assert (fake / f"{key}.pt").is_file() and (fake / f"{key}.json").is_file()
    assert not model.training and model.config == CFG and model.cache_key == key
    assert model.train_metrics["test_acc"] == 0.75
    assert not [p for p in fake.iterdir() if p.name.endswith(".tmp")]


def test_sidecar_contents(fake):
    model = load()
    side = json.loads((fake / f"{CFG.key()}.json").read_text())
    assert side["config"] == CFG.to_dict() and side["key"] == CFG.key()
    assert side["sha256"] == hashlib.sha256((fake / f"{CFG.key()}.pt").read_bytes()).hexdigest()
    assert side["recipe_version"] == RECIPE_VERSION
    assert side["build_kwargs"] == model.build_kwargs
    assert set(side["versions"]) == {"torch", "numpy", "python", "lmc_lib"}
    assert side["wall_time_s"] == 1.25 and side["device"] == "cpu" and side["created"]
    m = side["metrics"]
    assert m["test_loss"] == pytest.approx(0.6)
    assert len(m["step_losses"]) <= 500 and len(m["step_losses"]) == len(m["step_losses_index"])
    assert m["step_losses_index"][0] == 0 and m["step_losses_index"][-1] == 1199
    assert m["step_losses"][-1] == pytest.approx(1 / 1200)


def test_hit_does_not_train_or_load_data(fake, monkeypatch):
    first = load()
    monkeypatch.setattr("lmc_lib.core.data.load", lambda *a, **k: pytest.fail("a hit loaded data"))
    second = load()
    assert len(CALLS) == 1
    assert second is not first and same_weights(first, second)
    assert second.train_metrics == first.train_metrics and not second.training


def test_different_config_is_a_miss(fake):
    load()
    other = load(CFG.replace(weight_decay=0.0))
    assert len(CALLS) == 2 and CALLS[1] == CFG.replace(weight_decay=0.0).key()
    assert other.config.weight_decay == 0.0


def test_explicit_cache_dir_argument(fake, tmp_path):
    load(root=tmp_path / "elsewhere")
    assert (tmp_path / "elsewhere" / f"{CFG.key()}.json").is_file()
    assert not fake.exists()


def corrupt_pt(root, key):
    """Flip one byte in the middle of the weights file."""
    pt = root / f"{key}.pt"
    blob = bytearray(pt.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    pt.write_bytes(bytes(blob))


def drop(suffix):
    """Damage that deletes one file of the entry."""
    return lambda root, key: (root / f"{key}{suffix}").unlink()


def garble_json(root, key):
    """Make the sidecar unparsable."""
    (root / f"{key}.json").write_text("{not json")


@pytest.mark.parametrize("damage, reason", [
    (corrupt_pt, "checksum mismatch"),
    (drop(".json"), "weights without"),
    (drop(".pt"), "sidecar without weights"),
    (garble_json, "unreadable sidecar"),
])
def test_bad_entry_warns_and_retrains(fake, damage, reason):
    load()
    damage(fake, CFG.key())
    with pytest.warns(UserWarning, match=f"{CFG.key()}.*{reason}"):
        model = load()
    assert len(CALLS) == 2 and not model.training
    side = json.loads((fake / f"{CFG.key()}.json").read_text())
    assert side["sha256"] == hashlib.sha256((fake / f"{CFG.key()}.pt").read_bytes()).hexdigest()
    again = load()
    assert len(CALLS) == 2 and same_weights(model, again)


def test_unwritable_cache_dir_is_a_cache_error(fake, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CacheError, match="not writable.*LMC_CACHE"):
        load(root=tmp_path / "afile" / "models")


def _worker(cfg, root):
    """Child process: ask the cache for `cfg`."""
    cache.load_or_train(cfg, device="cpu", progress=False, cache_dir=root)


def test_concurrent_requests_train_once(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "COUNTER_FILE", str(tmp_path / "count.txt"))
    monkeypatch.setattr(sys.modules[__name__], "SLEEP_S", 1.0)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(CFG, str(fake))) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert (tmp_path / "count.txt").read_text().splitlines() == [CFG.key()]
    load()  # the entry is complete and valid: no training in this process
    assert CALLS == []


def test_model_pairs_seeds(fake):
    cfg = CFG.replace(seed=10, init_seed=7)
    pairs = cache.model_pairs(cfg, 2, device="cpu", progress=False)
    seeds = [(a.config.seed, b.config.seed) for a, b in pairs]
    assert seeds == [(10, 11), (12, 13)]
    assert all(m.config.init_seed == 7 for pair in pairs for m in pair)
    assert len(set(CALLS)) == 4
    with pytest.raises(CacheError, match="n_pairs"):
        cache.model_pairs(cfg, 0)


def test_cli_ls_path_rm(fake, capsys):
    load()
    load(CFG.replace(seed=4))
    assert cache.main(["ls"]) == 0
    out = capsys.readouterr().out
    assert CFG.key() in out and "mnist" in out and "0.7500" in out and "2 entries" in out
    assert cache.main(["path"]) == 0
    assert capsys.readouterr().out.strip() == str(fake)
    assert cache.main(["rm", CFG.key()[:12]]) == 0
    assert not (fake / f"{CFG.key()}.pt").exists()
    assert [e["key"] for e in cache.entries()] == [CFG.replace(seed=4).key()]
    assert cache.main(["rm", "nosuchkey"]) == 1


def test_entries_marks_partial(fake):
    load()
    (fake / f"{CFG.key()}.json").unlink()
    (row,) = cache.entries()
    assert row["status"] == "partial" and row["size_mb"] > 0
    assert "partial" in cache.format_table([row])


def test_ls_tells_two_recipes_apart_and_reads_sidecars_from_before_momentum(fake, capsys):
    adam, sgd = CFG, CFG.replace(optimizer="sgd", lr=0.05, momentum=0.5, nesterov=False)
    load(adam)
    load(sgd)
    assert cache.main(["ls"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:-1]}
    assert "adam lr=0.001" in rows[adam.key()] and "momentum" not in rows[adam.key()]
    assert "sgd lr=0.05 momentum=0.5 wd=" in rows[sgd.key()] and "nesterov" not in rows[sgd.key()]
    side = fake / f"{sgd.key()}.json"  # a sidecar written before momentum was a field
    old = json.loads(side.read_text())
    for k in ("momentum", "nesterov"):
        del old["config"][k]
    side.write_text(json.dumps(old))
    (row,) = [e for e in cache.entries() if e["key"] == sgd.key()]
    assert "sgd lr=0.05 momentum=0.9 nesterov wd=" in cache.format_table([row])
