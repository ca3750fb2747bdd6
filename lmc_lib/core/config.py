"""The training config and the three profiles (smoke, cpu, paper): the one place their values live.

Values the paper lost are documented defaults (the paper's Appendix B):
- MLP: Adam, lr 1e-3 (Git Re-Basin's MLP), weight decay 3e-3 (coupled L2, as torch.optim.Adam
  applies it), batch 512, no schedule.
- VGG-11 / ResNet-20: SGD momentum 0.9 (Nesterov), lr 0.4 with linear warm-up then linear decay
  (the authors' STE-MM code), weight decay 3e-3 (F.10), batch 500, random crop + flip.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from fractions import Fraction

from lmc_lib.core import ingredient
from lmc_lib.core.ingredient import Ingredient
from lmc_lib.core.utils import LmcError

RECIPE_VERSION = 2  # bump when the training code changes what a config produces
# 2: MLPs (plain/skip) train through the stacked group trainer, alone or in a group
PROFILE_NAMES = ("smoke", "cpu", "paper")
# Fields added after models were cached, with the default that reproduces the recipe as it was
# (SGD had momentum 0.9, Nesterov, built in; no ingredients): at that default (as to_dict gives
# it) a field is left out of the key.
KEYED_UNLESS_DEFAULT = {"momentum": 0.9, "nesterov": True, "ingredients": []}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (the model cache keys on it)."""

    dataset: str = "fashion_mnist"
    arch: str = "mlp"
    variant: str = "plain"
    width: float = 1.0
    seed: int = 0               # data order (and initialisation unless init_seed is set)
    init_seed: int | None = None  # set equal across two configs for "spawning" (shared init)
    epochs: int = 10
    batch_size: int = 512
    optimizer: str = "adam"     # adam | adamw | sgd | sophia
    lr: float = 1e-3
    momentum: float = 0.9       # sgd only: heavy-ball momentum
    nesterov: bool = True       # sgd only: Nesterov momentum (needs momentum > 0)
    schedule: str = "none"      # none | linear (warm-up then linear decay to 0)
    warmup_epochs: float = 0.0
    weight_decay: float = 3e-3
    augment: bool = False       # random crop (pad 4) + horizontal flip
    precision: str = "auto"     # auto (bf16 autocast on CUDA) | fp32 | bf16 (autocast anywhere)
    bias: bool = True
    n_train: int | None = None  # use the first n training samples (None: all)
    compile: bool = False       # torch.compile (CUDA only)
    ingredients: tuple[Ingredient, ...] = ()  # a chapter's loss / transform / init (ingredient.py)

    def __post_init__(self):
        object.__setattr__(self, "ingredients", ingredient.normalise(self.ingredients))

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (unknown fields are an error)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise LmcError(f"unknown TrainConfig fields {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain dict of the fields; ingredients as [{kind, name, digest}], left out when none (so
        the dict of a config without them is the one it always was)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["ingredients"] = [i.describe() for i in self.ingredients]
        if not out["ingredients"]:
            del out["ingredients"]
        return out

    def key(self) -> str:
        """Cache key: hash of every field plus the recipe version (fields added later leave the
        key out at their default, so every model trained before they existed keeps its key)."""
        fields = {k: v for k, v in self.to_dict().items()
                  if k not in KEYED_UNLESS_DEFAULT or v != KEYED_UNLESS_DEFAULT[k]}  # ingredients by
        # kind, name and digest: an edited ingredient trains anew, a reverted one finds its models
        blob = json.dumps({"recipe": RECIPE_VERSION, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    @property
    def effective_init_seed(self) -> int:
        """The seed of the initialisation."""
        return self.seed if self.init_seed is None else self.init_seed


_MLP = dict(optimizer="adam", lr=1e-3, weight_decay=3e-3, batch_size=512, schedule="none",
            augment=False)
_CONV = dict(optimizer="sgd", lr=0.4, weight_decay=3e-3, batch_size=500, schedule="linear",
             warmup_epochs=1.0, augment=True)

# Per profile: training settings per model family, and the book's sweep settings.
PROFILES = {
    "smoke": dict(mlp=dict(_MLP, epochs=1, n_train=2048),
                  conv=dict(_CONV, lr=0.1, epochs=1, n_train=1000, warmup_epochs=0.0),
                  book=dict(widths=(1 / 16, 1 / 4), conv_widths=(1 / 8,), n_pairs=2,
                            wd_sweep=(0.0, 3e-3), n_eval=512, bn_batches=2)),
    "cpu": dict(mlp=dict(_MLP, epochs=3),
                conv=dict(_CONV, lr=0.1, epochs=3, n_train=10000, warmup_epochs=0.5),
                book=dict(widths=(1 / 8, 1 / 4, 1 / 2, 1, 2, 4), costly_widths=(1 / 8, 1 / 4, 1 / 2, 1, 2),
                          conv_widths=(1 / 8, 1 / 4), n_pairs=3, wd_sweep=(0.0, 1e-4, 1e-3, 3e-3),
                          n_eval=10000, bn_batches=4, curve_precision="bf16",
                          train_precision="bf16")),
    "paper": dict(mlp=dict(_MLP, epochs=100), conv=dict(_CONV, epochs=100),
                  book=dict(widths=(1 / 4, 1 / 2, 1, 2, 4, 8, 16), conv_widths=(1 / 4, 1, 4),
                            n_pairs=3, wd_sweep=(0.0, 1e-4, 1e-3, 3e-3), n_eval=10000,
                            bn_batches=50)),
}


def _check_profile(profile: str) -> dict:
    if profile not in PROFILES:
        raise LmcError(f"unknown profile {profile!r}; choose one of {PROFILE_NAMES}")
    return PROFILES[profile]


def make_config(profile: str, dataset: str, arch: str, width: float, seed: int = 0,
                **overrides) -> TrainConfig:
    """The TrainConfig of `profile` for one model (overrides win over the profile's values)."""
    family = "mlp" if arch == "mlp" else "conv"
    base = dict(_check_profile(profile)[family])
    base.update(overrides)
    unknown = set(base) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        raise LmcError(f"unknown training settings {sorted(unknown)}; TrainConfig fields are "
                       f"{[f.name for f in dataclasses.fields(TrainConfig)]}")
    return TrainConfig(dataset=dataset, arch=arch, width=float(width), seed=seed, **base)


def book_settings(profile: str) -> dict:
    """The book's sweep settings of a profile (widths, conv_widths, n_pairs, wd_sweep, n_eval,
    bn_batches: batches of 500 training images for the BN reset of a merged conv net;
    costly_widths: the MLP widths of chapters whose studies evaluate many models per pair, default
    the widths; curve_precision: the forward of interpolation curves; train_precision: the training
    of the profile's own MLP recipe (experiment.Setup.config); both fp32 unless
    benchmarks/bf16_check.py's rule admitted bf16, and bf16 only where it is native)."""
    book = dict(_check_profile(profile)["book"])
    return dict(book, costly_widths=book.get("costly_widths", book["widths"]),
                curve_precision=book.get("curve_precision", "fp32"),
                train_precision=book.get("train_precision", "fp32"))


def width_label(width: float) -> str:
    """1/16, 1/4, 1, 2 ... (fractions of powers of two print as fractions)."""
    frac = Fraction(width).limit_denominator(64)
    return str(frac) if abs(float(frac) - width) < 1e-9 else f"{width:g}"
