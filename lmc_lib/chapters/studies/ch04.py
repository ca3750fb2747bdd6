"""Chapter 4: layer-wise linear feature connectivity (LEWC, Def 4.1) without permutations.

Fig 3: per layer, the cosine between the merged model's feature f_l(theta(1/2)) and the LEWC
target (f_a + f_b) / 2 (up to the scale 2^-(l-1), which the cosine ignores), one line per width.
Fig 20 (F.6): the merged model's activation norm per layer relative to the endpoints', against
the LEWC prediction. Extension: the lam^l law at other lam, via the cosine and the norm ratio.
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.models import has_batchnorm
from lmc_lib.lmc import claims, merge, probes

LAMS = (0.25, 0.5, 0.75)  # lam values of the general-lam check (our extension)


def merged_model(setup, a, b, lam: float = 0.5, seed: int = 0):
    """theta(lam) without permutation; BN nets get their statistics reset on training data."""
    data = setup.data() if has_batchnorm(a) else None  # skip loading the data for nets without BN
    return merge.merged_model(a, b, lam, bn_data=data, bn_batches=setup.bn_batches, seed=seed)


def _lists(arrays) -> list:
    """[pairs][layers] floats from a list of numpy arrays."""
    return [np.asarray(a, dtype=float).tolist() for a in arrays]


def _width(setup, w: float, x, lams) -> dict:
    """LEWC cosine and norm decay at lam = 1/2, and the general-lam check, for each pair at w."""
    out = {k: [] for k in ("cos", "norm_merged", "norm_lewc")}
    gen = {str(lam): {"cos": [], "scale": []} for lam in lams}
    for i, (a, b) in enumerate(setup.pairs(w)):
        merged = {lam: merged_model(setup, a, b, lam, seed=setup.seed_of(i)) for lam in sorted({0.5, *lams})}
        got = probes.lewc_probes(a, b, merged, x, scale=bool(lams), norms_at=0.5)  # one pass over x
        for k in out:
            out[k].append(got[0.5][k])
        for lam in lams:
            for k in ("cos", "scale"):
                gen[str(lam)][k].append(got[lam][k])
    res = {k: _lists(v) for k, v in out.items()}
    if lams:
        res["general"] = {k: {q: _lists(v) for q, v in d.items()} for k, d in gen.items()}
    return res


@cached_study
def run(setup, lams=LAMS) -> dict:
    """Fig 3, Fig 20 and the general-lam check over the setup's widths (lam check: ends only)."""
    x, _ = setup.eval_inputs()
    ends = {setup.widths[0], setup.widths[-1]}
    with probes.precision(setup.probe_precision):
        per = {str(w): _width(setup, w, x, lams if w in ends else ()) for w in setup.widths}
    a = setup.pairs(setup.widths[0], progress=False)[0][0]
    L = len(a.weight_layers())
    return dict(settings=dict(title=setup.title(), profile=setup.profile),
                widths=list(setup.widths), layers=list(range(1, L + 1)), lams=list(lams),
                general_widths=sorted(ends), n_eval=len(x), n_pairs=setup.n_pairs,
                arch=setup.arch, variant=setup.variant, batchnorm=has_batchnorm(a),
                prediction=[2.0 ** -(l - 1) for l in range(1, L + 1)], per_width=per)


def layer_means(result: dict, key: str) -> np.ndarray:
    """[widths, layers] mean over pairs of per_width[w][key]."""
    return np.array([np.mean(result["per_width"][str(w)][key], axis=0) for w in result["widths"]])


def per_pair(result: dict, key: str) -> list:
    """[widths][pairs][layers] of per_width[w][key]."""
    return [result["per_width"][str(w)][key] for w in result["widths"]]


def _c4(result, setup, cos_threshold):
    """C4 (claims.c4): LEWC cosine rises with width at each layer; logits near 1 at the widest."""
    widths, cos = result["widths"], layer_means(result, "cos")
    j = claims.c4(widths, result["layers"], per_pair(result, "cos"), threshold=cos_threshold)
    measured = {"last-layer cosine per width": cos[:, -1].tolist(),
                "cosine per layer at largest width": cos[-1].tolist()}
    return report.record_verdict("C4", "04", setup.profile, j.checks, measured,
                                 setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                 dataset=setup.dataset)


def _c11(result, setup, decay_factor):
    """C11 (MLP part, claims.c11): merged norms fall with depth as 2^-(l-1), without drift."""
    ratio = per_pair(result, "norm_merged")[-1]
    pred = np.asarray(result["prediction"])
    j = claims.c11(result["layers"], ratio, pred, decay_factor=decay_factor)
    mean = np.mean(ratio, axis=0)
    measured = {"norm ratio per layer (largest width)": mean.tolist(), "2^-(l-1)": pred.tolist(),
                "measured / predicted per layer": (mean / pred).tolist()}
    plain = result["arch"] == "mlp" and result["variant"] == "plain"
    return report.record_verdict("C11", "04", setup.profile, j.checks, measured,
                                 setting=report.setting_of(setup, [result["widths"][-1]]),
                                 verdict=j.verdict if plain else "not run", judgement=j, dataset=setup.dataset)


def verdicts(result: dict, setup, cos_threshold: float = claims.ABOUT_ONE,
             decay_factor: float = claims.HALVING_FACTOR) -> list[dict]:
    """C4 (Fig 3; layer 1 included: C5 starts at layer 2) and the MLP half of C11 (Fig 20, within
    decay_factor of 2^-(l-1): by default half a layer's halving); BN nets' absence of decay is
    chapter 10's."""
    return [_c4(result, setup, cos_threshold), _c11(result, setup, decay_factor)]
