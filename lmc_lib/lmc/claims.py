"""One claim, one function: the checks of the paper's claims C1-C12, their verdict and sentences.

Each `cN(...)` returns a Judgement: the named checks (True / False / None), which of them are the
claim's core, the verdict (`rules.judge`: a failed core check is "not reproduced", an undecided one
or one on the threshold "inconclusive", a failed premise "inconclusive": not testable there), one
row per check (quantity, mean ± std over pairs per width or layer, the rule, p-value or margin, the
answer: what the Result table prints) and the sentences the chapters show. The rules themselves
(rank tests; spread rules for the typical pair, t bounds and equivalence tests for an average
effect) are in `lmc_lib.lmc.rules`; docs/VERDICTS.md gives each claim's statistic and the source
of each threshold.
Inputs are per width (or weight decay, layer), per pair: values[i][pair] or values[i][pair][layer].
"""
from __future__ import annotations

from math import log, sqrt
from typing import NamedTuple

import numpy as np

from lmc_lib.core import numfmt
from lmc_lib.core.config import width_label
from lmc_lib.lmc.rules import (  # noqa: F401
    ALPHA,
    MIN_PAIRS,
    N_PERM,
    above,
    all_of,
    below,
    falls,
    judge,
    level_row,
    no_trend,
    plain_row,
    rises,
    summary,
    trend,
    trend_row,
    trend_test,
    within,
)


class Judgement(NamedTuple):
    """A claim's named checks (True / False / None), the core names, verdict, rows and sentences."""
    checks: dict
    core: tuple
    verdict: str
    rows: dict = {}
    sentences: tuple = ()


ANSWER = {True: "yes", False: "no", None: "cannot decide"}
EDGE = "on the threshold"
LMC_PP = 2.0            # LMC holds: accuracy barrier below 2 pp (Frankle et al. 2020's 2 % instability)
ABOUT_ONE = 0.95        # "about 1" for a cosine: above 0.95 (book convention, fixed before the runs)
HALVING_FACTOR = sqrt(2)  # C11: half a layer's halving (log scale): closer to 2^-(l-1) than to l +- 1


def _num(x: float) -> str:
    """A number alone, by the book's one rule (lmc_lib.core.numfmt)."""
    return numfmt.num(x)


def value_text(v, unit: str = "") -> str:
    """'mean ± std unit' of a row value [at, mean, std, n], digits from the spread (numfmt);
    one pair: the mean alone, said so."""
    _, mean, std, n = v
    if n > 1 and np.isfinite(std):
        return numfmt.mean_pm(mean, std, unit)
    return f"{_num(mean)}" + (f" {unit}" if unit else "") + " (one pair)"


def row_sentence(name: str, row: dict) -> str:
    """One sentence: the quantity where the check reads it, the rule and the answer."""
    vals, unit = row["values"], row.get("unit", "")
    where = lambda v: f" at {v[0]}" if v[0] else ""  # noqa: E731
    if not vals:
        return f"{name}: {answer_text(row)}."
    if row["p"] is not None:
        seen = (f"from {value_text(vals[0], unit)}{where(vals[0])} to "
                f"{value_text(vals[-1], unit)}{where(vals[-1])}")
        test = f"rank test {numfmt.p_value(row['p'])}"
    else:
        seen = "; ".join(f"{value_text(v, unit)}{where(v)}" for v in vals)
        test = f"rule {row['rule']}"
    return f"{name} ({row['quantity']}: {seen}; {test}): {answer_text(row)}."


def answer_text(row: dict) -> str:
    """The outcome a row prints: yes / no / cannot decide, or 'on the threshold' with its margin."""
    if not row.get("edge"):
        return ANSWER[row["answer"]]
    margin, se = row.get("margin") or (float("nan"), float("nan"))
    return (f"{EDGE} ({ANSWER[row['answer']]} by a margin of {margin:.2g}; a shift of the mean by "
            f"one standard error, {se:.2g}, changes it)")


def verdict_sentence(checks: dict, core, verdict: str, edges=(), premises=()) -> str:
    """Why the verdict: a premise that does not hold, core checks that failed, could not decide or
    are on the threshold, other checks that do not firmly hold."""
    core, edges = list(core or checks), set(edges)
    firm = {k: (None if k in edges else v) for k, v in checks.items()}
    unmet = [k for k in premises if firm[k] is not True]
    failed = [k for k in core if firm[k] is False]
    open_ = [k for k in core if checks[k] is None]
    edge = [k for k in core if k in edges]
    others = [k for k in checks if k not in core and firm[k] is not True]
    if unmet:
        why = ("the claim cannot be tested here, its premise does not firmly hold: "
               + "; ".join(unmet))
    elif verdict == "not reproduced":
        why = "the core check(s) failed: " + "; ".join(failed)
    elif verdict == "inconclusive":
        why = "; ".join(([f"the data cannot decide the core check(s): {'; '.join(open_)}"] if open_
                         else []) + ([f"core check(s) {EDGE}: {'; '.join(edge)}"] if edge else []))
    elif verdict == "partly":
        why = ("the core checks hold, these do not (or cannot be decided, or are on the "
               "threshold): " + "; ".join(others))
    else:
        why = "every check holds"
    return f"Verdict: {verdict}, since {why}."


def judgement(checks: dict, core=None, rows: dict | None = None) -> Judgement:
    """Checks, their core, the verdict, the rows and the sentences in one."""
    core = tuple(core or checks)
    rows = {k: (rows or {}).get(k) or plain_row(k, v) for k, v in checks.items()}
    wrong = [k for k, v in checks.items()
             if (rows[k]["answer"] is None) != (v is None) or bool(rows[k]["answer"]) != bool(v)]
    if wrong:  # a row's yes/no is what its check decided, or the table and the verdict disagree
        raise ValueError(f"rows whose answer is not their check's: {wrong}")
    edges = [k for k, r in rows.items() if r.get("edge")]
    premises = [k for k, r in rows.items() if r.get("premise")]
    verdict = judge(checks, core, edges, premises)
    sentences = tuple(row_sentence(k, r) for k, r in rows.items())
    return Judgement(checks, core, verdict, rows,
                     sentences + (verdict_sentence(checks, core, verdict, edges, premises),))


class _Checks:
    """Collects (answer, row) pairs under their check names."""

    def __init__(self):
        self.checks, self.rows = {}, {}

    def add(self, name: str, found: tuple, premise: bool = False) -> str:
        """Add a check; a premise is a core check the claim needs to be testable at all."""
        self.checks[name], row = found
        self.rows[name] = dict(row, check=name, **({"premise": True} if premise else {}))
        return name

    def judgement(self, core=None) -> Judgement:
        return judgement(self.checks, core, self.rows)


def combine(parts: dict) -> Judgement:
    """One Judgement from several settings' ({name: Judgement}): names prefixed by the setting."""
    checks, core, rows = {}, [], {}
    for name, j in parts.items():
        checks.update({f"{name}: {k}": v for k, v in j.checks.items()})
        rows.update({f"{name}: {k}": dict(r, check=f"{name}: {k}") for k, r in (j.rows or {}).items()})
        core += [f"{name}: {k}" for k in j.core]
    return judgement(checks, core, rows)


def _col(values, i: int) -> list:
    """values[w][pair][layer] -> values[w][pair] of layer index i."""
    return [[np.asarray(p, dtype=float)[i] for p in vs] for vs in values]


def _last(values, i=None) -> np.ndarray:
    """The per-pair values at the last width (of layer index i)."""
    last = np.asarray(values[-1], dtype=float)
    return last if i is None else last[:, i]


def _w(widths) -> list[str]:
    return [f"w = {width_label(w)}" for w in widths]


def c1(widths, acc_half, acc_end, gap_pp: float = LMC_PP) -> Judgement:
    """C1: accuracy at lam = 1/2 (fractions) rises with width; endpoint gap < gap_pp at the widest
    (the typical pair: spread rule)."""
    gap = _last(acc_end) - _last(acc_half)
    c, ws = _Checks(), _w(widths)
    rise = c.add("accuracy at λ = 1/2 rises with width", trend_row(
        "", "rises", widths, acc_half, "merged accuracy at λ = 1/2", ws, 100, "%"))
    c.add(f"endpoint gap < {gap_pp} pp at {ws[-1]}", level_row(
        "", "below", gap, gap_pp / 100, f"endpoints' accuracy minus merged accuracy at {ws[-1]}",
        scale=100, unit="pp"))
    return c.judgement(core=[rise])


def c2(widths, cal, raw, cal_max: float = 0.05) -> Judgement:
    """C2: calibrated barrier falls with width, ends below the raw one and below cal_max (spread)."""
    c, ws = _Checks(), _w(widths)
    fall = c.add("calibrated barrier falls with width", trend_row(
        "", "falls", widths, cal, "calibrated-loss barrier (nats)", ws))
    c.add(f"calibrated < raw barrier at {ws[-1]}", level_row(
        "", "above", _last(raw) - _last(cal), 0.0, f"raw minus calibrated barrier at {ws[-1]} (nats)"))
    c.add(f"calibrated barrier < {cal_max} at {ws[-1]}", level_row(
        "", "below", _last(cal), cal_max, f"calibrated-loss barrier at {ws[-1]} (nats)"))
    return c.judgement(core=[fall])


def c3(widths, acc_none_last, acc_random_last, wm_gain, tol_pp: float = 1.0) -> Judgement:
    """C3, average effects (core: random = none at the widest, WM's gain shrinks): the mean change
    of acc(1/2) by random permutations is within ±tol_pp (TOST); WM's mean gain > 0 at every width
    (one-sided t test) and shrinking with width (rank test)."""
    diff = np.asarray(acc_random_last, float) - np.asarray(acc_none_last, float)
    c, ws = _Checks(), _w(widths)
    same = c.add(f"random permutations leave the mean accuracy at λ = 1/2 within ±{tol_pp} pp at "
                 f"{ws[-1]}", level_row(
                     "", "within", diff, tol_pp / 100, "accuracy at λ = 1/2, random minus no "
                     f"permutation, at {ws[-1]}", scale=100, unit="pp", stat="mean"))
    c.add("WM lowers the mean calibrated barrier at every width", level_row(
        "", "above", wm_gain, 0.0, "calibrated barrier, random minus WM (nats)", ws, stat="mean"))
    shrink = c.add("WM's improvement shrinks with width", trend_row(
        "", "falls", widths, wm_gain, "calibrated barrier, random minus WM (nats)", ws))
    return c.judgement(core=[same, shrink])


def c4(widths, layers, cos, threshold: float = ABOUT_ONE) -> Judgement:
    """C4: LEWC cosine rises with width at every layer; logit cosine > threshold at the widest.
    Layer 1's LEWC cosine is also layer 1's weak-additivity cosine: it is tested here, not in C5."""
    c, ws = _Checks(), _w(widths)
    own = lambda l: " (= its weak-additivity cosine; tested here only)" if l == 1 else ""  # noqa: E731
    trends = [c.add(f"rises with width at layer {l}", trend_row(
        "", "rises", widths, _col(cos, i), f"LEWC cosine at layer {l}{own(l)}", ws))
        for i, l in enumerate(layers)]
    c.add(f"logit cosine > {threshold} at the largest width", level_row(
        "", "above", _last(cos, -1), threshold, f"LEWC cosine at the logits, {ws[-1]}"))
    return c.judgement(core=trends)


def c5(widths, layers, wa, limit: float) -> Judgement:
    """C5 on hidden layers l >= 2 (layer 1's cosine is C4's LEWC cosine at layer 1, tested there):
    weak-additivity cosine rises with width at each, above the Gaussian limit at the widest."""
    c, ws = _Checks(), _w(widths)
    kept = [(i, l) for i, l in enumerate(layers) if l >= 2]
    trends = [c.add(f"rises with width at layer {l}", trend_row(
        "", "rises", widths, _col(wa, i), f"weak-additivity cosine at layer {l}", ws))
        for i, l in kept]
    for i, l in kept:
        c.add(f"above {limit:.4f} at layer {l} (largest width)", level_row(
            "", "above", _last(wa, i), limit, f"weak-additivity cosine at layer {l}, {ws[-1]}"))
    return c.judgement(core=trends)


def kappa(overlap, chance) -> np.ndarray:
    """Chance-corrected overlap (overlap - chance) / (1 - chance): 0 at chance, 1 at full overlap
    (the form of Cohen's kappa)."""
    o, ch = np.asarray(overlap, float), np.asarray(chance, float)
    return (o - ch) / (1 - ch)


def c6(widths, tiny, overlap, overlap_wm, chance, tiny_share: float = 0.5, near: float = 0.2,
       well_above: float = 0.6, wm_overlap: float = 0.7) -> Judgement:
    """C6 (values: layer means per pair; core, the paper's Fig 5 and 6 statement at the widest):
    most units tiny (spread rule); no-WM overlap at chance (kappa within ±near, TOST); WM overlap
    well above it (mean kappa > well_above, one-sided t test). Also: the no-WM excess over chance
    falls with width, the WM overlap exceeds wm_overlap and the no-WM overlap (spread rules)."""
    excess = [np.asarray(o, float) - np.asarray(c, float) for o, c in zip(overlap, chance)]
    c, ws = _Checks(), _w(widths)
    core = [c.add(f"share of tiny units > {tiny_share} at the largest width", level_row(
                "", "above", _last(tiny), tiny_share,
                f"share of units whose second moment is below a tenth of the layer mean, {ws[-1]}")),
            c.add(f"no-WM overlap at chance (|κ| < {near}) at the largest width", level_row(
                "", "within", kappa(_last(overlap), _last(chance)), near,
                f"chance-corrected no-WM overlap κ, {ws[-1]}", stat="mean")),
            c.add(f"WM overlap well above chance (κ > {well_above}) at the largest width", level_row(
                "", "above", kappa(_last(overlap_wm), _last(chance)), well_above,
                f"chance-corrected WM overlap κ, {ws[-1]}", stat="mean"))]
    c.add("no-WM overlap minus its chance level falls with width", trend_row(
        "", "falls", widths, excess, "active-unit overlap minus chance, no WM", ws))
    c.add(f"overlap with WM > {wm_overlap} at the largest width", level_row(
        "", "above", _last(overlap_wm), wm_overlap, f"active-unit overlap with WM, {ws[-1]}"))
    c.add("overlap with WM above without WM at the largest width", level_row(
        "", "above", _last(overlap_wm) - _last(overlap), 0.0, f"overlap with WM minus without, {ws[-1]}"))
    return c.judgement(core=core)


def c7(widths, layers, ro, cos, threshold: float = ABOUT_ONE) -> Judgement:
    """C7: RO ratio falls and cos(W_a h_merged, W_a h_a) rises with width at every layer l >= 2;
    the cosine > threshold at every layer at the largest width (spread rule)."""
    c, ws = _Checks(), _w(widths)
    trends = [c.add(f"RO ratio falls with width at layer {l}", trend_row(
        "", "falls", widths, _col(ro, i), f"RO ratio at layer {l}", ws)) for i, l in enumerate(layers)]
    trends += [c.add(f"cosine rises with width at layer {l}", trend_row(
        "", "rises", widths, _col(cos, i), f"merged-vs-endpoint cosine after W_a at layer {l}", ws))
        for i, l in enumerate(layers)]
    c.add(f"cosine > {threshold} at every layer (largest width)", level_row(
        "", "above", [_last(cos, i) for i in range(len(layers))], threshold,
        f"merged-vs-endpoint cosine after W_a at {ws[-1]}", [f"layer {l}" for l in layers]))
    return c.judgement(core=trends)


def lmc_row(acc_barrier, where: str, lmc_pp: float = LMC_PP) -> tuple:
    """(answer, row): LMC holds for the typical pair: accuracy barrier (fractions) < lmc_pp pp."""
    return level_row("", "below", acc_barrier, lmc_pp / 100, f"accuracy barrier at λ = 1/2, {where}",
                     scale=100, unit="pp")


def c8(wds, acc_barrier, cal_barrier, lewc, wa, ro, eff_rank, lewc_logits=None,
       main_wd: float | None = None, lmc_pp: float = LMC_PP) -> Judgement:
    """C8 (per weight decay, per pair). Premise: LMC holds at the main weight decay (accuracy
    barrier < lmc_pp pp; otherwise "weaker weight decay breaks LMC" cannot be tested: inconclusive).
    Core: both barriers fall and the logits' LEWC cosine rises as weight decay grows. Also the
    layer-mean LEWC and weak-additivity cosines rise, RO ratio and effective rank fall."""
    c, at = _Checks(), [f"wd = {wd:g}" for wd in wds]
    main = max(wds) if main_wd is None else main_wd
    if main not in wds:
        raise ValueError(f"c8: main_wd {main!r} is not one of the swept weight decays {list(wds)}")
    lmc = c.add(f"LMC holds at the main weight decay {main:g} (premise)",
                lmc_row(acc_barrier[list(wds).index(main)], f"wd = {main:g}", lmc_pp), premise=True)
    core = [lmc, c.add("accuracy barrier falls as weight decay grows", trend_row(
                "", "falls", wds, acc_barrier, "accuracy barrier", at, 100, "pp")),
            c.add("calibrated-loss barrier falls as weight decay grows", trend_row(
                "", "falls", wds, cal_barrier, "calibrated-loss barrier (nats)", at))]
    if lewc_logits is not None:
        core.append(c.add("LEWC cosine at the logits rises with weight decay", trend_row(
            "", "rises", wds, lewc_logits, "LEWC cosine at the logits", at)))
    lewc_mean = c.add("LEWC cosine (mean over layers) rises with weight decay", trend_row(
        "", "rises", wds, lewc, "LEWC cosine, mean over layers", at))
    if lewc_logits is None:
        core.append(lewc_mean)
    for name, kind, vals, q in (("weak-additivity cosine rises with weight decay", "rises", wa,
                                 "weak-additivity cosine"),
                                ("RO ratio falls as weight decay grows", "falls", ro, "RO ratio"),
                                ("effective rank falls as weight decay grows", "falls", eff_rank,
                                 "effective rank")):
        c.add(name, trend_row("", kind, wds, vals, q, at))
    return c.judgement(core=core)


def c9(widths, layers, none, wm, fails: float = 0.5, holds: float = 0.2,
       smaller: float = 0.8) -> Judgement:
    """C9 on hidden layers l >= 2 only (the logit layer's residual has a tiny denominator), two
    sides with their own thresholds: without WM commutativity fails (residual > fails at every
    layer, widest); with WM it holds (residual < holds, widest) and is below smaller x no-WM at
    every width. Spread rules (the typical pair); every check is core."""
    if not holds < fails:
        raise ValueError(f"c9: the 'holds' threshold {holds} must be below the 'fails' one {fails}")
    hidden = list(range(len(layers) - 1)) or [0]
    names = ", ".join(str(layers[i]) for i in hidden)
    n_mean, w_mean = ([np.asarray(p, float)[:, hidden].mean(1) for p in v] for v in (none, wm))
    c, ws = _Checks(), _w(widths)
    c.add(f"no-WM residual > {fails} at every layer {names} (largest width)", level_row(
        "", "above", [_last(none, i) for i in hidden], fails,
        f"no-WM residual $r_l$ at {ws[-1]}", [f"layer {layers[i]}" for i in hidden]))
    c.add(f"WM residual < {smaller} × no-WM at every width (layers {names})", level_row(
        "", "below", [w - smaller * n for w, n in zip(w_mean, n_mean)], 0.0,
        f"WM residual minus {smaller} × no-WM residual, mean over layers {names}", ws))
    c.add(f"WM residual < {holds} at the largest width (layers {names})", level_row(
        "", "below", w_mean[-1], holds, f"WM residual, mean over layers {names}, {ws[-1]}"))
    return c.judgement()


def c10(widths, beta_half, beta_end) -> Judgement:
    """C10: fitted beta at lam = 1/2 rises with width and exceeds the endpoints' beta (spread)."""
    c, ws = _Checks(), _w(widths)
    rise = c.add("β at λ = 1/2 rises with width", trend_row(
        "", "rises", widths, beta_half, "fitted β of the merged model", ws))
    c.add(f"β at λ = 1/2 > endpoints' β at {ws[-1]}", level_row(
        "", "above", _last(beta_half) - _last(beta_end), 0.0,
        f"merged minus endpoints' β at {ws[-1]}"))
    return c.judgement(core=[rise])


def factor_text(factor: float) -> str:
    """How a tolerance on a log ratio prints: 'ln 1.5 (a factor 1.5)'."""
    shown = "√2" if abs(factor - sqrt(2)) < 1e-4 else f"{factor:.4g}"
    return f"ln {shown} (a factor {shown} either way)"


def c11(layers=None, ratio=None, prediction=None, bn_factors=None,
        decay_factor: float = HALVING_FACTOR, threshold: float = 2 ** -0.5) -> Judgement:
    """C11: plain MLP (ratio[pair][layer] at the widest; core: the fall and the factor): norms fall
    with depth, within decay_factor (default √2: half a layer's halving) of 2^-(l-1) at every layer
    and without drift; BN nets ({name: factor per pair}) do not decay. Spread rules."""
    c, core = _Checks(), []
    if ratio is not None:
        r, pred = np.asarray(ratio, float), np.asarray(prediction, float)
        rel, at = np.log(r / pred), [f"layer {l}" for l in layers]
        core.append(c.add("merged norm ratio falls with depth", trend_row(
            "", "falls", layers, r.T, "merged / endpoint norm ratio", at)))
        core.append(c.add(f"within a factor {decay_factor:.3g} of $2^{{-(l-1)}}$ at every layer", level_row(
            "", "within", list(rel.T), log(decay_factor), "ln(measured / predicted ratio)", at,
            level_text=factor_text(decay_factor))))
        c.add("measured / predicted does not drift with depth", trend_row(
            "", "none", layers, rel.T, "ln(measured / predicted ratio)", at))
    for name, f in (bn_factors or {}).items():
        core.append(c.add(f"{name}: norms do not decay (factor > {threshold:.2f} per layer)",
                          level_row("", "above", f, threshold, f"{name}: per-layer norm factor")))
    return c.judgement(core=core)


def c12(widths, rand_acc_t1, gap_widest, gap: float = 0.1) -> Judgement:
    """C12: random-direction accuracy at t = 1 rises with width; cos(a, a + d u) - cos(a, b)
    exceeds gap at every hidden layer at the largest width (gap_widest[pair][layer]; spread)."""
    g = np.asarray(gap_widest, float)
    c, ws = _Checks(), _w(widths)
    c.add("random-direction accuracy at t = 1 rises with width", trend_row(
        "", "rises", widths, rand_acc_t1, "accuracy at t = 1 along a random direction", ws, 100, "%"))
    c.add(f"cos(a, a + d u) - cos(a, b) > {gap} at every hidden layer, largest width", level_row(
        "", "above", list(g.T), gap, f"cos(a, a + d u) − cos(a, b) at {ws[-1]}",
        [f"hidden layer {i + 1}" for i in range(g.shape[1])]))
    return c.judgement()
