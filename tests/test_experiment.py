"""Setup: a chapter's parameters -> configs, titles and clear errors."""
import pytest

from lmc_lib.config import book_settings
from lmc_lib.experiment import Setup, width_label
from lmc_lib.utils import LmcError


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
                                 dict(profile="huge")])
def test_bad_parameters_are_clear_errors(bad):
    with pytest.raises(LmcError):
        Setup.from_params(device="cpu", **bad)


def test_width_labels():
    assert [width_label(w) for w in (1 / 16, 0.5, 1.0, 2.0, 0.3)] == ["1/16", "1/2", "1", "2", "3/10"]
