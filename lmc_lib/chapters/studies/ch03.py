"""Chapter 3 (paper 3.2, F.4): random permutations of both models before merging, against WM (Fig 18).

Permuting model_a by P and model_b by Q and merging is the same, up to the function-preserving
permutation P of the merged net, as merging model_a with model_b permuted by P^-1 Q: permuting
both independently is no different in distribution from permuting one. We permute both, as the
paper describes, with `n_perms` seeded draws per pair. No model is trained beyond the main sweep.
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, pair_curves
from lmc_lib.chapters.results import means, pair_means, per_pair, wkey, wm_gain  # noqa: F401
from lmc_lib.chapters.studies.ch02 import default_lams, settings, summarize_curves
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.lmc import claims, merge
from lmc_lib.matching import perm

COSTLY = True  # many models per pair: the chapter sweeps the profile's costly_widths


def random_curves(setup: Setup, width: float, n_perms: int = 3, lams=11) -> list:
    """Fig 18: n_perms curves per pair, each after permuting BOTH models by independent random perms."""
    ds, curves = setup.data(), []
    for i, (a, b) in enumerate(setup.pairs(width)):
        spec = perm.spec_for(a)
        for k in range(n_perms):
            seed = setup.seed + 1000 + 100 * i + 2 * k
            pa = perm.apply_permutation(spec, a, perm.random_permutation(spec, seed))
            pb = perm.apply_permutation(spec, b, perm.random_permutation(spec, seed + 1))
            curves.append(merge.curve(pa, pb, ds, lams=lams, n_eval=setup.n_eval, seed=setup.seed_of(i),
                                      precision=setup.curve_precision,
                                      bn_batches=setup.bn_batches,
                                      meta=dict(width=width, pair=i, perm=k, matching="random")))
    return curves


@cached_study
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


def verdicts(result: dict, setup: Setup, c3_tol_pp: float = 1.0) -> list:
    """C3 (claims.c3): random = none at the largest width; WM lowers the barrier, by less with width."""
    ws = result["widths"]
    none = pair_means(result, "none", "acc_half")[-1]
    rnd_all = pair_means(result, "random", "acc_half")
    gain = [np.asarray(g, dtype=float) for g in wm_gain(result)]
    j = claims.c3(ws, none, rnd_all[-1], gain, tol_pp=c3_tol_pp)
    measured = {"widths": ws, "acc_half_none_pct": [100 * a for a in means(result, "none", "acc_half")],
                "acc_half_random_pct": [100 * float(np.mean(r)) for r in rnd_all],
                "diff_pp_largest_width": 100 * float(np.mean(rnd_all[-1]) - np.mean(none)),
                "cal_barrier_random_minus_wm": [float(np.mean(g)) for g in gain]}
    return [report.record_verdict("C3", "03", setup.profile, j.checks, measured,
                                  setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                  dataset=setup.dataset)]
