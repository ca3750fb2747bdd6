"""Chapter 8 (paper App C, Fig 11): commutativity (Def C.1, LLFC) without and with weight matching.

Per width and pair, for every layer l >= 2 (Def C.1):
    r_l = ||(W_a - W_b)(H_a - H_b)||_F / ||W_a H_a - W_b H_b||_F
over the evaluation batch H (biases left out), once for (a, b) as trained and once for (a, pi(b))
with pi the weight-matching permutation. r_l = 0 is exact commutativity; when the cross terms
W_a H_b and W_b H_a vanish (reciprocal orthogonality) and W_a H_a, W_b H_b are unrelated, r_l ~ 1.
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, width_label
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.stats import pm
from lmc_lib.lmc import claims, probes
from lmc_lib.matching import perm

CHAPTER = "08"
LARGE = 0.5      # "commutativity fails": no-WM residual above this at every hidden layer (widest):
#                  at least half the residual of two unrelated nets (r ~ 1, module docstring)
HOLDS = 0.2      # "commutativity holds with WM": WM residual (hidden-layer mean, widest) below this:
#                  at most a fifth of the compared difference is left (book convention)
SMALLER = 0.8    # "clearly smaller with WM": WM residual at most this fraction of the no-WM one


def _pair(a, b, x, seed: int) -> dict:
    """Def C.1 residual per layer l >= 2, without and with the WM permutation of b."""
    spec = perm.spec_for(b)
    p, info = perm.weight_matching(spec, a, b, seed=seed)
    b_wm = perm.apply_permutation(spec, b, p)
    return dict(none=probes.commutativity_residual(a, b, x).tolist(),
                wm=probes.commutativity_residual(a, b_wm, x).tolist(),
                wm_distance=[info["distance_before"], info["distance_after"]])


@cached_study
def run(setup: Setup) -> dict:
    """Fig 11: {matching: {str(width): [per pair: residual per layer l = 2..L]}}."""
    x, _ = setup.eval_inputs()
    out = {"none": {}, "wm": {}, "wm_distance": {}}
    layers = None
    for w in setup.widths:
        pairs = setup.pairs(w)
        rows = [_pair(a, b, x, seed=i) for i, (a, b) in enumerate(pairs)]
        layers = layers or probes.layer_ids(pairs[0][0], "from2").tolist()
        for key in out:
            out[key][str(w)] = [r[key] for r in rows]
    return dict(widths=list(setup.widths), layers=layers, n_pairs=setup.n_pairs, n_eval=len(x),
                large=LARGE, smaller=SMALLER, profile=setup.profile, arch=setup.arch,
                dataset=setup.dataset, **out)


def layer_means(result: dict, matching: str) -> list[float]:
    """Per width: the residual averaged over layers l >= 2 and pairs."""
    return [float(np.mean(result[matching][str(w)])) for w in result["widths"]]


def verdicts(result: dict, setup: Setup) -> list[dict]:
    """C9 (claims.c9, hidden layers l >= 2; the logit layer is shown, not judged): without WM
    r_l > LARGE at the largest width; WM makes it clearly smaller, below HOLDS."""
    ws, layers = result["widths"], result["layers"]
    none, wm = ([result[m][str(w)] for w in ws] for m in ("none", "wm"))
    j = claims.c9(ws, layers, none, wm, fails=LARGE, holds=HOLDS, smaller=SMALLER)
    hidden = lambda v: [float(np.mean(np.asarray(p)[:, :-1])) for p in v]  # noqa: E731
    measured = {"widths": ws, "no-WM residual, hidden layers, per width": hidden(none),
                "WM residual, hidden layers, per width": hidden(wm),
                "no-WM residual per layer, largest width": np.mean(none[-1], axis=0).tolist(),
                "WM residual per layer, largest width": np.mean(wm[-1], axis=0).tolist()}
    return [report.record_verdict("C9", CHAPTER, setup.profile, j.checks, measured,
                                  setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                  dataset=setup.dataset)]


def residual_tables(result: dict) -> str:
    """Fig 11 as tables: r_l averaged over hidden layers 2..L-1 per width (the C9 checks' layers),
    and per layer (logits included, marked) at the largest width; mean ± std over pairs."""
    hidden = lambda rows: np.asarray(rows, float)[:, :-1].mean(1)  # noqa: E731
    by_width = "\n".join(f"| {width_label(w)} | {pm(hidden(result['none'][str(w)]))} | "
                         f"{pm(hidden(result['wm'][str(w)]))} |" for w in result["widths"])
    top, layers = str(result["widths"][-1]), result["layers"]
    by_layer = "\n".join(
        f"| {l}{' (logits, in no check)' if i == len(layers) - 1 else ''} | "
        f"{pm(np.asarray(result['none'][top])[:, i])} | {pm(np.asarray(result['wm'][top])[:, i])} |"
        for i, l in enumerate(layers))
    return ("Residual $r_l$ averaged over the hidden layers $2 \\le l \\le L-1$, mean ± std over "
            f"pairs:\n\n| width | no permutation | weight matching |\n|---|---|---|\n{by_width}\n\n"
            f"Per layer at the largest width ($w = {width_label(result['widths'][-1])}$):\n\n"
            f"| layer | no permutation | weight matching |\n|---|---|---|\n{by_layer}")
