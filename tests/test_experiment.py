"""Setup: a chapter's parameters -> configs, titles and clear errors."""
import pytest
import torch

from lmc_lib.chapters import experiment, studycache
from lmc_lib.chapters.experiment import Setup, width_label
from lmc_lib.core import train
from lmc_lib.core.config import book_settings
from lmc_lib.core.utils import LmcError


def test_profile_defaults_and_overrides():
    s = Setup.from_params(profile="smoke", device="cpu")
    assert s.widths == tuple(sorted(book_settings("smoke")["widths"]))
    assert s.n_pairs == book_settings("smoke")["n_pairs"]
    one = Setup.from_params(profile="smoke", width=0.5, epochs=4, weight_decay=0.0, device="cpu")
    assert one.widths == (0.5,)
    cfg = one.config(0.5, seed=3)
    assert (cfg.epochs, cfg.weight_decay, cfg.seed, cfg.width) == (4, 0.0, 3, 0.5)
    conv = Setup.from_params(profile="smoke", model="vgg11", device="cpu")
    assert conv.widths == tuple(book_settings("smoke")["conv_widths"])
    assert "padded to 32x32" in conv.title()


@pytest.mark.parametrize("bad", [dict(dataset="svhn"), dict(model="vit"), dict(widths=[0.5, -1]),
                                 dict(profile="huge"), dict(weight_decay=-2.0), dict(epochs=2.5),
                                 dict(n_pairs=-3), dict(width=float("nan"))])
def test_bad_parameters_are_clear_errors(bad):
    (name, value), = bad.items()
    with pytest.raises(LmcError, match=f"parameter {name} = "):
        Setup.from_params(device="cpu", **bad)


def test_profile_value_is_spelled_one_way():
    s = Setup.from_params(profile="smoke", epochs=0, n_pairs=0, weight_decay=-1, device="cpu")
    cfg, base = s.config(s.widths[0]), book_settings("smoke")
    assert s.overrides == {} and s.n_pairs == base["n_pairs"]
    assert cfg.weight_decay == Setup.from_params(profile="smoke", device="cpu").config(1).weight_decay
    assert Setup.from_params(profile="smoke", weight_decay=0, device="cpu").config(1).weight_decay == 0


def test_width_labels():
    assert [width_label(w) for w in (1 / 16, 0.5, 1.0, 2.0, 0.3)] == ["1/16", "1/2", "1", "2", "3/10"]


def test_second_dataset_setup():
    setup = Setup.from_params(profile="smoke", dataset="fashion_mnist", device="cpu")
    other = setup.second("mnist")
    assert other.dataset == "mnist" and other.widths == setup.widths and other.n_pairs == setup.n_pairs
    assert setup.second("") is None and setup.second("fashion_mnist") is None
    with pytest.raises(LmcError, match="second dataset 'foo'"):
        setup.second("foo")


def test_seed_offset_shifts_every_model_seed():
    from lmc_lib.chapters.plan import pair_configs
    from lmc_lib.chapters.studycache import study_key

    base = Setup.from_params(profile="smoke", device="cpu")
    moved = Setup.from_params(profile="smoke", device="cpu", seed=1000)
    assert [c.seed for c in pair_configs(moved)] == [1000 + c.seed for c in pair_configs(base)]
    assert moved.config(0.5, seed=3).seed == 1003 and moved.seed_of(2) == 1002
    assert moved.config(0.5, seed=5, init_seed=0).init_seed == 1000  # spawned pairs share it
    assert base.config(0.5, init_seed=0).init_seed == 0 and base.seed_of(2) == 2
    assert "seed offset 1000" in moved.title() and "seed offset" not in base.title()
    assert study_key("ch02", base, (), {}) != study_key("ch02", moved, (), {})


@pytest.mark.parametrize("bad", [-1, 2.5, "x"])
def test_bad_seed_offset_is_a_clear_error(bad):
    with pytest.raises(LmcError, match="parameter seed = "):
        Setup.from_params(device="cpu", seed=bad)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper"])
def test_costly_chapters_sweep_the_costly_widths(profile):
    book = book_settings(profile)
    costly = Setup.from_params(profile=profile, device="cpu", costly=True)
    assert costly.widths == tuple(sorted(book["costly_widths"]))
    assert set(costly.widths) <= set(book["widths"])  # the same models, a prefix of the sweep
    assert Setup.from_params(profile=profile, device="cpu", costly=True, width=0.5).widths == (0.5,)


def test_curve_precision_comes_from_the_profile_and_is_stated():
    s = Setup.from_params(profile="smoke", device="cpu")
    assert s.curve_precision == book_settings("smoke")["curve_precision"]
    assert "bf16" not in s.scale_line()
    assert "curves in bf16" in s.but(curve_precision="bf16").scale_line()


@pytest.mark.parametrize("native", [True, False])
def test_bf16_curves_only_where_bf16_is_native(monkeypatch, native):
    """The cpu profile's bf16 curves fall back to fp32 on a CPU that emulates bf16 (AVX2: several
    times slower), and the scale line says which precision ran; an explicit bf16 stays bf16."""
    monkeypatch.setattr(experiment, "native_bf16", lambda dev: native)
    assert book_settings("cpu")["curve_precision"] == "bf16"
    s = Setup.from_params(profile="cpu", device="cpu", width=0.125)
    assert s.curve_precision == ("bf16" if native else "fp32")
    assert ("curves in bf16" in s.scale_line()) is native
    assert s.but(curve_precision="bf16").curve_precision == "bf16"
    assert experiment.bf16_where_native("fp32", torch.device("cpu")) == "fp32"


@pytest.mark.parametrize("avx512_bf16, amx, native", [(True, False, True), (False, True, True),
                                                      (False, False, False)])
def test_native_bf16_reads_the_cpu(monkeypatch, avx512_bf16, amx, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    assert train.native_bf16(torch.device("cpu")) is native
    assert train.native_bf16(torch.device("cuda")) is True


@pytest.mark.parametrize("name", ["curve_precision", "probe_precision"])
def test_conv_setups_evaluate_curves_and_probes_in_fp32_whatever_the_profile_says(name):
    s = Setup.from_params(profile="smoke", device="cpu").but(**{name: "bf16"})
    assert getattr(s, name) == "bf16"
    assert getattr(s.but(arch="vgg11"), name) == "fp32"


def test_probe_precision_is_part_of_a_study_key():
    """A study cached in fp32 probes is never served for a bf16-probe setup (and back)."""
    s = Setup.from_params(profile="smoke", device="cpu")
    assert s.probe_precision == "fp32"
    keys = {studycache.study_key("ch04", s.but(probe_precision=p), (), {}) for p in ("fp32", "bf16")}
    assert len(keys) == 2


@pytest.mark.parametrize("native", [True, False])
def test_bf16_training_only_for_the_profiles_own_recipe_where_bf16_is_native(monkeypatch, native):
    """benchmarks/bf16_check.py checked the cpu profile's own MLP recipe: only that recipe trains
    in bf16, only where bf16 is native; every other recipe keeps TrainConfig's default (fp32 on a
    CPU), and the scale line says what ran in bf16."""
    monkeypatch.setattr(experiment, "native_bf16", lambda dev: native)
    assert book_settings("cpu")["train_precision"] == "bf16"
    assert book_settings("smoke")["train_precision"] == "fp32"
    default = train.TrainConfig.__dataclass_fields__["precision"].default
    s = Setup.from_params(profile="cpu", device="cpu", width=0.125)
    assert s.train_precision == ("bf16" if native else "fp32")
    assert s.config(4, seed=3).precision == ("bf16" if native else default)
    assert s.config(4, init_seed=0).precision == s.config(4).precision  # shared init: same recipe
    assert ("training and curves in bf16" in s.scale_line()) is native
    other_recipes = [s.but(overrides=dict(weight_decay=0.0)).config(4),
                     s.but(variant="skip").config(4), s.but(train_precision="fp32").config(4),
                     Setup.from_params(profile="cpu", device="cpu", width=0.125, epochs=10).config(1)]
    assert [c.precision for c in other_recipes] == [default] * len(other_recipes)
    assert s.but(overrides=dict(precision="fp32")).config(4).precision == "fp32"  # explicit wins
    longer = Setup.from_params(profile="cpu", device="cpu", width=0.125, epochs=10)
    assert "training" not in longer.scale_line() and "training" not in s.but(variant="skip").scale_line()
    assert s.but(arch="vgg11").train_precision == "fp32"
