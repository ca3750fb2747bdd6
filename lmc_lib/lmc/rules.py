"""The decision rules of every claim check, and the rows that let a reader re-derive each answer.

A check answers True (holds), False (does not) or None (the data cannot tell). Trends: a one-sided
permutation test of Spearman's rank correlation over all (x, pair) points at level ALPHA (exact for
up to 8 points); when even a perfect ordering could not reach ALPHA the answer is None. Levels: the
mean over pairs must clear the level by more than the spread (sample std over pairs, the figures'
error bar); with fewer than MIN_PAIRS values a mean that already fails decides False, else None.
A row (`trend_row`, `level_row`) is a JSON-able dict: check, quantity, values [[at, mean, std, n]],
rule (the comparison as the Result table prints it), p (trend tests), answer.
"""
from __future__ import annotations

from itertools import permutations
from math import factorial

import numpy as np
from scipy.stats import rankdata

ALPHA = 0.05       # significance level of every trend test
MIN_PAIRS = 2      # pairs a level comparison needs (a spread needs two values)
N_PERM = 20000     # Monte Carlo permutations above 8 points (fixed seed: deterministic)


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
    return trend_row("", "none", xs, values, "", [""] * len(values), alpha=alpha)[0]


def _differences(values, level):
    """The finite values - level (level may be per pair)."""
    d = np.asarray(values, dtype=float) - np.asarray(level, dtype=float)
    return d[np.isfinite(d)]


def above(values, level=0.0, min_pairs: int = MIN_PAIRS):
    """True: mean(values - level) exceeds its spread (std over pairs); level may be per pair.
    Too few pairs: False when the mean alone is not above the level, else None."""
    d = _differences(values, level)
    if len(d) < min_pairs:
        return None if len(d) and d.mean() > 0 else (False if len(d) else None)
    return bool(d.mean() > d.std(ddof=1))


def below(values, level=0.0, min_pairs: int = MIN_PAIRS):
    """True: the values are below level by more than their spread (see `above`)."""
    return above(-np.asarray(values, dtype=float), -np.asarray(level, dtype=float), min_pairs)


def within(values, target, tol: float, min_pairs: int = MIN_PAIRS):
    """True: |mean(values - target)| plus the spread stays within tol (an equivalence check).
    Too few pairs: False when the mean alone misses by more than tol, else None."""
    d = _differences(values, target)
    if len(d) < min_pairs:
        return (False if abs(d.mean()) > tol else None) if len(d) else None
    return bool(abs(d.mean()) + d.std(ddof=1) <= tol)


def all_of(answers):
    """False if any answer is False, else None if any is None (or none given), else True."""
    answers = list(answers)
    if any(a is False for a in answers):
        return False
    return None if not answers or any(a is None for a in answers) else True


def judge(checks: dict, core=None) -> str:
    """Verdict: a core check False -> not reproduced (sanity checks cannot rescue a failed
    premise); a core check undecided -> inconclusive; all checks True -> reproduced; core checks
    True but another check False or undecided -> partly. No checks: inconclusive."""
    core_vals = [checks[k] for k in (core or checks)]
    if not checks:
        return "inconclusive"
    if False in core_vals:
        return "not reproduced"
    if None in core_vals:
        return "inconclusive"
    return "reproduced" if all(v is True for v in checks.values()) else "partly"


def summary(values, scale: float = 1.0) -> tuple[float, float, int]:
    """(mean, sample std, n) of the finite values times scale (std NaN for one value)."""
    v = np.asarray(values, dtype=float).ravel()
    v = scale * v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def trend_row(check: str, kind: str, xs, values, quantity: str, labels, scale: float = 1.0,
              unit: str = "", alpha: float = ALPHA) -> tuple:
    """(answer, row) of a rank-test check: kind 'rises' or 'falls' (one-sided), or 'none' (no
    trend: two-sided p above alpha; `no_trend` is its answer) (values[i][pair] over xs)."""
    if kind not in ("rises", "falls", "none"):
        raise ValueError(f"trend_row kind must be rises, falls or none; got {kind!r}")
    up, down, p_min = trend_test(xs, values)
    if kind == "none":
        p, p_min = min(1.0, 2 * min(up, down)), 2 * p_min
        answer = None if p_min > alpha else bool(p > alpha)
        rule = f"two-sided rank test: no trend unless p ≤ {alpha}"
    else:
        p = up if kind == "rises" else down
        answer = None if p_min > alpha else bool(p <= alpha)
        rule = f"one-sided rank test of a {'rise' if kind == 'rises' else 'fall'}: p ≤ {alpha}"
    if p_min > alpha:
        rule += f" (the smallest p these points allow is {p_min:.3g}: cannot decide)"
    vals = [[str(lab), *summary(v, scale)] for lab, v in zip(labels, values)]
    return answer, dict(check=check, quantity=quantity, unit=unit, values=vals, rule=rule,
                        p=float(p), answer=answer)


_RULES = {"above": "mean − std > {}", "below": "mean + std < {}", "within": "|mean| + std ≤ {}"}


def level_row(check: str, kind: str, values, level: float, quantity: str, labels=None,
              scale: float = 1.0, unit: str = "") -> tuple:
    """(answer, row) of a level check: kind 'above', 'below' or 'within' (|mean| + std <= level);
    values is one list over pairs, or one per label (then the check must hold for every label)."""
    groups = [values] if labels is None else list(values)
    fn = {"above": above, "below": below, "within": lambda v, lv: within(v, 0.0, lv)}[kind]
    answer = all_of(fn(np.asarray(g, dtype=float), level) for g in groups)
    shown = f"{scale * level:.4g}" + (f" {unit}" if unit else "")
    rule = _RULES[kind].format(shown) + ("" if labels is None else ", at every one")
    vals = [[str(lab), *summary(g, scale)] for lab, g in zip(labels or [""], groups)]
    return answer, dict(check=check, quantity=quantity, unit=unit, values=vals, rule=rule,
                        p=None, answer=answer)


def plain_row(check: str, answer) -> dict:
    """A row for a check recorded without its numbers (e.g. a user's own hypothesis)."""
    return dict(check=check, quantity="", unit="", values=[], rule="", p=None, answer=answer)
