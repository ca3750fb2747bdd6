"""Chapter 6: reciprocal orthogonality (Def 5.2, Fig 7) and the merged model's projection onto
each endpoint's weights (Fig 8), layers l = 2..L, merged at lam = 1/2 without permutation."""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.studies.ch04 import merged_model
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.lmc import claims, probes


def _pair(setup, a, b, x, seed: int) -> dict:
    """RO ratio in both directions and cos(W h_merged, W h_endpoint) for both endpoints."""
    m = merged_model(setup, a, b, 0.5, seed=seed)
    return {k: v.tolist() for k, v in probes.orthogonality_probes(a, b, m, x).items()}


@cached_study
def run(setup) -> dict:
    """Fig 7 and Fig 8 over the setup's widths."""
    x, _ = setup.eval_inputs()
    per = {}
    for w in setup.widths:
        with probes.precision(setup.probe_precision):
            pairs = [_pair(setup, a, b, x, setup.seed_of(i)) for i, (a, b) in enumerate(setup.pairs(w))]
        per[str(w)] = {k: [p[k] for p in pairs] for k in pairs[0]}
    L = len(per[str(setup.widths[0])]["ro_ab"][0]) + 1
    return dict(settings=dict(title=setup.title(), profile=setup.profile),
                widths=list(setup.widths), layers=list(range(2, L + 1)), n_eval=len(x),
                n_pairs=setup.n_pairs, per_width=per)


def means(result: dict, key: str) -> np.ndarray:
    """[widths, layers] mean over pairs of per_width[w][key]."""
    return np.array([np.mean(result["per_width"][str(w)][key], axis=0) for w in result["widths"]])


def pair_average(result: dict, k1: str, k2: str) -> list:
    """[widths][pairs][layers] of (per_width[w][k1] + per_width[w][k2]) / 2 (both directions)."""
    return [(np.asarray(result["per_width"][str(w)][k1], dtype=float)
             + np.asarray(result["per_width"][str(w)][k2], dtype=float)) / 2 for w in result["widths"]]


def verdicts(result: dict, setup, cos_threshold: float = 0.95) -> list[dict]:
    """C7 (claims.c7): RO ratio (both directions) falls and cos rises with width at every layer
    l >= 2; cos(W_a h_merged, W_a h_a) > cos_threshold at every layer at the largest width."""
    widths = result["widths"]
    ro = (means(result, "ro_ab") + means(result, "ro_ba")) / 2
    cos = (means(result, "cos_a") + means(result, "cos_b")) / 2
    j = claims.c7(widths, result["layers"], pair_average(result, "ro_ab", "ro_ba"),
                  pair_average(result, "cos_a", "cos_b"), threshold=cos_threshold)
    measured = {"mean RO ratio per width": ro.mean(1).tolist(),
                "mean cosine per width": cos.mean(1).tolist(),
                "RO ratio per layer (largest width)": ro[-1].tolist(),
                "cosine per layer (largest width)": cos[-1].tolist()}
    return [report.record_verdict("C7", "06", setup.profile, j.checks, measured,
                                  setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                  dataset=setup.dataset)]
