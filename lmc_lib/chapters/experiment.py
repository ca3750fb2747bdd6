"""Chapter glue: turn a chapter's parameters into one Setup, and run the sweeps chapters share.

A chapter does `setup = Setup.from_params(profile=..., dataset=..., model=..., ...)`; everything
downstream (configs, model pairs, evaluation inputs, figure titles) comes from that object.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from lmc_lib.chapters import guard, names, params
from lmc_lib.core import budget, cache
from lmc_lib.core.config import TrainConfig, book_settings, make_config, width_label
from lmc_lib.core.data import DATASET_NAMES, DATASETS
from lmc_lib.core.models import ARCH_NAMES
from lmc_lib.core.runlog import log_line
from lmc_lib.core.train import native_bf16, prepare_data
from lmc_lib.core.utils import LmcError, resolve_device
from lmc_lib.lmc import merge
from lmc_lib.matching import perm


def bf16_where_native(profile_choice: str, dev: torch.device) -> str:
    """The profile's precision (of curves, of training), except fp32 where bf16 is emulated
    (train.native_bf16: an AVX2 CPU computes a bf16 forward several times slower than fp32; the
    rule of benchmarks/bf16_check.py found the two precisions' numbers and verdicts equal)."""
    return profile_choice if profile_choice != "bf16" or native_bf16(dev) else "fp32"


def _device(name: str) -> torch.device:
    """The torch device of a checked device name; cuda without a GPU is a clear error."""
    dev = resolve_device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise params.ParamError(f"parameter device = {name!r}: no CUDA GPU is visible here; "
                                "use device 'auto' or 'cpu'")
    return dev


def _hours(h: float) -> str:
    """2.5 h, 12 min, 40 s."""
    return f"{h:.1f} h" if h >= 1 else f"{60 * h:.0f} min" if h >= 1 / 60 else f"{3600 * h:.0f} s"


@dataclass(frozen=True)
class Setup:
    """One chapter's settings: profile, data, model, the widths swept and the training overrides."""

    profile: str
    dataset: str
    arch: str
    widths: tuple
    n_pairs: int
    device: torch.device
    n_eval: int
    bn_batches: int
    variant: str = "plain"
    overrides: dict = field(default_factory=dict)
    seed: int = 0  # offset added to every seed the chapter uses (models, splits, directions)
    curve_precision: str = "fp32"  # the forward of interpolation curves: fp32 | bf16 (autocast)
    probe_precision: str = "fp32"  # the forward of chapters 4-6's probes: fp32 | bf16 (autocast)
    train_precision: str = "fp32"  # training of the profile's own MLP recipe: fp32 | bf16 (config)

    def __post_init__(self):
        """bf16 curves, probes and training only for MLPs: benchmarks/bf16_check.py's rule was run
        on MLPs, BN conv nets were not tested, so a conv setup (also `but(arch=...)`) is fp32."""
        for name in ("curve_precision", "probe_precision", "train_precision"):
            if self.arch != "mlp" and getattr(self, name) != "fp32":
                object.__setattr__(self, name, "fp32")

    @classmethod
    def from_params(cls, *, profile="cpu", dataset="fashion_mnist", model="mlp", widths=(),
                    width=0.0, epochs=0, n_pairs=0, weight_decay=-1.0, device="auto",
                    variant="plain", seed=0, costly=False, **overrides) -> "Setup":
        """Build from a chapter's parameters cell (0 / empty list / weight_decay -1: the profile's;
        `costly`: a chapter that evaluates many models per pair sweeps the profile's costly_widths)."""
        p = params.validate(dict(profile=profile, dataset=dataset, model=model, widths=widths,
                                 width=width, epochs=epochs, n_pairs=n_pairs,
                                 weight_decay=weight_decay, device=device, seed=seed))
        book = book_settings(p["profile"])
        default = book["conv_widths"] if p["model"] != "mlp" else \
            book["costly_widths"] if costly else book["widths"]
        chosen = (p["width"],) if p["width"] else tuple(float(w) for w in p["widths"] or default)
        if p["epochs"]:
            overrides["epochs"] = p["epochs"]
        if p["weight_decay"] != -1:
            overrides["weight_decay"] = p["weight_decay"]
        dev = _device(p["device"])
        setup = cls(profile=p["profile"], dataset=p["dataset"], arch=p["model"],
                    widths=tuple(sorted(chosen)), n_pairs=p["n_pairs"] or book["n_pairs"],
                    device=dev, n_eval=book["n_eval"],
                    bn_batches=book["bn_batches"], variant=variant, overrides=dict(overrides),
                    seed=p["seed"], curve_precision=bf16_where_native(book["curve_precision"], dev),
                    train_precision=bf16_where_native(book["train_precision"], dev))
        setup.check_resources(max(default))
        guard.announce(setup)  # in a kernel: the training estimate; stop above max_train_minutes
        return setup

    def check_resources(self, profile_max: float = 1.0) -> None:
        """Refuse widths that do not fit the device; on a CPU, say how long a far wider model takes."""
        widest = self.config(self.widths[-1])
        budget.check(widest, self.device)
        if self.device.type == "cpu" and widest.width > 4 * profile_max:
            print(f"note: width {width_label(widest.width)} is far beyond the profile's widths: "
                  f"about {_hours(budget.cpu_hours(widest))} per model on one CPU thread "
                  f"(estimate; {2 * self.n_pairs} models per width)", flush=True)

    def but(self, **changes) -> "Setup":
        """A copy with some fields changed; training overrides merge into the existing ones."""
        over = dict(self.overrides, **changes.pop("overrides", {}))
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return Setup(**{**fields, **changes, "overrides": over})

    def second(self, dataset: str) -> "Setup | None":
        """This setup on a second dataset (a chapter's `second_dataset`); None for "" or the same one."""
        if dataset and dataset not in DATASETS:
            raise LmcError(f"unknown second dataset {dataset!r}; choose '' or one of {DATASETS}")
        return self.but(dataset=dataset) if dataset and dataset != self.dataset else None

    def config(self, width: float, seed: int = 0, **overrides) -> TrainConfig:
        """The TrainConfig of one model of this setup (seeds, init_seed too, shifted by self.seed).
        With train_precision "bf16", the profile's own recipe (plain MLP, no training override but
        a seed: chapter 11's shared-init pairs compare with the main sweep) trains in bf16, the
        recipe benchmarks/bf16_check.py checked; any other recipe in fp32."""
        over = dict(self.overrides, variant=self.variant, **overrides)
        if self.train_precision == "bf16" and over["variant"] == "plain" and set(over) <= {"variant", "init_seed"}:
            over["precision"] = "bf16"
        if over.get("init_seed") is not None:
            over["init_seed"] = self.seed + over["init_seed"]
        return make_config(self.profile, self.dataset, self.arch, width, self.seed + seed, **over)

    def seed_of(self, i: int) -> int:
        """The seed of pair `i`'s own draws (calibration split, permutation, direction): seed + i."""
        return self.seed + i

    def pairs(self, width: float, progress: bool = True, **overrides) -> list:
        """n_pairs (model_a, model_b) pairs at `width`, trained once and cached."""
        return cache.model_pairs(self.config(width, **overrides), self.n_pairs, self.device,
                                 progress=progress)

    def data(self):
        """The dataset as the models see it (padded to 32x32 for conv nets on 28x28 data)."""
        return prepare_data(self.config(self.widths[0]), self.device)

    def eval_inputs(self, n: int | None = None):
        """The first n (default n_eval) normalised test inputs and their labels."""
        ds = self.data()
        n = n or self.n_eval
        return ds.normalize(ds.x_test[:n]), ds.y_test[:n]

    def data_label(self) -> str:
        """Dataset name, saying so when 28x28 images were padded for a conv net."""
        name = DATASET_NAMES[self.dataset]
        if self.arch != "mlp" and self.dataset in ("mnist", "fashion_mnist"):
            name += " padded to 32x32 (CIFAR absent)"
        return name

    def scale_line(self) -> str:
        """The scale of this run in one line, for a chapter's "departures from the paper" note."""
        ws = ", ".join(width_label(w) for w in self.widths)
        widest = self.config(self.widths[-1])
        epochs = widest.epochs
        seed = f", seed offset {self.seed}" if self.seed else ""
        parts = [what for what, choice in (("training", widest.precision), ("curves", self.curve_precision))
                 if choice == "bf16"]
        bf16 = f", {' and '.join(parts)} in bf16" if parts else ""
        return (f"profile `{self.profile}`, {self.data_label()}, widths {ws}; {epochs} "
                f"epoch{'s' * (epochs != 1)}, {self.n_pairs} pairs, {self.n_eval} test inputs"
                f"{bf16}{seed}.")

    def __repr__(self) -> str:
        """Setup(<scale line>, device, variant): short enough to read under a chapter's Setup cell."""
        extra = "" if self.variant == "plain" else f", variant {self.variant}"
        return f"Setup({self.scale_line().rstrip('.')}; device {self.device}{extra})"

    def _repr_markdown_(self) -> str:
        """The scale line as a Markdown paragraph (how a notebook shows a Setup)."""
        extra = "" if self.variant == "plain" else f", variant `{self.variant}`"
        return f"**Setup:** {self.scale_line().rstrip('.')}; device `{self.device}`{extra}."

    def title(self, widths=None, **extra) -> str:
        """Figure title: dataset, model, profile, widths and number of pairs."""
        ws = ", ".join(width_label(w) for w in (widths or self.widths))
        arch = ARCH_NAMES[self.arch] + ("" if self.variant == "plain" else f" ({self.variant})")
        parts = [self.data_label(), arch, f"profile {self.profile}", f"w = {ws}",
                 names.count(self.n_pairs, "n_pairs")] + [f"seed offset {self.seed}"] * bool(self.seed) + \
            [names.setting(k, v) for k, v in extra.items()]
        return " | ".join(parts)


def _matched(spec, a, b, pair: int, width: float, seed: int) -> dict:
    """Weight matching of pair `pair` (seeded by `seed`); one log line with its sweeps and seconds."""
    p, info = perm.weight_matching(spec, a, b, seed=seed)
    log_line(f"matched w={width:g} pair={pair} on {next(a.parameters()).device.type}: "
             f"{info['iterations']} sweeps, {info['solves']} solves, {info['seconds']:.1f}s", False)
    return p


def pair_curves(setup: Setup, width: float, matching: str = "none", lams=11, **overrides) -> list:
    """One interpolation curve per pair at `width`; matching: none | random | wm (Def 2.1, Sec 2.3)."""
    if matching not in ("none", "random", "wm"):
        raise LmcError(f"matching must be none, random or wm; got {matching!r}")
    ds = setup.data()
    curves = []
    for i, (a, b) in enumerate(setup.pairs(width, **overrides)):
        p, seed = None, setup.seed_of(i)
        if matching != "none":
            spec = perm.spec_for(b)
            p = (perm.random_permutation(spec, seed=seed) if matching == "random"
                 else _matched(spec, a, b, i, width, seed))
        curves.append(merge.curve(a, b, ds, lams=lams, n_eval=setup.n_eval, perm=p, seed=seed,
                                  bn_batches=setup.bn_batches, precision=setup.curve_precision,
                                  meta=dict(width=width, pair=i, matching=matching)))
    return curves

