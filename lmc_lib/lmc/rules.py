"""The decision rules of every claim check, and the rows that let a reader re-derive each answer.

A check answers True (holds), False (does not) or None (the data cannot tell). Trends: a one-sided
permutation test of Spearman's rank correlation over all (x, pair) points at level ALPHA (exact for
up to 8 points); when even a perfect ordering could not reach ALPHA the answer is None. Levels, two
statistics (docs/VERDICTS.md says which claim uses which):
- "spread" (a claim about the typical pair): the mean over pairs must clear the level by more than
  the spread (sample std over pairs, the figures' error bar); with fewer than MIN_PAIRS values a
  mean that already fails decides False, else None;
- "mean" (a claim about an average effect): the one-sided (1 - ALPHA) t bound of the mean must
  clear the level (True), or the other bound must miss it (False); equivalence ("within") is two
  one-sided tests (TOST): the (1 - 2 ALPHA) interval inside +-tol is True, wholly outside it False;
  an interval too wide to tell is None ("cannot decide", never "no").
Every level row has a margin (how far its decisive number clears the level) and one standard
error of the mean (std / sqrt(n)); a firm answer that a shift of the mean by one standard error
(the spread kept) would change is "on the threshold" (row["edge"]), which `judge` never counts as
a firm answer either way.
A row (`trend_row`, `level_row`) is a JSON-able dict: check, quantity, values [[at, mean, std, n]],
rule (the comparison as the Result table prints it), p (trend tests), answer, and for levels
margin [margin, standard error] and edge.
"""
from __future__ import annotations

from itertools import permutations
from math import factorial

import numpy as np
from scipy.stats import rankdata
from scipy.stats import t as student_t

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


def t_bounds(values, alpha: float = ALPHA) -> tuple[float, float, float]:
    """(mean, lower, upper): the one-sided (1 - alpha) Student-t bounds of the mean of the finite
    values (NaN bounds below MIN_PAIRS values)."""
    d = _differences(values, 0.0)
    if len(d) < max(MIN_PAIRS, 2):
        return (float(d.mean()) if len(d) else float("nan")), float("nan"), float("nan")
    half = float(student_t.ppf(1 - alpha, len(d) - 1)) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def mean_above(values, level=0.0, alpha: float = ALPHA):
    """True: the mean of (values - level) is above 0 by a one-sided t test at alpha (lower bound
    > 0); False: its upper bound is below 0; None: the interval holds 0 (cannot decide)."""
    _, lo, hi = t_bounds(_differences(values, level), alpha)
    if not np.isfinite(lo):
        return None
    return True if lo > 0 else False if hi < 0 else None


def mean_below(values, level=0.0, alpha: float = ALPHA):
    """True: the mean is below level by a one-sided t test (see `mean_above`)."""
    return mean_above(-np.asarray(values, dtype=float), -np.asarray(level, dtype=float), alpha)


def equivalent(values, target, tol: float, alpha: float = ALPHA):
    """Two one-sided tests (TOST): True when the (1 - 2 alpha) interval of mean(values - target)
    lies inside [-tol, tol]; False when it lies wholly outside; None when it is too wide to tell."""
    _, lo, hi = t_bounds(_differences(values, target), alpha)
    if not np.isfinite(lo):
        return None
    if -tol < lo and hi < tol:
        return True
    return False if lo > tol or hi < -tol else None


def all_of(answers):
    """False if any answer is False, else None if any is None (or none given), else True."""
    answers = list(answers)
    if any(a is False for a in answers):
        return False
    return None if not answers or any(a is None for a in answers) else True


def judge(checks: dict, core=None, edges=(), premises=()) -> str:
    """Verdict: a premise check (the setting where the claim can be tested at all) not firmly
    True -> inconclusive; a core check firmly False -> not reproduced (sanity checks cannot rescue
    a failed premise); a core check undecided or on the threshold (`edges`) -> inconclusive; every
    check firmly True -> reproduced; core firmly True, another check not -> partly. A check on the
    threshold is never a firm answer, either way. No checks: inconclusive."""
    if not checks:
        return "inconclusive"
    edges = set(edges)
    firm = {k: (None if k in edges else v) for k, v in checks.items()}
    if any(firm[k] is not True for k in premises):
        return "inconclusive"
    core_vals = [firm[k] for k in (core or checks)]
    if False in core_vals:
        return "not reproduced"
    if None in core_vals:
        return "inconclusive"
    return "reproduced" if all(v is True for v in firm.values()) else "partly"


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


_RULES = {"spread": {"above": "mean − std > {level}", "below": "mean + std < {level}",
                     "within": "|mean| + std ≤ {level}"},
          "mean": {"above": "one-sided t test: {c} % lower bound of the mean > {level}",
                   "below": "one-sided t test: {c} % upper bound of the mean < {level}",
                   "within": "equivalence (two one-sided t tests): {c2} % interval of the mean "
                             "inside ±{level}"}}
_TESTS = {"spread": {"above": above, "below": below, "within": lambda v, lv: within(v, 0.0, lv)},
          "mean": {"above": mean_above, "below": mean_below,
                   "within": lambda v, lv, alpha=ALPHA: equivalent(v, 0.0, lv, alpha)}}


def _margin(kind: str, stat: str, values, level: float, alpha: float = ALPHA) -> tuple[float, float]:
    """(margin, standard error): how far the decisive number clears the level (> 0: passes),
    and one standard error of the mean (NaN for a single value)."""
    v = _differences(values, 0.0)
    if not len(v):
        return float("nan"), float("nan")
    m, n = float(v.mean()), len(v)
    s = float(v.std(ddof=1)) if n > 1 else 0.0
    se = s / np.sqrt(n) if n > 1 else float("nan")
    if stat == "mean":
        _, lo, hi = t_bounds(v, alpha)
        lo, hi = (m, m) if n < 2 else (lo, hi)
    else:
        lo, hi = m - s, m + s
    margin = {"above": lo - level, "below": level - hi,
              "within": level - max(abs(lo), abs(hi))}[kind]
    return float(margin), float(se)


def _on_edge(test, values, level: float, answer, se: float) -> bool:
    """On the threshold: a firm answer that a shift of the mean by up to one standard error (the
    spread kept) would change; shifts of -se, +se and, for an interval rule, towards 0."""
    v = _differences(values, 0.0)
    if answer is None or not np.isfinite(se) or se <= 0 or not len(v):
        return False
    shifts = (-se, se, float(np.clip(-v.mean(), -se, se)))
    return any(test(v + d, level) is not answer for d in shifts)


def _combined(answers, margins, edges) -> tuple:
    """(answer, margin, standard error, edge) of a check over labels from each label's: the
    margin of the label that decides; on the threshold when a passing check has a label on it,
    or a failing one fails only by labels on it."""
    answer = all_of(answers)
    pick = [i for i, a in enumerate(answers) if a is answer] or list(range(len(answers)))
    worst = min(pick, key=lambda i: margins[i][0] if np.isfinite(margins[i][0]) else np.inf)
    if answer is True:
        edge = any(edges)
    elif answer is False:
        edge = not any(a is False and not e for a, e in zip(answers, edges))
    else:
        edge = False
    return answer, margins[worst][0], margins[worst][1], bool(edge)


def level_row(check: str, kind: str, values, level: float, quantity: str, labels=None,
              scale: float = 1.0, unit: str = "", stat: str = "spread",
              level_text: str | None = None, alpha: float = ALPHA) -> tuple:
    """(answer, row) of a level check: kind 'above', 'below' or 'within' (|difference| <= level);
    stat 'spread' (the typical pair) or 'mean' (an average effect: one-sided t test, or TOST for
    'within'); values is one list over pairs, or one per label (the check must hold for every
    label). The row has the margin of the label that decides, its standard error, and `edge`
    (on the threshold: a one-standard-error shift of the mean changes the answer). level_text: how the rule
    prints the level (e.g. 'ln 1.5 (a factor 1.5)'; default the scaled number and unit)."""
    if kind not in ("above", "below", "within") or stat not in _TESTS:
        raise ValueError(f"level_row: kind above/below/within and stat spread/mean; got {kind!r}, {stat!r}")
    groups = [values] if labels is None else list(values)
    fn = _TESTS[stat][kind]
    test = (lambda v, lv: fn(v, lv, alpha=alpha)) if stat == "mean" else fn  # noqa: E731
    groups = [np.asarray(g, dtype=float) for g in groups]
    answers = [test(g, level) for g in groups]
    margins = [_margin(kind, stat, g, level, alpha) for g in groups]
    edges = [_on_edge(test, g, level, a, se) for g, a, (_, se) in zip(groups, answers, margins)]
    answer, margin, se, edge = _combined(answers, margins, edges)
    shown = level_text or (f"{scale * level:.4g}" + (f" {unit}" if unit else ""))
    rule = _RULES[stat][kind].format(level=shown, c=round(100 * (1 - alpha)),
                                     c2=round(100 * (1 - 2 * alpha)))
    rule += "" if labels is None else ", at every one"
    if stat == "mean":
        bounds = [t_bounds(np.asarray(g, dtype=float), alpha)[1:] for g in groups]
        rule += "; bounds " + ", ".join(f"[{scale * lo:.3g}, {scale * hi:.3g}]" for lo, hi in bounds)
    vals = [[str(lab), *summary(g, scale)] for lab, g in zip(labels or [""], groups)]
    return answer, dict(check=check, quantity=quantity, unit=unit, values=vals, rule=rule,
                        p=None, answer=answer, stat=stat, margin=[scale * margin, scale * se],
                        edge=edge)


def plain_row(check: str, answer) -> dict:
    """A row for a check recorded without its numbers (e.g. a user's own hypothesis)."""
    return dict(check=check, quantity="", unit="", values=[], rule="", p=None, answer=answer)
