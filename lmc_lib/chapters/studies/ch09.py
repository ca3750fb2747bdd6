"""Chapter 9 (paper App D, Fig 12, 13, 14): random-direction flatness versus the path to theta_b.

Per width and pair: d = ||theta_a - theta_b|| and a Gaussian unit direction u (seeded by the pair).
Fig 12: accuracy and loss of theta_a + t d u and, for comparison, of the actual path
theta_a + t (theta_b - theta_a) = theta(1 - t), for t in [0, 1]. Fig 13: per hidden layer, the
activation cosine between theta_a and theta_a + d u; Fig 14: between theta_a and theta_b.
BN nets get their running statistics recomputed after every move (as a merged model does).
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.models import has_batchnorm
from lmc_lib.lmc import claims, merge, probes_flat

COSTLY = True  # many models per pair: the chapter sweeps the profile's costly_widths

CHAPTER = "09"
GAP = 0.1  # "b is not a random neighbour": cos(a, a + d u) - cos(a, b) at least this, every layer


def direction_to(model_a, model_b) -> dict:
    """The unit direction (theta_b - theta_a) / d over the floating parameters (App D path)."""
    d = probes_flat.param_distance(model_a, model_b)
    pb = dict(model_b.named_parameters())
    return {n: (pb[n].detach() - p.detach()) / d for n, p in model_a.named_parameters()
            if p.is_floating_point()}


def _after_move(setup: Setup, model):
    """A BN-reset function for BN nets (None otherwise)."""
    if not has_batchnorm(model):
        return None
    x_bn = merge.bn_subset(setup.data(), setup.bn_batches * 500)
    return lambda m: merge.reset_bn(m, x_bn, n_batches=setup.bn_batches)


def _pair(setup: Setup, a, b, x, y, ts, seed: int) -> dict:
    """Fig 12-14 for one pair: random and actual curves, activation cosines."""
    d, u = probes_flat.param_distance(a, b), probes_flat.random_direction(a, seed=seed)
    after = _after_move(setup, a)
    rand = probes_flat.flatness_curve(a, d, u, x, y, ts, after_move=after)
    path = probes_flat.flatness_curve(a, d, direction_to(a, b), x, y, ts, after_move=after)
    moved = probes_flat.along_direction(a, u, d)
    moved = (after(moved) if after else moved)
    return dict(d=d, rand_acc=rand["acc"].tolist(), rand_loss=rand["loss"].tolist(),
                path_acc=path["acc"].tolist(), path_loss=path["loss"].tolist(),
                cos_random=probes_flat.activation_cosine(a, moved, x).tolist(),
                cos_b=probes_flat.activation_cosine(a, b, x).tolist())


@cached_study
def run(setup: Setup, ts=11) -> dict:
    """Fig 12-14: {str(width): {quantity: [per pair]}} and the t grid."""
    grid = np.linspace(0, 1, ts) if isinstance(ts, int) else np.asarray(ts, dtype=float)
    x, y = setup.eval_inputs()
    per_width = {}
    for w in setup.widths:
        rows = [_pair(setup, a, b, x, y, grid, seed=setup.seed_of(i)) for i, (a, b) in enumerate(setup.pairs(w))]
        per_width[str(w)] = {k: [r[k] for r in rows] for k in rows[0]}
    return dict(widths=list(setup.widths), t=grid.tolist(), per_width=per_width, gap=GAP,
                n_pairs=setup.n_pairs, n_eval=len(x), profile=setup.profile, arch=setup.arch,
                dataset=setup.dataset)


def summary(result: dict) -> dict:
    """Per width: accuracy at t = 1 (random, path) and its drop, layer-mean cosines, pair means."""
    out = {k: [] for k in ("rand_acc_t1", "rand_drop", "path_min_acc", "cos_random", "cos_b")}
    for w in result["widths"]:
        p = result["per_width"][str(w)]
        rand = np.mean(p["rand_acc"], axis=0)
        out["rand_acc_t1"].append(float(rand[-1]))
        out["rand_drop"].append(float(rand[0] - rand[-1]))
        out["path_min_acc"].append(float(np.min(np.mean(p["path_acc"], axis=0))))
        out["cos_random"].append(float(np.mean(p["cos_random"])))
        out["cos_b"].append(float(np.mean(p["cos_b"])))
    return out


def verdicts(result: dict, setup: Setup) -> list[dict]:
    """C12 (claims.c12): acc at t = 1 along u rises with width; cos(a, b) stays GAP below cos(a, a + d u)."""
    widths, s = result["widths"], summary(result)
    widest = result["per_width"][str(widths[-1])]
    gap_pairs = np.asarray(widest["cos_random"], dtype=float) - np.asarray(widest["cos_b"], dtype=float)
    acc_t1 = [np.asarray(result["per_width"][str(w)]["rand_acc"], dtype=float)[:, -1] for w in widths]
    j = claims.c12(widths, acc_t1, gap_pairs, gap=GAP)
    measured = dict(widths=widths, rand_acc_t1=s["rand_acc_t1"], path_min_acc=s["path_min_acc"],
                    cos_random=s["cos_random"], cos_b=s["cos_b"], gap_widest=gap_pairs.mean(0).tolist())
    return [report.record_verdict("C12", CHAPTER, setup.profile, j.checks, measured,
                                  setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                  dataset=setup.dataset)]
