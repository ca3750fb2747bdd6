"""Chapter 3 (paper 3.2, F.4): random permutations of both models before merging, against WM (Fig 18).

Permuting model_a by P and model_b by Q and merging is the same, up to the function-preserving
permutation P of the merged net, as merging model_a with model_b permuted by P^-1 Q: permuting
both independently is no different in distribution from permuting one. We permute both, as the
paper describes, with `n_perms` seeded draws per pair. No model is trained beyond the main sweep.
"""
from __future__ import annotations

import numpy as np

from .. import merge, perm, report
from ..experiment import Setup, pair_curves, width_label
from .ch02 import default_lams, means, per_pair, settings, summarize_curves, wkey


def random_curves(setup: Setup, width: float, n_perms: int = 3, lams=11) -> list:
    """Fig 18: n_perms curves per pair, each after permuting BOTH models by independent random perms."""
    ds, curves = setup.data(), []
    for i, (a, b) in enumerate(setup.pairs(width)):
        spec = perm.spec_for(a)
        for k in range(n_perms):
            seed = 1000 + 100 * i + 2 * k
            pa = perm.apply_permutation(spec, a, perm.random_permutation(spec, seed))
            pb = perm.apply_permutation(spec, b, perm.random_permutation(spec, seed + 1))
            curves.append(merge.curve(pa, pb, ds, lams=lams, n_eval=setup.n_eval, seed=i,
                                      bn_batches=setup.bn_batches,
                                      meta=dict(width=width, pair=i, perm=k, matching="random")))
    return curves


def run(setup: Setup, n_perms: int = 3, lams: int = 5) -> dict:
    """Fig 18 (a) acc at lam = 1/2: none / random / WM / endpoints; (b) calibrated barriers.

    A 5-point grid (0, 1/4, 1/2, 3/4, 1) by default: the figure needs lam = 1/2 and a barrier,
    and every random draw costs a whole path; lams=0 uses chapter 2's grid.
    """
    lams = lams or default_lams(setup)
    out = dict(widths=list(setup.widths), n_pairs=setup.n_pairs, n_perms=n_perms,
               matchings=["none", "random", "wm"], settings=settings(setup, lams))
    for m in out["matchings"]:
        out[m] = {}
        for w in setup.widths:
            curves = (random_curves(setup, w, n_perms, lams) if m == "random"
                      else pair_curves(setup, w, m, lams))
            out[m][wkey(w)] = summarize_curves(curves)
    out["lams"] = curves[0].column("lam").tolist()
    return out


def pair_means(result: dict, matching: str, key: str) -> list:
    """[width][pair] of `key` (see ch02.per_pair); random draws are averaged within each pair."""
    rows = per_pair(result, matching, key)
    if matching != "random":
        return rows
    k = result["n_perms"]
    return [np.asarray(r, dtype=float).reshape(-1, k).mean(axis=1).tolist() for r in rows]


def wm_gain(result: dict, which: str = "cal_barrier_max") -> list:
    """Fig 18 (b): [width][pair] barrier after random permutations minus barrier after WM."""
    rnd, wm = pair_means(result, "random", which), pair_means(result, "wm", which)
    return [(np.asarray(r) - np.asarray(m)).tolist() for r, m in zip(rnd, wm)]


def verdicts(result: dict, setup: Setup, c3_tol_pp: float = 1.0) -> list:
    """C3: random = none at the largest width; WM lowers the barrier everywhere, by less with width."""
    ws = result["widths"]
    if len(ws) < 2:
        checks = {"a sweep of 2 or more widths (a trend needs them)": False}
        return [report.record_verdict("C3", "03", setup.profile, checks, {"widths": ws},
                                      setup.title(), verdict="not run")]
    last = width_label(ws[-1])
    none = 100 * np.asarray(pair_means(result, "none", "acc_half")[-1])
    rnd = 100 * np.asarray(pair_means(result, "random", "acc_half")[-1])
    diff = float(abs(rnd.mean() - none.mean()))
    tol = max(c3_tol_pp, float(none.std(ddof=1)) if len(none) > 1 else 0.0)
    gain = [float(np.mean(g)) for g in wm_gain(result)]
    checks = {f"|acc(1/2) random - none| at w = {last} within {tol:.2g} pp": diff <= tol,
              "WM lowers the calibrated barrier at every width": all(g > 0 for g in gain),
              "WM's improvement shrinks with width": report.falls(ws, gain)}
    rnd_all = pair_means(result, "random", "acc_half")
    measured = {"widths": ws, "acc_half_none_pct": [100 * a for a in means(result, "none", "acc_half")],
                "acc_half_random_pct": [100 * float(np.mean(r)) for r in rnd_all],
                "abs_diff_pp": diff, "cal_barrier_random_minus_wm": gain}
    return [report.record_verdict("C3", "03", setup.profile, checks, measured, setting=setup.title())]
