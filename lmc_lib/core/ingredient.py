"""Training ingredients: a named function of a chapter that changes how a model is trained.

Three kinds, each honoured by both trainers (train.train and the stacked train_group):
- "loss": `fn(logits [B, classes] float32, labels [B]) -> the batch's mean loss` (a scalar);
  replaces the cross-entropy of every optimiser step (a stacked group calls it once per member);
- "transform": `fn(x, generator) -> x`: a normalised float batch [B, C, H, W] on the device, same
  shape back; random draws come from `generator` (the member's own, seeded by its seed);
- "init": `fn(model)`: changes the freshly initialised model's weights in place (inside the
  initialisation's seeded RNG); the architecture must stay as it is.

A config's ingredients are part of its cache key by kind, name and digest (the hash of the
function's source, of the chapter functions it calls and of the plain values it reads, computed by
lmc_lib.chapters.hypothesis.trained_with): editing an ingredient trains new models, reverting it
finds the old ones, and a config without ingredients keeps the key it always had.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from lmc_lib.core.utils import LmcError

KINDS = ("loss", "transform", "init")


@dataclass(frozen=True)
class Ingredient:
    """A named training ingredient; equal (and keyed) by kind, name and digest, never by `fn`."""

    kind: str
    name: str
    digest: str
    fn: Callable | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise LmcError(f"unknown ingredient kind {self.kind!r}; choose one of {KINDS}")
        if not self.name.isidentifier():
            raise LmcError(f"an ingredient needs a function with a name (a def, not a lambda); "
                           f"got {self.name!r}")

    def describe(self) -> dict:
        """What the cache key and a sidecar record: kind, name, digest."""
        return dict(kind=self.kind, name=self.name, digest=self.digest)

    def label(self) -> str:
        """`loss=label_smoothed@1a2b3c4d`: kind, name and the digest's start (logs, `cache ls`)."""
        return f"{self.kind}={self.name}@{self.digest[:8]}"


def normalise(items) -> tuple:
    """Ingredients (or their recorded dicts) as a tuple sorted by kind, at most one per kind."""
    out = tuple(sorted((i if isinstance(i, Ingredient) else Ingredient(**i) for i in items or ()),
                       key=lambda i: i.kind))
    kinds = [i.kind for i in out]
    if len(set(kinds)) != len(kinds):
        raise LmcError(f"one ingredient per kind at most; got kinds {kinds}")
    return out


def function(config, kind: str):
    """The function of the config's ingredient of `kind`, or None when it has none."""
    for item in config.ingredients:
        if item.kind == kind:
            if item.fn is None:
                raise LmcError(f"ingredient {item.label()} was read from a record and has no "
                               "function: pass the function itself (hypothesis.trained_with)")
            return item.fn
    return None


def mean_loss(fn, logits, y):
    """`fn(logits, y)`, checked to be one number (the batch's mean loss)."""
    out = fn(logits, y)
    if getattr(out, "dim", lambda: -1)() != 0:
        raise LmcError(f"loss ingredient {getattr(fn, '__name__', fn)!r} must return the batch's "
                       f"mean loss (a 0-d tensor); got {type(out).__name__} of shape "
                       f"{tuple(getattr(out, 'shape', ()))} (reduce with .mean())")
    return out


def transformed(fn, x, gen):
    """`fn(x, gen)`, checked to keep the batch's shape."""
    out = fn(x, gen)
    if getattr(out, "shape", None) != x.shape:
        raise LmcError(f"transform ingredient {getattr(fn, '__name__', fn)!r} must return a batch "
                       f"of the shape it got {tuple(x.shape)}; got {tuple(getattr(out, 'shape', ()))}")
    return out


def tweak(fn, model) -> None:
    """`fn(model)` on a fresh model, checked to leave its architecture (modules, shapes) as it was."""
    def layout(m):
        return ([type(s).__name__ for s in m.modules()],
                [(n, tuple(p.shape)) for n, p in m.named_parameters()])
    before = layout(model)
    fn(model)
    if layout(model) != before:
        raise LmcError(f"init ingredient {getattr(fn, '__name__', fn)!r} changed the model's "
                       "architecture; it may only change weights in place (the stacked trainer "
                       "rebuilds the architecture from the config)")
