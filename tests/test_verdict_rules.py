"""The statistic of each claim: equivalence and one-sided tests of a mean, margins, "on the
threshold", premises, C9's two thresholds, layer 1 counted once (hand-made numbers)."""
import numpy as np
import pytest

from lmc_lib.lmc import claims, probes, rules

W = [0.25, 0.5, 1.0, 2.0]


def grid(f, pairs=3, spread=0.0, layers=None):
    if layers is None:
        return [[f(i) + spread * (p - 1) for p in range(pairs)] for i in range(len(W))]
    return [[[f(i, l) + spread * (p - 1) for l in range(layers)] for p in range(pairs)]
            for i in range(len(W))]


# ----------------------------------------------------------------------------- mean statistics
def test_t_bounds_are_the_one_sided_student_interval():
    mean, lo, hi = rules.t_bounds([1.0, 2.0, 3.0], alpha=0.05)
    assert mean == 2.0 and hi - mean == pytest.approx(mean - lo)
    assert mean - lo == pytest.approx(2.919986 * 1.0 / np.sqrt(3), rel=1e-5)  # t(0.95, 2) s / sqrt(n)
    assert np.isnan(rules.t_bounds([1.0])[1])


def test_equivalence_is_yes_inside_no_wholly_outside_and_cannot_decide_between():
    assert rules.equivalent([0.001, 0.002, 0.0015], 0.0, 0.01) is True
    assert rules.equivalent([0.05, 0.051, 0.049], 0.0, 0.01) is False
    assert rules.equivalent([-0.012, 0.005, -0.005], 0.0, 0.01) is None  # too wide: never "no"
    assert rules.equivalent([0.0], 0.0, 0.01) is None  # one pair: no interval


def test_one_sided_mean_tests_decide_only_beyond_their_bound():
    assert rules.mean_above([0.5, 0.52, 0.51], 0.3) is True
    assert rules.mean_above([0.1, 0.12, 0.11], 0.3) is False
    assert rules.mean_above([0.2, 0.5], 0.3) is None
    assert rules.mean_below([0.1, 0.12, 0.11], 0.3) is True


def test_c3_random_vs_none_with_three_noisy_pairs_cannot_be_decided():
    """-0.40 ± 1.3 pp over 3 pairs: the spread rule said "no"; the equivalence test cannot decide,
    and with the check core the verdict is "inconclusive", not "not reproduced"."""
    none = np.array([0.80, 0.81, 0.82])
    rnd = none + np.array([-0.017, 0.009, -0.004])  # mean -0.4 pp, std 1.3 pp
    gain = grid(lambda i: 0.4 - 0.1 * i, spread=0.01)
    j = claims.c3(W, none, rnd, gain)
    name = "random permutations leave the mean accuracy at λ = 1/2 within ±1.0 pp at w = 2"
    assert j.checks[name] is None and j.verdict == "inconclusive"
    assert "two one-sided t tests" in j.rows[name]["rule"] and j.rows[name]["stat"] == "mean"
    assert claims.within(rnd - none, 0.0, 0.01) is False  # the old spread rule's firm "no"
    same = claims.c3(W, none, none + np.array([0.001, 0.0015, 0.002]), gain)
    assert same.checks[name] is True


# ----------------------------------------------------------------------------- knife edges
def test_a_pass_by_a_hair_is_on_the_threshold_and_never_reproduced():
    """C7's cosine 0.9543 − 0.0041 against 0.95 (margin 0.0002): "on the threshold"; the trends
    hold, so the verdict is "partly", not "reproduced"."""
    ro = grid(lambda i, l: 0.5 - 0.1 * i, spread=0.002, layers=3)
    cos = grid(lambda i, l: 0.83 + 0.04 * i, spread=0.0, layers=3)
    cos[-1] = [[0.9543 + s * 0.0041 / np.sqrt(2)] * 3 for s in (-1, 1)]
    cos = [c[:2] for c in cos[:-1]] + [cos[-1]]
    ro = [r[:2] for r in ro]
    j = claims.c7(W, [2, 3, 4], ro, cos)
    name = "cosine > 0.95 at every layer (largest width)"
    row = j.rows[name]
    assert j.checks[name] is True and row["edge"] is True
    assert row["margin"][0] == pytest.approx(0.0002, abs=1e-4)
    assert claims.answer_text(row).startswith("on the threshold (yes")
    assert j.verdict == "partly" and "on the threshold" in j.sentences[-1]
    clear = [[[0.99 + 0.001 * p] * 3 for p in range(2)]]
    assert not claims.c7(W, [2, 3, 4], ro, cos[:-1] + clear).rows[name]["edge"]


def test_a_core_check_on_the_threshold_makes_the_verdict_inconclusive():
    assert rules.judge({"a": True, "b": True}, core=["a"], edges=["a"]) == "inconclusive"
    assert rules.judge({"a": False, "b": True}, core=["a"], edges=["a"]) == "inconclusive"
    assert rules.judge({"a": True, "b": False}, core=["a"], edges=["b"]) == "partly"
    assert rules.judge({"a": True, "b": True}, core=["a"], edges=["b"]) == "partly"


def test_a_firm_failure_by_spread_is_not_on_the_threshold():
    """β = 4 and 16 against 8 within a factor 1.5: the spread alone breaks the tolerance, so no
    shift of the mean changes the answer: a firm "no"."""
    answer, row = rules.level_row("", "within", np.log([0.5, 2.0]), np.log(1.5), "ln ratio")
    assert answer is False and row["edge"] is False


def test_every_level_row_has_a_margin_and_its_standard_error():
    _, row = rules.level_row("", "below", [0.40, 0.42, 0.44], 0.5, "q", scale=100, unit="pp")
    assert row["margin"][0] == pytest.approx(100 * (0.5 - 0.44))  # mean + std = 0.44
    assert row["margin"][1] == pytest.approx(100 * 0.02 / np.sqrt(3))


# ----------------------------------------------------------------------------- premises and sides
def test_c8_without_lmc_at_the_main_weight_decay_cannot_be_decided():
    """Barriers fall and LEWC rises with weight decay, but the accuracy barrier is still 18 pp at
    the main weight decay: "weaker weight decay breaks LMC" cannot be tested there."""
    wds = [0.0, 1e-4, 1e-3, 3e-3]
    acc = grid(lambda i: 0.286 - 0.035 * i, spread=0.005)
    down, up = grid(lambda i: 0.5 - 0.1 * i, spread=0.01), grid(lambda i: 0.6 + 0.1 * i, spread=0.01)
    j = claims.c8(wds, acc, down, up, up, down, down, lewc_logits=up)
    premise = "LMC holds at the main weight decay 0.003 (premise)"
    assert j.checks[premise] is False and j.rows[premise]["premise"] is True
    assert all(v for k, v in j.checks.items() if k != premise)
    assert j.verdict == "inconclusive" and "cannot be tested here" in j.sentences[-1]


def test_c8_a_flat_logit_cosine_is_not_hidden_by_the_layer_mean():
    wds = [0.0, 1e-4, 1e-3, 3e-3]
    acc = grid(lambda i: 0.305 - 0.1 * i, spread=0.001)
    down, up = grid(lambda i: 0.5 - 0.1 * i, spread=0.01), grid(lambda i: 0.6 + 0.1 * i, spread=0.01)
    flat = grid(lambda i: 0.9, spread=0.01)
    j = claims.c8(wds, acc, down, up, up, down, down, lewc_logits=flat)
    assert j.checks["LEWC cosine at the logits rises with weight decay"] is False
    assert j.verdict == "not reproduced"


def test_c9_has_distinct_thresholds_for_its_two_sides():
    """WM residual 0.403 ± 0.013: below the 'fails' line 0.5 but not below the 'holds' line 0.2."""
    none = grid(lambda i, l: 0.9, spread=0.01, layers=3)
    wm = [[[0.390 + 0.013 * p] * 3 for p in range(3)] for _ in W]
    j = claims.c9(W, [2, 3, 4], none, wm)
    assert j.checks["WM residual < 0.2 at the largest width (layers 2, 3)"] is False
    assert j.checks["no-WM residual > 0.5 at every layer 2, 3 (largest width)"] is True
    assert j.verdict == "not reproduced"
    with pytest.raises(ValueError, match="below"):
        claims.c9(W, [2, 3, 4], none, wm, fails=0.3, holds=0.4)


# ----------------------------------------------------------------------------- layer 1 once
def test_layer_1_is_c4s_and_c5_starts_at_layer_2():
    rising = grid(lambda i, l: 0.9 + 0.01 * i, spread=0.001, layers=3)
    c5 = claims.c5(W, [1, 2, 3], rising, 0.9304)
    assert not any("layer 1" in k for k in c5.checks) and any("layer 2" in k for k in c5.checks)
    cos = grid(lambda i, l: 0.9 + 0.01 * i, spread=0.001, layers=4)
    c4 = claims.c4(W, [1, 2, 3, 4], cos)
    assert "weak-additivity" in c4.rows["rises with width at layer 1"]["quantity"]
    falling_layer1 = [[[v - 0.02 * i if l == 0 else v for l, v in enumerate(p)] for p in ws]
                      for i, ws in enumerate(rising)]
    assert claims.c5(W, [1, 2, 3], falling_layer1, 0.9304).verdict == c5.verdict  # not counted


# ----------------------------------------------------------------------------- C6 without bins
def test_tiny_share_needs_no_bins_and_is_scale_free():
    s = np.r_[np.full(90, 0.01), np.full(10, 1.0)]  # 90 units at a ten-thousandth of the big ones' moment
    assert probes.tiny_share(s) == pytest.approx(0.9)
    assert probes.tiny_share(7.0 * s) == pytest.approx(0.9)
    assert probes.tiny_share(np.ones(50)) == 0.0  # equal units: none is tiny


def test_kappa_is_zero_at_chance_and_one_at_full_overlap():
    assert claims.kappa(0.3, 0.3) == pytest.approx(0.0)
    assert claims.kappa(1.0, 0.3) == pytest.approx(1.0)
    assert claims.kappa(0.65, 0.3) == pytest.approx(0.5)
