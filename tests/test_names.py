"""Names for people in titles, settings and prose (lmc_lib.chapters.names): no parameter name,
dataset key or Python repr reaches a figure title or a verdict's setting."""
import re

import pytest

from lmc_lib.chapters import names
from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.studies import ch10

CODE_LIKE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b|[{}\[\]]|'|pair\(s\)")


def code_like(text: str) -> list[str]:
    """What in a title or sentence reads as code: snake_case names, brackets, quotes, 'pair(s)'."""
    return CODE_LIKE.findall(re.sub(r"\$[^$]*\$", "", text))  # math may use braces


@pytest.mark.parametrize("name", sorted(set(names.COUNTS) | set(names.LABELS)))
def test_every_setting_reads_as_words(name):
    value = 0.25 if name in names.LABELS and name not in ("dataset", "model", "profile") else 3
    value = {"dataset": "fashion_mnist", "model": "resnet20", "profile": "cpu"}.get(name, value)
    assert not code_like(names.setting(name, value)), names.setting(name, value)


def test_counts_agree_in_number_and_defaults_are_said():
    assert names.count(1, "n_pairs") == "1 pair" and names.count(3, "n_perms") == "3 random permutations per pair"
    assert names.setting("n_train", None) == "all training images of the profile"
    assert names.widths({"vgg11": [0.125, 0.25], "resnet20": [0.125]}) == "VGG-11 w = 1/8, 1/4; ResNet-20 w = 1/8"
    # a setting of a chapter of your own reads as words, never as a Python identifier
    assert names.setting("kl_drop", 0.25) == "kl drop 0.25" and names.setting("lam", 1) == "lam 1"


def test_figure_titles_and_settings_read_as_words(smoke_env):
    setup = Setup.from_params(profile="smoke", dataset="fashion_mnist")
    title = setup.title(n_perms=3, epochs=1)
    assert not code_like(title) and "3 random permutations per pair" in title and "1 epoch" in title
    s = dict(conv_label="Fashion-MNIST padded to 32x32", conv_plan={"vgg11": [0.125], "resnet20": [0.125]},
             profile="smoke", conv_pairs=1, conv_n_train=None, conv_lams=5)
    conv = ch10.conv_title(dict(settings=s))
    assert not code_like(conv) and "1 pair" in conv and "5 points on the λ grid" in conv


def test_the_check_catches_code_in_a_title():
    bad = "widths {'vgg11': [0.125, 0.25]}, 1 pair(s) | n_train of the profile | MLPs: fashion_mnist"
    found = code_like(bad)
    assert {"n_train", "fashion_mnist", "{", "pair(s)"} <= set(found)
