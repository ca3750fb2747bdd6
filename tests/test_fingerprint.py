"""The cache never mixes recipes (lmc_lib.core.fingerprint): an entry trained by other training code
is retrained, unless that code is declared harmless -- and each harmless declaration is proved here
by training tiny models with a frozen copy of that code and with the running code, bit for bit."""
import json

import pytest
import torch.nn.functional as F
from fixtures.recipes import frozen
from test_train_group import TOY, same_weights

from lmc_lib.core import cache, fingerprint, train
from lmc_lib.core import train_group as tg
from lmc_lib.core.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")
TOY_GROUP = [TrainConfig(dataset="toy", width=1 / 16, epochs=2, batch_size=64, seed=s) for s in (0, 1)]
TOY_SINGLE = [TrainConfig(dataset="toy", width=1 / 16, epochs=2, batch_size=64, variant="bn"),
              TrainConfig(dataset="toy", width=1 / 16, epochs=2, batch_size=64, optimizer="sgd",
                          lr=0.05, schedule="linear", warmup_epochs=0.5, augment=True)]
# real data for the cache (load_or_train reads the dataset of the config)
REAL = TrainConfig(dataset="fashion_mnist", width=1 / 16, epochs=1, batch_size=128, n_train=512)


def test_every_harmless_fingerprint_is_a_frozen_copys_and_legacy_is_aca4d19():
    assert "aca4d19" in frozen.names()
    declared = set()
    for name in frozen.names():
        code = frozen.load(name)
        for path in ("group", "single"):
            fp = fingerprint.of_path(path, code)
            assert fp in fingerprint.HARMLESS and name in fingerprint.HARMLESS[fp]
            declared.add(fp)
    assert declared == set(fingerprint.HARMLESS)
    code = frozen.load("aca4d19")
    assert fingerprint.LEGACY == {p: fingerprint.of_path(p, code) for p in ("group", "single")}


@pytest.mark.parametrize("name", frozen.names())
def test_a_frozen_harmless_copy_trains_the_running_codes_models_bit_for_bit(name):
    code = frozen.load(name)
    old = code["train_group"].train_group(TOY_GROUP, "cpu", progress=False, data=TOY)
    new = tg.train_group(TOY_GROUP, "cpu", progress=False, data=TOY)
    assert all(same_weights(a, b) for (a, _), (b, _) in zip(old, new))
    assert all(fingerprint.path_of(c) == "single" for c in TOY_SINGLE)
    for config in TOY_SINGLE:
        (a, _), (b, _) = (code["train"].train(config, "cpu", progress=False, data=TOY),
                          train.train(config, "cpu", progress=False, data=TOY))
        assert same_weights(a, b)


def test_wording_is_not_code_but_a_changed_line_is(tmp_path, monkeypatch):
    import importlib.util

    def load(text, name):
        (tmp_path / f"{name}.py").write_text(text)
        spec = importlib.util.spec_from_file_location("patched", tmp_path / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod.mean_cross_entropy
    base = fingerprint.of_path("group")
    body = ("import torch.nn.functional as F\n\n\ndef mean_cross_entropy(logits, y):\n"
            '    """{doc}"""\n    k, b = y.shape  # {comment}\n    if k < 0:\n'
            '        raise ValueError("{msg}")\n'
            '    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")'
            ".view(k, b).mean({dim})\n")
    first = load(body.format(doc="one", comment="a", msg="x", dim=1), "first")
    monkeypatch.setattr(tg, "mean_cross_entropy", first)
    patched = fingerprint.of_path("group")
    assert patched != base  # another function now sits where the loss was
    monkeypatch.setattr(tg, "mean_cross_entropy", load(body.format(doc="two", comment="b", msg="y", dim=1), "second"))
    assert fingerprint.of_path("group") == patched
    monkeypatch.setattr(tg, "mean_cross_entropy", load(body.format(doc="one", comment="a", msg="x", dim=-1), "third"))
    assert fingerprint.of_path("group") != patched


def smoothed_group(logits, y):
    k, b = y.shape
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), label_smoothing=0.3,
                           reduction="none").view(k, b).mean(1)


def smoothed_single(logits, y):
    return F.cross_entropy(logits, y, label_smoothing=0.3)


@pytest.fixture
def real_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_CACHE", str(tmp_path / "models"))
    return tmp_path / "models"


@pytest.mark.parametrize("config,module,name,patch", [
    (REAL, tg, "mean_cross_entropy", smoothed_group),
    (REAL.replace(variant="bn"), train, "cross_entropy", smoothed_single)])
def test_trap1_a_loss_edited_in_the_library_never_loads_the_old_models(real_cache, monkeypatch,
                                                                         config, module, name, patch):
    book = cache.load_or_train(config, "cpu", progress=False)
    original = getattr(module, name)
    monkeypatch.setattr(module, name, patch)  # "editing train.py's loss", no config field changed
    assert cache.ensure_trained([config], "cpu", progress=False) == [config.key()]
    edited = cache.load_or_train(config, "cpu", progress=False)  # the entry ensure_trained wrote
    assert not same_weights(book, edited)
    monkeypatch.setattr(module, name, original)  # the library as it was: the edited code's entry
    # is not loaded either
    with pytest.warns(UserWarning, match=f"{config.key()}.*trained by other training code"):
        again = cache.load_or_train(config, "cpu", progress=False)
    assert same_weights(again, book)  # training is deterministic on a CPU


def test_an_entry_written_before_fingerprints_counts_as_aca4d19s(real_cache, monkeypatch):
    model = cache.load_or_train(REAL, "cpu", progress=False)
    side_path = real_cache / f"{REAL.key()}.json"
    side = json.loads(side_path.read_text())
    assert side["fingerprint"] == fingerprint.of(REAL)
    del side["fingerprint"]
    side_path.write_text(json.dumps(side))
    trainer = tg.train_group
    monkeypatch.setattr(tg, "train_group", lambda *a, **k: pytest.fail("retrained a legacy entry"))
    assert same_weights(cache.load_or_train(REAL, "cpu", progress=False), model)
    assert cache.ensure_trained([REAL], "cpu", progress=False) == []
    row = cache.format_table(cache.entries())
    assert " - " in row and "(other)" not in row
    monkeypatch.setattr(tg, "train_group", trainer)
    monkeypatch.setattr(fingerprint, "HARMLESS", {})  # if aca4d19's code were no longer harmless
    monkeypatch.setattr(fingerprint, "LEGACY", {"group": "0" * 16, "single": "0" * 16})
    assert "(other)" in cache.format_table(cache.entries())
    with pytest.warns(UserWarning, match="fingerprint none"):
        cache.load_or_train(REAL, "cpu", progress=False)
    assert json.loads(side_path.read_text())["fingerprint"] == fingerprint.of(REAL)


def test_snapshots_replace_an_entry_of_other_code(real_cache, monkeypatch):
    three = REAL.replace(epochs=3)
    short = REAL.replace(epochs=2)
    cache.ensure_trained([short], "cpu", progress=False)
    side_path = real_cache / f"{short.key()}.json"
    side = dict(json.loads(side_path.read_text()), fingerprint="f" * 16)
    side_path.write_text(json.dumps(side))
    cache.ensure_trained([three], "cpu", progress=False, snapshots=(2,))
    assert json.loads(side_path.read_text())["fingerprint"] == fingerprint.of(short)
