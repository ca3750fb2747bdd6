"""Names for people: how titles, captions and prose spell parameters, settings and datasets.

Code says `n_perms`, `fashion_mnist`, `conv_pairs`; a figure title says "3 random permutations per
pair", "Fashion-MNIST", "1 pair". Every title or sentence built from a parameter goes through
`setting(name, value)`; a name without an entry is an error in the tests (test_names), not a
Python identifier on the page.
"""
from __future__ import annotations

from lmc_lib.core.config import width_label
from lmc_lib.core.data import DATASET_NAMES
from lmc_lib.core.models import ARCH_NAMES

# parameter -> (singular, plural) of what one unit of its value counts, or a label before the value
COUNTS = {
    "n_pairs": ("pair", "pairs"),
    "pairs": ("pair", "pairs"),
    "n_perms": ("random permutation per pair", "random permutations per pair"),
    "lams": ("point on the λ grid", "points on the λ grid"),
    "n_eval": ("test image", "test images"),
    "n_train": ("training image", "training images"),
    "epochs": ("epoch", "epochs"),
    "n_dirs": ("random direction", "random directions"),
    "n_models": ("model", "models"),
    "bn_batches": ("batch for the BN reset", "batches for the BN reset"),
}
LABELS = {
    "weight_decay": "weight decay",
    "wd": "weight decay",
    "seed": "seed offset",
    "profile": "profile",
    "dataset": "data",
    "model": "model",
    "mass": "share of the second moments",
    "width": "w",
}
DEFAULTS = {"n_train": "all training images of the profile", "n_pairs": "the profile's pairs",
            "epochs": "the profile's epochs"}


def dataset(name: str) -> str:
    """'Fashion-MNIST' for 'fashion_mnist' (an unknown name is returned as it is)."""
    return DATASET_NAMES.get(name, name)


def arch(name: str) -> str:
    """'VGG-11' for 'vgg11'."""
    return ARCH_NAMES.get(name, name)


def count(n: int, name: str) -> str:
    """'1 pair', '3 pairs', '5 points on the λ grid' (name: a key of COUNTS)."""
    one, many = COUNTS[name]
    return f"{n} {one if n == 1 else many}"


def widths(ws) -> str:
    """'w = 1/8, 1/4' for a list; 'VGG-11 w = 1/8, 1/4; ResNet-20 w = 1/8' for {arch: widths}."""
    if isinstance(ws, dict):
        return "; ".join(f"{arch(a)} {widths(v)}" for a, v in ws.items())
    return "w = " + ", ".join(width_label(float(w)) for w in ws)


def setting(name: str, value) -> str:
    """One setting as people read it: ('n_perms', 3) -> '3 random permutations per pair',
    ('n_train', None) -> 'all training images of the profile', ('dataset', 'mnist') -> 'MNIST'."""
    if value in (None, 0, "") and name in DEFAULTS:
        return DEFAULTS[name]
    if name in COUNTS:
        return count(int(value), name)
    if name == "dataset":
        return dataset(value)
    if name == "model":
        return arch(value)
    if name in ("widths", "width"):
        return widths(value if isinstance(value, (list, tuple, dict)) else [value])
    if name in LABELS:
        return f"{LABELS[name]} {value:g}" if isinstance(value, float) else f"{LABELS[name]} {value}"
    # a setting of a chapter of your own (e.g. its `lam`): its name in words, its value as given
    text = name.replace("_", " ")
    return f"{text} {value:g}" if isinstance(value, float) else f"{text} {value}"
