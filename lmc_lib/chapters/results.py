"""Readers of study results (dicts, live or recorded): the per-width, per-pair arrays that plots and
checks draw from. Plain data in, plain data out: no models, no training, no study code.

Results are keyed by `wkey(width)`; every list over pairs keeps one value per pair.
"""
from __future__ import annotations

import numpy as np

COLUMNS = ("acc", "loss", "cal_loss", "beta", "inv_beta")  # the columns of a curve along lam
MATCHINGS = {"none": "no permutation", "random": "random permutations", "wm": "weight matching"}
LEWC_FACTOR_MLP = 2 ** 3  # Def 4.1: 2^(L-1) for the MLP's L = 4 weight layers


def wkey(width: float) -> str:
    """The key of a width in result dicts (exact float repr, JSON-safe)."""
    return repr(float(width))


def half_index(result: dict) -> int:
    """Index of lam = 1/2 on the result's grid."""
    return int(np.argmin(np.abs(np.asarray(result["lams"]) - 0.5)))


def per_pair(result: dict, matching: str, key: str) -> list:
    """[width][pair] values of `key`: a barrier name, or a column name ending in _half / _end.

    `acc_half` is the column at lam = 1/2; `acc_end` the mean of the two endpoints' values.
    """
    i = half_index(result)
    rows = []
    for w in result["widths"]:
        s = result[matching][wkey(w)]
        if key.endswith("_half") and key[:-5] in COLUMNS:
            rows.append([c[i] for c in s[key[:-5]]])
        elif key.endswith("_end"):
            rows.append([(c[0] + c[-1]) / 2 for c in s[key[:-4]]])
        else:
            rows.append(list(s[key]))
    return rows


def means(result: dict, matching: str, key: str) -> list:
    """Mean over pairs of `key` at each width (see per_pair)."""
    return [float(np.mean(v)) for v in per_pair(result, matching, key)]


def pair_means(result: dict, matching: str, key: str) -> list:
    """[width][pair] of `key` (see per_pair); random draws are averaged within each pair."""
    rows = per_pair(result, matching, key)
    if matching != "random":
        return rows
    k = result["n_perms"]
    return [np.asarray(r, dtype=float).reshape(-1, k).mean(axis=1).tolist() for r in rows]


def wm_gain(result: dict, which: str = "cal_barrier_max") -> list:
    """Fig 18 (b): [width][pair] barrier after random permutations minus barrier after WM."""
    rnd, wm = pair_means(result, "random", which), pair_means(result, "wm", which)
    return [(np.asarray(r) - np.asarray(m)).tolist() for r, m in zip(rnd, wm)]


def calib_stat(calib: dict, model: str, key: str) -> np.ndarray:
    """[pairs, widths] array of calib stat `key` of `model` ("ends": mean of a and b)."""
    if model == "ends":
        return (calib_stat(calib, "a", key) + calib_stat(calib, "b", key)) / 2
    return np.array([calib["by_width"][str(w)][model][key] for w in calib["widths"]], dtype=float).T


def calib_barriers(calib: dict) -> dict:
    """[pairs, widths] loss barriers at lam = 1/2: raw (beta = 1), fitted beta, and predicted beta
    2^(L-1) for theta(1/2) against the endpoints' raw losses (no calibration data at all)."""
    return {"raw": calib_stat(calib, "merged", "loss") - calib_stat(calib, "ends", "loss"),
            "fitted": calib_stat(calib, "merged", "cal_loss") - calib_stat(calib, "ends", "cal_loss"),
            "predicted": calib_stat(calib, "merged", "pred_cal_loss") - calib_stat(calib, "ends", "loss")}


def many_means(result_many: dict, model: str, key: str) -> dict:
    """{N: [mean over subsets of `key` per width]} for merged or ensemble models."""
    bw, ws = result_many["by_width"], result_many["widths"]
    ns = list(bw[str(ws[0])])
    return {n: [float(np.mean([s[model][key] for s in bw[str(w)][n]])) for w in ws] for n in ns}
