"""Helpers for a chapter of your own: models trained with another recipe, the Def 2.1 barriers at
lam = 1/2 on a three-point grid (cached), a measurement swept over widths and pairs, compared with
the probability ensemble, summarised per width and drawn (one quantity, or two series in one panel).

Used by the chapter template (`make new-chapter NAME=...`, lmc_lib/build/templates/chapter.py.tmpl);
see book/guide.md. Ensembles come from lmc_lib.lmc.merge (ensemble_probs: mean of softmax); trends
and levels are judged against the spread over pairs by lmc_lib.lmc.claims (rises, falls, above).
"""
from __future__ import annotations

import numpy as np
import torch

from lmc_lib.chapters import guard, plan
from lmc_lib.chapters.experiment import pair_curves
from lmc_lib.chapters.studycache import cached_study, own_source
from lmc_lib.core.config import TrainConfig
from lmc_lib.core.ingredient import KINDS, Ingredient
from lmc_lib.core.runlog import recipe
from lmc_lib.core.stats import mean_std
from lmc_lib.core.train import check_config, evaluate
from lmc_lib.core.utils import LmcError
from lmc_lib.lmc import barriers as bar
from lmc_lib.lmc import calibrate as cal
from lmc_lib.lmc.merge import ensemble_probs

__all__ = ["trained_with", "ingredient", "steps_per_model", "announce", "recipe_of", "barriers", "kl_divergence", "agreement",
           "compare_to_ensemble", "sweep", "mean_std", "per_pair", "plot_widths", "plot_compare"]
FIXED = ("dataset", "arch", "variant", "width", "seed")  # the Setup's, not a training recipe's


def trained_with(setup, **settings):
    """`setup` whose models are trained with other TrainConfig values (optimizer, lr, momentum,
    nesterov, weight_decay, epochs, batch_size, n_train, schedule ...) and/or a chapter's own
    ingredients: `loss=fn`, `transform=fn`, `init=fn` (lmc_lib.core.ingredient says what each gets),
    checked before any training; its models sit in the model cache beside the book's, under keys
    of their own (an ingredient's: its name and the digest of its source, see `ingredient`)."""
    fields = [f for f in TrainConfig.__dataclass_fields__ if f not in FIXED + ("ingredients",)]
    bad = sorted(set(settings) - set(fields) - set(KINDS))
    if bad:
        raise LmcError(f"trained_with: {bad} is not a training setting; choose from {fields}, or an "
                       f"ingredient {list(KINDS)} (dataset, model and widths are the Setup's: "
                       "setup.but(dataset=...))")
    mine = [ingredient(k, settings.pop(k)) for k in KINDS if k in settings]
    if mine:
        kept = [i for i in setup.overrides.get("ingredients", ()) if i.kind not in {m.kind for m in mine}]
        settings["ingredients"] = tuple(kept + mine)
    other = setup.but(overrides=settings)
    check_config(other.config(other.widths[-1]))
    announce(other)
    return other


def ingredient(kind: str, fn) -> Ingredient:
    """A chapter's function as a training ingredient of `kind` (loss, transform, init), keyed by its
    name and the digest of its source, the chapter functions it calls and the plain values it reads
    (studycache.own_source: editing any of them trains new models, reverting finds the old ones)."""
    if not callable(fn):
        raise LmcError(f"trained_with: {kind}= needs a function (a def of the chapter); got "
                       f"{type(fn).__name__} {fn!r}")
    return Ingredient(kind, getattr(fn, "__name__", ""), own_source(fn)[:16], fn)


def steps_per_model(setup, width: float | None = None) -> int:
    """Optimiser steps one model of `setup` takes: epochs x (training images // batch size); two
    recipes that differ in batch size (or n_train) differ in it at equal epochs."""
    c = setup.config(setup.widths[-1] if width is None else width)
    n = c.n_train or len(setup.data().y_train)
    return c.epochs * (n // min(c.batch_size, n))


def announce(setup) -> None:
    """Before its models train: how many of the setup's pairs are missing from the cache and about
    how long they take (printed on the terminal's stderr: a build's own estimate cannot know a
    recipe chosen inside the chapter); above max_train_minutes nothing trains (guard.TooLong)."""
    guard.announce_configs(plan.pair_configs(setup), setup.device, f"training [{recipe_of(setup)}]",
                           f"the recipe {recipe_of(setup)}")


def recipe_of(setup) -> str:
    """The training recipe of a setup's models in one line (lmc_lib.core.runlog.recipe)."""
    return recipe(setup.config(setup.widths[-1]))


@cached_study
def _half_barriers(setup, lams: list, matching: str) -> dict:
    """[width][pair] Def 2.1 barriers and beta at lam = 1/2 (JSON-exact, so the study cache keeps it)."""
    out: dict = {"acc": [], "loss": [], "cal_loss": [], "beta": []}
    for w in setup.widths:
        curves = pair_curves(setup, w, matching, lams)
        half = int(np.argmin(np.abs(np.asarray(lams) - 0.5)))
        out["acc"].append([float(bar.accuracy_barrier(c)["half"]) for c in curves])
        out["loss"].append([float(bar.loss_barrier(c, which="loss")["half"]) for c in curves])
        out["cal_loss"].append([float(bar.loss_barrier(c)["half"]) for c in curves])
        out["beta"].append([float(c.column("beta")[half]) for c in curves])
    return out


def barriers(setup, lams=(0.0, 0.5, 1.0), matching: str = "none") -> dict:
    """Def 2.1 barriers at lam = 1/2 of every pair at every width, cached like the book's studies.

    Returns {"widths": [...], "acc": accuracy barrier (fraction), "loss": raw loss barrier,
    "cal_loss": calibrated loss barrier (Sec 3.1), "beta": fitted inverse temperature}, each a
    [pairs, widths] array. Only 0, 1/2 and 1 are evaluated unless `lams` asks for more points.
    """
    grid = sorted(float(x) for x in lams)
    if not {0.0, 0.5, 1.0} <= set(grid):
        raise LmcError(f"barriers needs lams holding 0, 0.5 and 1; got {list(lams)}")
    found = _half_barriers(setup, grid, matching)
    return {"widths": list(setup.widths), **{k: np.asarray(v, dtype=float).T for k, v in found.items()}}


def _as_probs(p, name: str) -> torch.Tensor:
    """A [N, classes] float64 tensor of probabilities (rows sum to 1), or an LmcError naming `name`."""
    p = torch.as_tensor(p).double()
    if p.ndim != 2 or len(p) == 0:
        raise LmcError(f"{name} must be a [N, classes] tensor of probabilities; got shape {tuple(p.shape)}")
    if (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise LmcError(f"{name} rows must be probabilities (>= 0, summing to 1); pass softmax outputs, "
                       "not logits")
    return p


def kl_divergence(p, q) -> float:
    """Mean over rows of KL(p || q) = sum_c p_c log(p_c / q_c), in nats (q clamped at 1e-30)."""
    p, q = _as_probs(p, "p"), _as_probs(q, "q")
    if p.shape != q.shape:
        raise LmcError(f"p and q must have the same shape; got {tuple(p.shape)} and {tuple(q.shape)}")
    return float((torch.special.xlogy(p, p) - p * q.clamp_min(1e-30).log()).sum(1).mean())


def agreement(p, q) -> float:
    """Top-1 agreement: the share of rows where p and q (probabilities or logits) have the same argmax."""
    p, q = torch.as_tensor(p), torch.as_tensor(q)
    if p.shape != q.shape or p.ndim != 2:
        raise LmcError(f"agreement needs two [N, classes] tensors of one shape; got {tuple(p.shape)}, "
                       f"{tuple(q.shape)}")
    return float((p.argmax(1) == q.argmax(1)).double().mean())


def compare_to_ensemble(model, models, x, y=None, calib_frac: float = 0.2, seed: int = 0) -> dict:
    """KL(ensemble || model) and top-1 agreement with the probability ensemble of `models` on x.

    With labels y the model is calibrated first (Sec 3.1): beta is fitted on a seeded `calib_frac`
    of x and both numbers are measured on the rest; without y, beta = 1 on all of x.
    Returns {"kl": nats, "agreement": share in [0, 1], "beta": the inverse temperature used}.
    """
    logits, ens = evaluate(model, x).double(), ensemble_probs(models, x).double()
    beta, rows = 1.0, torch.arange(len(x))
    if y is not None:
        fit, rows = (torch.as_tensor(i) for i in cal.split_indices(len(x), calib_frac, seed))
        beta = cal.fit_inverse_temperature(logits[fit], torch.as_tensor(y).cpu()[fit])
    log_q = torch.log_softmax(beta * logits[rows], dim=1)
    p = ens[rows]
    kl = float((torch.special.xlogy(p, p) - p * log_q).sum(1).mean())
    return {"kl": kl, "agreement": agreement(p, log_q), "beta": float(beta)}


def sweep(setup, fn, widths=None) -> dict:
    """{width: [fn(model_a, model_b, pair_index) for each pair of setup at that width]} (cached models)."""
    widths = setup.widths if widths is None else tuple(float(w) for w in widths)
    return {float(w): [fn(a, b, i) for i, (a, b) in enumerate(setup.pairs(w))] for w in widths}


def per_pair(swept: dict, key: str | None = None) -> np.ndarray:
    """The swept values as a [pairs, widths] array (widths in the sweep's order); `key` picks a dict entry."""
    cols = [[v[key] if key is not None else v for v in vals] for vals in swept.values()]
    if len({len(c) for c in cols}) != 1:
        raise LmcError(f"every width needs the same number of pairs; got {[len(c) for c in cols]}")
    return np.asarray(cols, dtype=float).T


def plot_widths(widths, panels: dict, title: str):
    """Figure: one panel per quantity against width (log2 axis), mean +- std over pairs.

    panels: {y-axis label: values [pairs, widths]}; title: e.g. setup.title(). Returns the figure.
    """
    from lmc_lib.chapters.experiment import width_label
    from lmc_lib.chapters.plots import style

    fig, axes = style.grid(len(panels))
    for ax, (label, values) in zip(axes, panels.items()):
        style.errorbars(ax, widths, np.atleast_2d(values), label="mean ± std over pairs")
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(widths), [width_label(w) for w in widths])
        ax.set(xlabel="width multiplier w", ylabel=label)
    return style.finish_with_legend(fig, list(axes), title)


def plot_compare(series: dict, widths, ylabel: str, title: str, ax=None):
    """Figure: one quantity against width for several series in one panel (e.g. two training
    recipes), mean +- std over pairs. series: {legend label: values [pairs, widths]}."""
    from lmc_lib.chapters.experiment import width_label
    from lmc_lib.chapters.plots import style

    if ax is None:
        fig, (ax,) = style.grid(1)
    else:
        fig = ax.figure
    for (label, values), marker in zip(series.items(), "osD^v<>"):
        values = np.atleast_2d(np.asarray(values, dtype=float))
        if values.shape[1] != len(widths):
            raise LmcError(f"plot_compare: series {label!r} has {values.shape[1]} widths, "
                           f"expected {len(widths)} ([pairs, widths] values)")
        style.errorbars(ax, widths, values, label=label, marker=marker)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(widths), [width_label(w) for w in widths])
    ax.set(xlabel="width multiplier w", ylabel=ylabel)
    return style.finish_with_legend(fig, ax, title, legend_title="mean ± std over pairs")
