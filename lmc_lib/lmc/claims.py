"""One claim, one check: the verdict logic of the paper's claims C1-C12, used by every chapter.

A check answers True (holds), False (does not) or None (the data cannot tell: too few widths or
pairs). Trends: a one-sided permutation test of Spearman's rank correlation over all (x, pair)
points at level ALPHA (exact for up to 8 points), so a rising mean inside the spread over pairs is
not a rise; when even a perfect ordering of the points could not reach ALPHA the answer is None.
Levels (thresholds, chance, the Gaussian constant): the mean over pairs must clear the level by
more than the spread (sample std over pairs, the figures' error bar); fewer than MIN_PAIRS: None.
Inputs are per width (or weight decay, layer), per pair: values[i][pair] or values[i][pair][layer].
"""
from __future__ import annotations

from itertools import permutations
from math import factorial, log
from typing import NamedTuple

import numpy as np
from scipy.stats import rankdata

from lmc_lib.core.config import width_label

ALPHA = 0.05       # significance level of every trend test
MIN_PAIRS = 2      # pairs a level comparison needs (a spread needs two values)
N_PERM = 20000     # Monte Carlo permutations above 8 points (fixed seed: deterministic)


class Judgement(NamedTuple):
    """A claim's named checks (True / False / None), the names that carry it, and its verdict."""
    checks: dict
    core: tuple
    verdict: str


def _points(xs, values):
    """Flatten values[i][pair] to (x, y) arrays over all points, NaNs dropped."""
    px, py = [], []
    for x, vs in zip(xs, values):
        for v in np.atleast_1d(np.asarray(vs, dtype=float)):
            if np.isfinite(v):
                px.append(float(x))
                py.append(float(v))
    return np.asarray(px), np.asarray(py)


def trend_test(xs, values) -> tuple[float, float, float]:
    """(p_up, p_down, p_min): one-sided permutation p-values of Spearman's rho, and the smallest
    p-value the design (points per x) could reach at all."""
    x, y = _points(xs, values)
    _, counts = np.unique(x, return_counts=True)
    if len(counts) < 2:
        return 1.0, 1.0, 1.0
    p_min = float(np.prod([factorial(k) for k in counts]) / factorial(len(x)))
    rx = rankdata(x) - (len(x) + 1) / 2
    ry = rankdata(y)
    if len(x) <= 8:
        idx, n_extra = np.array(list(permutations(range(len(x))))), 0
    else:
        idx, n_extra = np.argsort(np.random.default_rng(0).random((N_PERM, len(x))), axis=1), 1
    stats, obs = ry[idx] @ rx, ry @ rx
    up = (np.sum(stats >= obs - 1e-9) + n_extra) / (len(stats) + n_extra)
    down = (np.sum(stats <= obs + 1e-9) + n_extra) / (len(stats) + n_extra)
    return float(up), float(down), p_min


def trend(xs, values, alpha: float = ALPHA):
    """+1 rise, -1 fall, 0 neither (rank test over all (x, pair) points), None: cannot tell."""
    up, down, p_min = trend_test(xs, values)
    if p_min > alpha:
        return None
    return 1 if up <= alpha else -1 if down <= alpha else 0


def rises(xs, values, alpha: float = ALPHA):
    """True: values rise with xs beyond the spread (rank test); None: the design cannot tell."""
    up, _, p_min = trend_test(xs, values)
    return None if p_min > alpha else bool(up <= alpha)


def falls(xs, values, alpha: float = ALPHA):
    """True: values fall with xs beyond the spread (see `rises`)."""
    _, down, p_min = trend_test(xs, values)
    return None if p_min > alpha else bool(down <= alpha)


def no_trend(xs, values, alpha: float = ALPHA):
    """True: neither a rise nor a fall at level alpha (two-sided); None: the design cannot tell."""
    up, down, p_min = trend_test(xs, values)
    return None if 2 * p_min > alpha else bool(min(up, down) > alpha / 2)


def _differences(values, level, min_pairs: int):
    """The finite values - level (level may be per pair), or None when fewer than min_pairs."""
    d = np.asarray(values, dtype=float) - np.asarray(level, dtype=float)
    d = d[np.isfinite(d)]
    return d if len(d) >= min_pairs else None


def above(values, level=0.0, min_pairs: int = MIN_PAIRS):
    """True: mean(values - level) exceeds its spread (std over pairs); level may be per pair."""
    d = _differences(values, level, min_pairs)
    return None if d is None else bool(d.mean() > d.std(ddof=1))


def below(values, level=0.0, min_pairs: int = MIN_PAIRS):
    """True: the values are below level by more than their spread (see `above`)."""
    return above(-np.asarray(values, dtype=float), -np.asarray(level, dtype=float), min_pairs)


def within(values, target, tol: float, min_pairs: int = MIN_PAIRS):
    """True: |mean(values - target)| plus the spread stays within tol (an equivalence check)."""
    d = _differences(values, target, min_pairs)
    return None if d is None else bool(abs(d.mean()) + d.std(ddof=1) <= tol)


def all_of(answers):
    """False if any answer is False, else None if any is None (or none given), else True."""
    answers = list(answers)
    if any(a is False for a in answers):
        return False
    return None if not answers or any(a is None for a in answers) else True


def judge(checks: dict, core=None) -> str:
    """Verdict: all checks True -> reproduced; core checks undecided (None) with none False ->
    inconclusive; no core check True -> not reproduced; otherwise partly."""
    core_vals = [checks[k] for k in (core or checks)]
    if checks and all(v is True for v in checks.values()):
        return "reproduced"
    if False not in core_vals and None in core_vals:
        return "inconclusive"
    if True not in core_vals:
        return "not reproduced" if False in core_vals else "inconclusive"
    return "partly"


def judgement(checks: dict, core=None) -> Judgement:
    """Checks, their core and the verdict in one."""
    core = tuple(core or checks)
    return Judgement(checks, core, judge(checks, core))


def combine(parts: dict) -> Judgement:
    """One Judgement from several settings' ({name: Judgement}): names prefixed by the setting."""
    checks, core = {}, []
    for name, j in parts.items():
        checks.update({f"{name}: {k}": v for k, v in j.checks.items()})
        core += [f"{name}: {k}" for k in j.core]
    return judgement(checks, core)


def _col(values, i: int) -> list:
    """values[w][pair][layer] -> values[w][pair] of layer index i."""
    return [[np.asarray(p, dtype=float)[i] for p in vs] for vs in values]


def _last(values, i=None) -> np.ndarray:
    """The per-pair values at the last width (of layer index i)."""
    last = np.asarray(values[-1], dtype=float)
    return last if i is None else last[:, i]


def _label(w) -> str:
    return width_label(w)


def c1(widths, acc_half, acc_end, gap_pp: float = 2.0) -> Judgement:
    """C1: accuracy at lam = 1/2 (fractions) rises with width; endpoint gap < gap_pp at the widest."""
    gap = 100 * (_last(acc_end) - _last(acc_half))
    rise = "accuracy at λ = 1/2 rises with width"
    return judgement({rise: rises(widths, acc_half),
                      f"endpoint gap < {gap_pp} pp at w = {_label(widths[-1])}": below(gap, gap_pp)},
                     core=[rise])


def c2(widths, cal, raw, cal_max: float = 0.05) -> Judgement:
    """C2: calibrated barrier falls with width, ends below the raw one and below cal_max."""
    last, fall = _label(widths[-1]), "calibrated barrier falls with width"
    return judgement({fall: falls(widths, cal),
                      f"calibrated < raw barrier at w = {last}": above(_last(raw) - _last(cal)),
                      f"calibrated barrier < {cal_max} at w = {last}": below(_last(cal), cal_max)},
                     core=[fall])


def c3(widths, acc_none_last, acc_random_last, wm_gain, tol_pp: float = 1.0) -> Judgement:
    """C3: random permutations change acc(1/2) by < tol_pp at the widest; WM gain > 0, shrinking."""
    diff = 100 * (np.asarray(acc_random_last, float) - np.asarray(acc_none_last, float))
    return judgement({
        f"|accuracy at λ = 1/2, random − none| + spread ≤ {tol_pp} pp at w = {_label(widths[-1])}":
            within(diff, 0.0, tol_pp),
        "WM lowers the calibrated barrier at every width": all_of(above(g) for g in wm_gain),
        "WM's improvement shrinks with width": falls(widths, wm_gain)})


def c4(widths, layers, cos, threshold: float = 0.95) -> Judgement:
    """C4: LEWC cosine rises with width at every layer; logit cosine > threshold at the widest."""
    trends = {f"rises with width at layer {l}": rises(widths, _col(cos, i))
              for i, l in enumerate(layers)}
    return judgement({**trends, f"logit cosine > {threshold} at the largest width":
                      above(_last(cos, -1), threshold)}, core=list(trends))


def c5(widths, layers, wa, limit: float) -> Judgement:
    """C5: weak-additivity cosine rises with width at every layer, above the Gaussian limit."""
    trends = {f"rises with width at layer {l}": rises(widths, _col(wa, i))
              for i, l in enumerate(layers)}
    levels = {f"above {limit:.4f} at layer {l} (largest width)": above(_last(wa, i), limit)
              for i, l in enumerate(layers)}
    return judgement({**trends, **levels}, core=list(trends))


def c6(widths, small, overlap, overlap_wm, chance, small_share: float = 0.5,
       wm_overlap: float = 0.7) -> Judgement:
    """C6 (values: layer means per pair): tiny units; no-WM overlap falls beyond chance; WM high."""
    excess = [np.asarray(o, float) - np.asarray(c, float) for o, c in zip(overlap, chance)]
    return judgement({
        f"share of tiny units > {small_share} at the largest width": above(_last(small), small_share),
        "no-WM overlap minus its chance level falls with width": falls(widths, excess),
        f"overlap with WM > {wm_overlap} at the largest width": above(_last(overlap_wm), wm_overlap),
        "overlap with WM above its chance level at the largest width":
            above(_last(overlap_wm) - _last(chance)),
        "overlap with WM above without WM at the largest width":
            above(_last(overlap_wm) - _last(overlap))})


def c7(widths, layers, ro, cos, threshold: float = 0.95) -> Judgement:
    """C7: RO ratio falls and cos(W_a h_merged, W_a h_a) rises with width at every layer l >= 2;
    the cosine > threshold at every layer at the largest width."""
    trends = {f"RO ratio falls with width at layer {l}": falls(widths, _col(ro, i))
              for i, l in enumerate(layers)}
    trends.update({f"cosine rises with width at layer {l}": rises(widths, _col(cos, i))
                   for i, l in enumerate(layers)})
    level = all_of(above(_last(cos, i), threshold) for i in range(len(layers)))
    return judgement({**trends, f"cosine > {threshold} at every layer (largest width)": level},
                     core=list(trends))


def c8(wds, acc_barrier, cal_barrier, lewc, wa, ro, eff_rank) -> Judgement:
    """C8 (per weight decay, per pair): as weight decay grows barriers, RO ratio and effective
    rank fall, LEWC and weak-additivity cosines rise."""
    return judgement({"accuracy barrier falls as weight decay grows": falls(wds, acc_barrier),
                      "calibrated-loss barrier falls as weight decay grows": falls(wds, cal_barrier),
                      "LEWC cosine rises with weight decay": rises(wds, lewc),
                      "weak-additivity cosine rises with weight decay": rises(wds, wa),
                      "RO ratio falls as weight decay grows": falls(wds, ro),
                      "effective rank falls as weight decay grows": falls(wds, eff_rank)})


def c9(widths, layers, none, wm, large: float = 0.5, smaller: float = 0.8) -> Judgement:
    """C9 on hidden layers l >= 2 only (the logit layer's residual has a tiny denominator):
    no-WM residual >= large; WM residual <= smaller x no-WM at every width and < large."""
    hidden = list(range(len(layers) - 1)) or [0]
    names = ", ".join(str(layers[i]) for i in hidden)
    n_mean, w_mean = ([np.asarray(p, float)[:, hidden].mean(1) for p in v] for v in (none, wm))
    return judgement({
        f"no-WM residual > {large} at every layer {names} (largest width)":
            all_of(above(_last(none, i), large) for i in hidden),
        f"WM residual < {smaller} × no-WM at every width (layers {names})":
            all_of(below(w - smaller * n) for w, n in zip(w_mean, n_mean)),
        f"WM residual < {large} at the largest width (layers {names})": below(w_mean[-1], large)})


def c10(widths, beta_half, beta_end) -> Judgement:
    """C10: fitted beta at lam = 1/2 rises with width and exceeds the endpoints' beta."""
    rise = "β at λ = 1/2 rises with width"
    return judgement({rise: rises(widths, beta_half),
                      f"β at λ = 1/2 > endpoints' β at w = {_label(widths[-1])}":
                          above(_last(beta_half) - _last(beta_end))}, core=[rise])


def c11(layers=None, ratio=None, prediction=None, bn_factors=None, decay_factor: float = 2.0,
        threshold: float = 2 ** -0.5) -> Judgement:
    """C11: plain MLP (ratio[pair][layer] at the widest): norms fall with depth, within
    decay_factor of 2^-(l-1) and without drift; BN nets ({name: factor per pair}) do not decay."""
    checks = {}
    if ratio is not None:
        r, pred = np.asarray(ratio, float), np.asarray(prediction, float)
        rel = np.log(r / pred)
        checks["merged norm ratio falls with depth"] = falls(layers, r.T)
        checks[f"within a factor {decay_factor} of $2^{{-(l-1)}}$ at every layer"] = all_of(
            within(rel[:, i], 0.0, log(decay_factor)) for i in range(len(layers)))
        checks["measured / predicted does not drift with depth"] = no_trend(layers, rel.T)
    for name, f in (bn_factors or {}).items():
        checks[f"{name}: norms do not decay (factor > {threshold:.2f} per layer)"] = above(f, threshold)
    return judgement(checks)


def c12(widths, rand_acc_t1, gap_widest, gap: float = 0.1) -> Judgement:
    """C12: random-direction accuracy at t = 1 rises with width; cos(a, a + d u) - cos(a, b)
    exceeds gap at every hidden layer at the largest width (gap_widest[pair][layer])."""
    g = np.asarray(gap_widest, float)
    return judgement({"random-direction accuracy at t = 1 rises with width": rises(widths, rand_acc_t1),
                      f"cos(a, a + d u) - cos(a, b) > {gap} at every hidden layer, largest width":
                          all_of(above(g[:, i], gap) for i in range(g.shape[1]))})
