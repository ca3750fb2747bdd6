"""Chapter 5: weak additivity of ReLU (Def 5.1, Thm 5.4, Fig 4) and why it holds in wide nets:
most units have tiny second moments and two models use different units (Fig 5, 6, 21, 22),
plus the effective rank of each weight matrix (Sec 5.4).
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.lmc import claims, probes, probes_flat
from lmc_lib.matching import perm as perm_mod

DIMS = (10, 100, 1000, 10_000, 100_000)   # Thm 5.4 Monte Carlo dimensions
GAUSS_LAMS = (0.5, 0.25, 0.1)             # lam values of the Gaussian check
MC_ELEMENTS = 500_000                     # draws per dimension: about this many numbers (>= 10 draws)
MASS = 0.9                                 # active units: the largest s_i holding 90% of sum s_i^2
BINS = 20                                  # histogram bins of s_i (Fig 5)
TINY_FRACTION = 0.1                        # C6's "tiny" unit: s_i^2 below a tenth of the layer mean


def gaussian(dims=DIMS, lams=GAUSS_LAMS, elements: int = MC_ELEMENTS) -> dict:
    """Thm 5.4: Monte Carlo cosine per d and lam, and the d -> inf limit per lam."""
    mc = {str(lam): [probes.gaussian_weak_additivity(d, n=max(10, elements // d), lam=lam, seed=k)
                     for k, d in enumerate(dims)] for lam in lams}
    return dict(dims=list(dims), lams=list(lams), mc=mc,
                limit={str(lam): probes.gaussian_wa_limit(lam) for lam in lams})


def _histogram(s_layers, bins: int) -> dict:
    """Per layer: counts and edges of a `bins`-bin histogram of s_i (Fig 5/21)."""
    out = {"counts": [], "edges": []}
    for s in s_layers:
        counts, edges = np.histogram(s, bins=bins)
        out["counts"].append(counts.tolist())
        out["edges"].append(edges.tolist())
    return out


def overlap(s_a, s_b, mass: float) -> list:
    """Fig 6/22 per layer: share of a's active units (probes.active_units) also active in b."""
    out = []
    for sa, sb in zip(s_a, s_b):
        ma, mb = probes.active_units(sa, mass), probes.active_units(sb, mass)
        out.append(float((ma & mb).sum() / ma.sum()) if ma.any() else float("nan"))
    return out


def _pair(a, b, x, mass: float, bins: int, seed: int) -> dict:
    """Per pair: WA cosine, small-moment share, overlap; histogram and effective rank (pair 1)."""
    spec = perm_mod.spec_for(b)
    b_wm = perm_mod.apply_permutation(spec, b, perm_mod.weight_matching(spec, a, b, seed=seed)[0])
    s_a, s_b, s_wm = (probes.second_moments(m, x) for m in (a, b, b_wm))
    small = [np.mean([probes.small_moment_fraction(sa, bins), probes.small_moment_fraction(sb, bins)])
             for sa, sb in zip(s_a, s_b)]
    tiny = [np.mean([probes.tiny_share(sa, TINY_FRACTION), probes.tiny_share(sb, TINY_FRACTION)])
            for sa, sb in zip(s_a, s_b)]
    return dict(wa=probes.weak_additivity_cosine(a, b, x).tolist(), small=small, tiny=tiny,
                overlap=overlap(s_a, s_b, mass), overlap_wm=overlap(s_a, s_wm, mass),
                active=[float(probes.active_units(sb, mass).mean()) for sb in s_b],
                rank=probes_flat.effective_ranks(a).tolist() if seed == 0 else None,
                hist=_histogram(s_a, bins) if seed == 0 else None)


@cached_study
def run(setup, dims=DIMS, mass: float = MASS, bins: int = BINS, mc_elements: int = MC_ELEMENTS) -> dict:
    """Thm 5.4 check, and Fig 4, 5, 6, 21, 22 plus effective ranks over the setup's widths."""
    x, _ = setup.eval_inputs()
    per = {}
    for w in setup.widths:
        with probes.precision(setup.probe_precision):
            pairs = [_pair(a, b, x, mass, bins, i) for i, (a, b) in enumerate(setup.pairs(w))]
        per[str(w)] = {k: [p[k] for p in pairs]
                       for k in ("wa", "small", "tiny", "overlap", "overlap_wm", "active")}
        per[str(w)].update(hist=pairs[0]["hist"], rank=[pairs[0]["rank"]])  # model a of pair 1 only
        a = setup.pairs(w, progress=False)[0][0]
        per[str(w)]["dims"] = [[m.weight.shape[0], m.weight[0].numel()] for m in a.weight_layers()]
    n_hidden = len(per[str(setup.widths[0])]["wa"][0])
    return dict(settings=dict(title=setup.title(), profile=setup.profile),
                widths=list(setup.widths), hidden=list(range(1, n_hidden + 1)), mass=mass,
                bins=bins, n_eval=len(x), n_pairs=setup.n_pairs,
                gaussian=gaussian(dims, elements=mc_elements),
                gaussian_limit=probes.GAUSSIAN_WA_LIMIT, per_width=per)


def means(result: dict, key: str) -> np.ndarray:
    """[widths, layers] mean over pairs of per_width[w][key]."""
    return np.array([np.mean(result["per_width"][str(w)][key], axis=0) for w in result["widths"]])


def per_pair(result: dict, key: str, layer_mean: bool = False) -> list:
    """[widths][pairs][layers] of per_width[w][key] ([widths][pairs] with layer_mean); a key a
    result predates (e.g. "tiny") reads as NaN, which a check cannot decide on."""
    vals = [np.asarray(result["per_width"][str(w)].get(key, np.full_like(
        np.asarray(result["per_width"][str(w)]["wa"], dtype=float), np.nan)), dtype=float)
        for w in result["widths"]]
    return [np.nanmean(v, axis=1) if layer_mean else v for v in vals]


def _c5(result, setup):
    """C5 (claims.c5): WA cosine rises with width at hidden layers 2 and up (layer 1 is C4's),
    above the Gaussian 0.9304."""
    widths, wa, lim = result["widths"], means(result, "wa"), result["gaussian_limit"]
    j = claims.c5(widths, result["hidden"], per_pair(result, "wa"), lim)
    measured = {"mean WA cosine per width": wa.mean(1).tolist(),
                "WA cosine per layer at largest width": wa[-1].tolist(),
                "Gaussian d=1e5 (MC)": result["gaussian"]["mc"]["0.5"][-1]}
    return report.record_verdict("C5", "05", setup.profile, j.checks, measured,
                                 setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                 dataset=setup.dataset)


def verdicts(result: dict, setup, small_share: float = 0.5, wm_overlap: float = 0.7) -> list[dict]:
    """C5 (Fig 4) and C6 (Fig 5, 6, claims.c6): small_share (the share of tiny units, s_i^2 below
    TINY_FRACTION of the layer mean, must exceed it) and wm_overlap are chapter parameters; the
    overlap's chance level is the share of b's units that are active."""
    widths = result["widths"]
    tiny, ov, ov_wm, act = (per_pair(result, k, layer_mean=True)
                            for k in ("tiny", "overlap", "overlap_wm", "active"))
    j = claims.c6(widths, tiny, ov, ov_wm, act, tiny_share=small_share, wm_overlap=wm_overlap)
    mean = lambda v: [float(np.mean(x)) for x in v]  # noqa: E731
    measured = {"tiny-unit share per width": mean(tiny), "overlap per width": mean(ov),
                "overlap with WM per width": mean(ov_wm), "chance level per width": mean(act)}
    c6 = report.record_verdict("C6", "05", setup.profile, j.checks, measured,
                               setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                               dataset=setup.dataset)
    return [_c5(result, setup), c6]
