"""Chapters 10 and 11 studies: smoke runs (keys, one entry per width, ranges) and verdict logic
on hand-made results."""
import json
import re

import numpy as np
import pytest

from lmc_lib.chapters.experiment import Setup
from lmc_lib.chapters.studies import ch10, ch11
from lmc_lib.core import numfmt

W = [0.125, 0.25, 0.5]


def _study(acc_half, cal, raw, ro=(0.5, 0.4, 0.3), proj=(0.8, 0.9, 0.97), norm=(1.0, 0.9, 0.8, 0.7),
           pairs=2):
    """A hand-made study: per width, `pairs` identical entries of each quantity."""
    by_width = {}
    for i, w in enumerate(W):
        bar = lambda v: {"half": [v] * pairs, "max": [v] * pairs}  # noqa: E731
        by_width[str(w)] = dict(
            acc_half=[acc_half[i]] * pairs, end_acc=[0.86] * pairs, acc_barrier=bar(0.86 - acc_half[i]),
            cal_barrier=bar(cal[i]), raw_barrier=bar(raw[i]),
            ro_ratio=[[ro[i]] * 3] * pairs, proj_cos=[[proj[i]] * 3] * pairs,
            norm_ratio=[list(norm)] * pairs)
    return dict(widths=list(W), by_width=by_width, title="t")


def _result(good: bool, cifar100_missing="cifar100 not found: put cifar-100-python in /tmp/x/data/"):
    acc, cal, raw = (((0.5, 0.7, 0.85), (0.3, 0.1, 0.02), (0.8, 0.75, 0.7)) if good
                     else ((0.8, 0.65, 0.5), (0.1, 0.25, 0.4), (0.2, 0.25, 0.3)))
    ro, proj = ((0.5, 0.4, 0.3), (0.8, 0.9, 0.97)) if good else ((0.3, 0.4, 0.5), (0.97, 0.9, 0.8))
    flat, decay = (1.0, 1.0, 0.95, 0.7), (1.0, 0.5, 0.25, 0.2)
    mk = lambda norm: _study(acc, cal, raw, ro, proj, norm)  # noqa: E731
    settings = dict(profile="smoke", dataset="fashion_mnist", conv_label="Fashion-MNIST padded",
                    mlp_widths=W, conv_plan={"vgg11": W, "resnet20": W}, conv_pairs=2,
                    conv_n_train=1000)
    return dict(settings=settings, cifar={"cifar10": "absent", "cifar100": cifar100_missing},
                cifar100={},
                conv={"vgg11": mk(flat if good else decay), "resnet20": mk(flat if good else decay)},
                mlp={"adam": mk(decay if good else flat), "sophia": mk(decay),
                     "skip": mk(decay), "bn": mk(flat if good else decay)})


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    return tmp_path


def _by_claim(records):
    return {(r["claim"], r["chapter"]): r["verdict"] for r in records}


def _per_setting(v: dict) -> dict:
    """{(claim, setting): verdict} of chapter 10's per-setting records ("10-<setting>")."""
    return {(c, ch.split("-", 1)[1]): x for (c, ch), x in v.items() if ch != "10-cifar100"}


def test_ch10_verdicts_reproduced_on_a_result_that_shows_the_claims(results_dir):
    v = _by_claim(ch10.verdicts(_result(True), Setup.from_params(profile="smoke")))
    per = _per_setting(v)
    assert set(per) == {(c, k) for k, cs in ch10.JUDGED.items() for c in cs}
    assert all(x == "reproduced" for x in per.values()), per
    assert v[("C1", "10-cifar100")] == v[("C2", "10-cifar100")] == "not run"
    saved = json.loads((results_dir / "smoke" / "C11_10-vgg11_fashion_mnist.json").read_text())
    assert saved["verdict"] == "reproduced" and saved["setting"].startswith("VGG-11")
    cifar = json.loads((results_dir / "smoke" / "C1_10-cifar100_cifar100.json").read_text())
    assert "/tmp" not in cifar["setting"]  # no local paths in a verdict


def test_ch10_verdicts_not_reproduced_on_a_contradicting_result(results_dir):
    per = _per_setting(_by_claim(ch10.verdicts(_result(False), Setup.from_params(profile="smoke"))))
    assert all(x == "not reproduced" for x in per.values()), per


def test_ch10_one_verdict_per_setting_each_with_its_scale(results_dir):
    """Sophia failing does not decide skip's or BN's verdict; each record names its own setting."""
    res = _result(True)
    res["mlp"]["sophia"] = _study((0.8, 0.65, 0.5), (0.1, 0.25, 0.4), (0.2, 0.25, 0.3))
    recs = ch10.verdicts(res, Setup.from_params(profile="smoke"))
    per = _per_setting(_by_claim(recs))
    assert per[("C1", "sophia")] == per[("C2", "sophia")] == "not reproduced"
    assert per[("C1", "skip")] == per[("C1", "bn")] == per[("C1", "vgg11")] == "reproduced"
    for r in recs:
        if r["chapter"] != "10-cifar100":
            name = ch10.SETTING_NAMES[r["chapter"].split("-", 1)[1]]
            assert r["setting"].startswith(name) and re.search(r"\| \d+ epochs?\b", r["setting"])
            assert "n_train" not in r["setting"]  # in words: "10000 training images"
            assert all(k.startswith(name) for k in r["checks"]), r["checks"]


def test_ch10_c7_uses_chapter_6s_cosine_threshold(results_dir):
    res = _result(True)
    for name in ("skip", "bn"):  # the cosine rises, but ends below 0.95
        res["mlp"][name] = _study((0.5, 0.7, 0.85), (0.3, 0.1, 0.02), (0.8, 0.75, 0.7),
                                  proj=(0.7, 0.8, 0.9))
    v = _by_claim(ch10.verdicts(res, Setup.from_params(profile="smoke")))
    assert v[("C7", "10-skip")] == v[("C7", "10-bn")] == "partly"


def test_ch10_one_width_is_inconclusive_for_trends(results_dir):
    res = _result(True)
    for group in ("conv", "mlp"):
        for st in res[group].values():
            st["widths"] = st["widths"][:1]
    per = _per_setting(_by_claim(ch10.verdicts(res, Setup.from_params(profile="smoke"))))
    assert {x for (c, _), x in per.items() if c != "C11"} == {"inconclusive"}
    assert {x for (c, _), x in per.items() if c == "C11"} == {"reproduced"}  # judged at one width
    saved = json.loads((results_dir / "smoke" / "C11_10-bn_fashion_mnist.json").read_text())
    assert "MLP (Adam) factor (reference)" in saved["measured"] and len(saved["checks"]) == 1


def test_decay_factor_is_the_per_layer_geometric_factor_over_hidden_layers():
    assert ch10.decay_factor([[1.0, 0.5, 0.25, 9.0]]) == pytest.approx(0.5)
    assert ch10.decay_factor([[1.0, 1.0, 1.0, 0.1], [1.0, 1.0, 1.0, 0.1]]) == pytest.approx(1.0)


def test_widths_plan_prefers_explicit_then_single_width_then_profile():
    assert ch10.widths_plan("cpu")["mlp_widths"] == sorted(ch10.MLP_WIDTHS["cpu"])
    assert ch10.widths_plan("cpu")["conv_plan"]["resnet20"] == [0.125, 0.25]
    one = ch10.widths_plan("cpu", width=0.5)
    assert one["mlp_widths"] == [0.5] and all(ws == [0.5] for ws in one["conv_plan"].values())
    assert ch10.widths_plan("paper")["conv_plan"]["vgg11"] == [0.25, 1.0, 4.0]
    assert ch10.widths_plan("cpu", width=0.5, conv_plan={"vgg11": [1]})["conv_plan"] == {"vgg11": [1.0]}


@pytest.mark.chapters
def test_ch10_run_smoke(smoke_env):
    setup = Setup.from_params(profile="smoke", n_pairs=1)
    res = ch10.run(setup, mlp_widths=[1 / 16], conv_plan={"vgg11": [1 / 8]}, lams=5)
    assert set(res) == {"settings", "cifar", "cifar100", "conv", "mlp"}
    assert set(res["mlp"]) == set(ch10.MLP_SETTINGS) and set(res["conv"]) == {"vgg11"}
    for st in list(res["mlp"].values()) + [res["conv"]["vgg11"]]:
        assert set(st["by_width"]) == {str(w) for w in st["widths"]}
        for blk in st["by_width"].values():
            assert len(blk["acc"]) == 1 and len(blk["acc"][0]) == len(blk["lams"])
            assert all(0 <= a <= 1 for row in blk["acc"] for a in row)
            assert np.all(np.asarray(blk["norm_ratio"]) > 0)
    bn = res["mlp"]["bn"]["by_width"][str(1 / 16)]
    assert np.asarray(bn["ro_ratio"]).shape == (setup.n_pairs, 3)  # layers 2..4
    assert len(bn["norm_ratio"][0]) == 4
    json.dumps(res)  # JSON-able
    v = _by_claim(ch10.verdicts(res, setup))  # one width, one pair: no trend can be told
    assert v[("C1", "10-sophia")] == v[("C7", "10-bn")] == v[("C1", "10-vgg11")] == "inconclusive"


def _stats(acc, beta, loss=0.5, cal_loss=0.4, pred=0.45, pairs=2):
    """Sec 3.1 stats of one model over `pairs` pairs (a scalar: the same value for every pair)."""
    per = lambda v: [float(x) for x in v] if np.ndim(v) else [float(v)] * pairs  # noqa: E731
    return dict(acc=per(acc), beta=per(beta), loss=per(loss), cal_loss=per(cal_loss),
                pred_cal_loss=per(pred), inv_beta=[1 / b for b in per(beta)])


def _ch11(merged_beta=8.4, gap=(0.02, 0.02, 0.02), ind=0.1, spn=0.1):
    """A hand-made chapter-11 result over W, two pairs: the merged model's beta (every width), the
    ensemble's accuracy minus the merged one's per width, spawned and independent barriers."""
    by_width = {str(w): dict(a=_stats(0.85, 1.0), b=_stats(0.85, 1.0), merged=_stats(0.84, merged_beta, loss=1.2),
                             ensemble=_stats(np.add(0.84, g), 1.05)) for w, g in zip(W, gap)}
    calib = dict(widths=W, n_layers=4, beta_pred=8.0, by_width=by_width)
    sub = dict(merged=dict(acc=0.8, beta=8.0), ensemble=dict(acc=0.85, beta=1.0))
    many = dict(widths=W, n_layers=4, by_width={str(w): {"2": [sub] * 6, "4": [sub]} for w in W})
    spawn = {k: dict(widths=W, by_width={str(w): dict(cal_barrier={"half": list(np.broadcast_to(v, 2))})
                                         for w in W}) for k, v in (("independent", ind), ("spawned", spn))}
    return dict(calib=calib, many=many, spawn=spawn)


def test_ch11_findings_and_barriers_on_a_hand_made_result(results_dir):
    res = _ch11()
    bars = ch11.calib_barriers(res["calib"])
    assert bars["raw"].shape == (2, 3) and bars["raw"][0, 0] == pytest.approx(0.7)
    assert bars["predicted"][0, 0] == pytest.approx(-0.05)
    text = " ".join(ch11.findings(res))
    assert "fitted / predicted = 1.05 (means over pairs)" in text
    assert "N = 4: 80.0" in text and "predicted 64" in text
    assert "the mean spawned barrier is below the independent one at 0 of 3 widths" in text
    assert ch11.many_means(res["many"], "merged", "beta") == {"2": [8.0] * 3, "4": [8.0] * 3}
    v = {r["claim"]: r for r in ch11.verdicts(res, Setup.from_params(profile="smoke"))}
    assert [v[b]["verdict"] for b in ("B1", "B2", "B3", "B4", "B5")] == [
        "reproduced", "reproduced", "not reproduced", "not reproduced", "not reproduced"]
    # B4: N = 4 is one merge, no spread, but its beta (8) misses N^(L-1) = 64 by far more than the
    # factor allowed: a single value that already fails its level is "no" (docs/VERDICTS.md)
    assert v["B1"]["statement"] == ch11.BEYOND["B1"]
    assert json.loads((results_dir / "smoke" / "B5_11_fashion_mnist.json").read_text())["verdict"] == "not reproduced"


def _rows(records):
    return {r["claim"]: r["rows"] for r in records}


def test_ch11_rows_show_the_checked_values_their_rule_and_outcome(results_dir):
    """Each B-row: the quantity, mean ± std over pairs (per width where the check uses widths), the
    rule as compared and the outcome, from the values the check used; the table prints them."""
    from lmc_lib.chapters import resultview

    gap = [(0.06, 0.07), (0.03, 0.04), (0.0, 0.01)]  # ensemble minus merged accuracy, per pair
    res = _ch11(merged_beta=(8.0, 9.0), gap=gap, ind=(0.2, 0.22), spn=(0.1, 0.1))
    recs = ch11.verdicts(res, Setup.from_params(profile="smoke"))
    rows = _rows(recs)
    assert all(len(rows[b]) == len(r["checks"]) for b, r in zip(rows, recs))
    b1, every, drift = rows["B1"]
    ln = np.log([8.0 / 8.0, 9.0 / 8.0])
    assert b1["values"] == [["", pytest.approx(ln.mean()), pytest.approx(ln.std(ddof=1)), 2]]
    assert b1["rule"] == "|mean| + std ≤ ln 1.5 (a factor 1.5 either way)" and b1["answer"] is True
    assert [v[0] for v in every["values"]] == ["w = 1/8", "w = 1/4", "w = 1/2"] and every["answer"]
    assert drift["answer"] is True  # the same ratio at every width: no drift
    (b3,) = rows["B3"]
    assert [v[0] for v in b3["values"]] == ["w = 1/8", "w = 1/4", "w = 1/2"]
    assert [v[1] for v in b3["values"]] == pytest.approx([100 * np.mean(g) for g in gap])
    assert b3["unit"] == "pp" and b3["p"] is not None and b3["answer"] is (b3["p"] <= 0.05)
    (b5,) = rows["B5"]
    assert [v[1:] for v in b5["values"]] == [[pytest.approx(0.11), pytest.approx(np.std([0.1, 0.12], ddof=1)), 2]] * 3
    assert b5["rule"] == "mean − std > 0 nats, at every one" and b5["answer"] is True
    assert [r["verdict"] for r in recs] == ["reproduced", "reproduced", "reproduced", "not reproduced",
                                            "reproduced"]
    table = resultview.table(recs[0])
    assert numfmt.mean_pm(ln.mean(), ln.std(ddof=1)) in table and "| yes |" in table
    assert recs[0]["sentences"][0].startswith("Fitted β") and recs[0]["sentences"][-1].startswith("Verdict")


def test_ch11_a_spread_that_breaks_the_factor_fails_b1_though_the_mean_is_close(results_dir):
    """β = 4 and 16 against 8: the mean β (10) is within a factor 1.5, the rule on ln(β / 8) with
    its spread is not: the row shows why B1 fails."""
    recs = ch11.verdicts(_ch11(merged_beta=(4.0, 16.0)), Setup.from_params(profile="smoke"))
    b1 = _rows(recs)["B1"][0]
    ln = np.log([0.5, 2.0])
    assert b1["values"][0][1:] == [pytest.approx(0.0, abs=1e-12), pytest.approx(ln.std(ddof=1)), 2]
    assert b1["answer"] is False and recs[0]["verdict"] == "not reproduced"
    assert "no" in recs[0]["sentences"][1] and "failed" in recs[0]["sentences"][-1]


def test_ch11_b1_is_checked_at_every_width_and_a_drifting_ratio_is_not_reproduced(results_dir):
    """Fitted / predicted rising 0.26 -> 1.24 over width: within the factor at the widest width
    (core) but not at every width, and drifting: "partly", with a row per width."""
    beta = [[8 * r * (1 + 0.01 * p) for p in range(2)] for r in (0.26, 0.7, 1.24)]
    res = _ch11()
    for w, b in zip(W, beta):
        res["calib"]["by_width"][str(w)]["merged"]["beta"] = b
    rec = ch11.verdicts(res, Setup.from_params(profile="smoke"))[0]
    assert rec["claim"] == "B1" and rec["verdict"] == "partly"
    widest, every, drift = rec["rows"]
    assert widest["answer"] is True and every["answer"] is False and drift["answer"] is False
    assert len(every["values"]) == len(W) and "0.4055" not in every["rule"]


@pytest.mark.chapters
def test_ch11_run_smoke(smoke_env):
    setup = Setup.from_params(profile="smoke", widths=[1 / 16])
    res = ch11.run(setup, spawn_widths=[1 / 16], lams=5)
    c = res["calib"]
    assert c["n_layers"] == 4 and c["beta_pred"] == 8.0
    for m in ch11.MODELS:
        blk = c["by_width"][str(1 / 16)][m]
        assert len(blk["acc"]) == setup.n_pairs and all(b > 0 for b in blk["beta"])
    many = res["many"]["by_width"][str(1 / 16)]
    assert [len(many[n]) for n in ("2", "3", "4")] == [6, 4, 1]  # subsets of the 4 models
    assert set(res["spawn"]) == {"independent", "spawned"}
    assert len(ch11.findings(res)) == 5
    json.dumps(res)
    v = _by_claim(ch11.verdicts(res, setup))
    assert v[("B3", "11")] == "inconclusive"  # a trend over one width
