"""Studies of chapters 1-3 (lmc_lib.chapters.studies.ch01-03) and their figures (lmc_lib.chapters.plots.paths)."""
import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from lmc_lib.chapters import record  # noqa: E402
from lmc_lib.chapters.experiment import Setup  # noqa: E402
from lmc_lib.chapters.plots import paths  # noqa: E402
from lmc_lib.chapters.studies import ch01, ch02, ch03  # noqa: E402
from lmc_lib.chapters.studies.ch02 import wkey  # noqa: E402
from lmc_lib.core.models import build_model  # noqa: E402
from lmc_lib.lmc import merge  # noqa: E402
from lmc_lib.matching import perm  # noqa: E402


@pytest.fixture(scope="module")
def env(_smoke_dirs):
    """Smoke setup (one pair) with the session's temporary model cache and results folder."""
    cache, results = _smoke_dirs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LMC_CACHE", str(cache))
        mp.setenv("LMC_RESULTS", str(results))
        yield Setup.from_params(profile="smoke", device="cpu", n_pairs=1)  # pair 0: shared with test_book


@pytest.fixture(scope="module")
def r02(env):
    return ch02.run(env)


def test_ch02_run_has_one_entry_per_width_and_valid_values(env, r02):
    assert r02["widths"] == list(env.widths) and r02["matchings"] == ["none", "wm"]
    assert r02["lams"][0] == 0 and r02["lams"][-1] == 1 and 0.5 in r02["lams"] and len(r02["lams"]) == 11
    for m in ("none", "wm"):
        assert set(r02[m]) == {wkey(w) for w in env.widths}
        for s in r02[m].values():
            acc = np.asarray(s["acc"])
            assert acc.shape == (env.n_pairs, 11) and np.all((acc >= 0) & (acc <= 1))
            assert np.all(np.asarray(s["beta"]) > 0) and np.all(np.asarray(s["loss"]) > 0)
            assert np.all(np.asarray(s["cal_barrier_max"]) >= 0)
            assert np.allclose(np.asarray(s["beta"]) * np.asarray(s["inv_beta"]), 1)
    # WM permutes model b only: the endpoints compute the same functions with or without it
    for w in env.widths:
        a, b = (np.asarray(r02[m][wkey(w)]["acc"]) for m in ("none", "wm"))
        assert np.allclose(a[:, [0, -1]], b[:, [0, -1]])
    assert "weight matching" in ch02.table1_markdown(r02)


def test_ch03_run_holds_n_perms_draws_per_pair(env, r02):
    r = ch03.run(env, n_perms=2)
    assert r["lams"] == [0, 0.25, 0.5, 0.75, 1]
    for w in env.widths:
        assert len(r["random"][wkey(w)]["acc"]) == 2 * env.n_pairs
        half02 = np.asarray(r02["none"][wkey(w)]["acc"])[:, 5]  # same models, same split as ch02
        assert np.allclose(np.asarray(r["none"][wkey(w)]["acc"])[:, 2], half02)
    assert np.asarray(ch03.pair_means(r, "random", "acc_half")).shape == (len(env.widths), env.n_pairs)
    assert len(ch03.verdicts(r, env)) == 1
    assert paths.random_permutations(r, "t") is not None


def test_ch01_symmetry_check_keeps_logits_and_moves_parameters(env):
    r = ch01.run(env, count_widths=(0.25, 16))
    s = r["symmetry"]
    assert s["max_abs_logit_diff"] < 1e-4 and s["acc"] == s["acc_permuted"]
    assert s["dist_permuted"] > 0.1 * s["param_norm"] and s["units_moved"] > 0
    counts = r["param_counts"]
    assert set(counts) == {"mlp", "vgg11", "resnet20"}
    assert counts["mlp"][wkey(16)] > counts["mlp"][wkey(0.25)] > 0
    assert r["example"]["lams"][5] == 0.5 and len(r["example"]["acc"]) == 1
    assert ch01.verdicts(r, env) == []
    assert "ResNet-20" in ch01.param_table(r)


def test_figures_draw_from_a_result(r02):
    for fig in (paths.accuracy_vs_lam(r02, "t"), paths.accuracy_vs_lam(r02, "t", "wm"),
                paths.loss_vs_lam(r02, "t"), paths.barriers_vs_width(r02, "t"),
                paths.beta_vs_width(r02, "t")):
        assert fig.axes and fig.axes[0].get_xlabel()


def test_a_recorded_result_survives_json_and_draws(env, r02):
    rec = dict(chapter="02", provenance=record.provenance(env, 1.0),
               result=json.loads(json.dumps(r02, default=float)))
    title = record.recorded_title(rec)
    assert "RECORDED" in title and "smoke" in title
    assert paths.barriers_vs_width(rec["result"], title) is not None
    assert ch02.means(rec["result"], "wm", "acc_half") == ch02.means(r02, "wm", "acc_half")


def test_a_record_without_weight_matching_draws_and_judges(env, r02):
    """`record --matchings none` (a paper record within one lease): the chapter's record figures,
    Table 1 and verdicts need only the no-permutation paths, and they equal the full run's."""
    none = ch02.run(env, matchings=("none",))
    assert none["matchings"] == ["none"] and "wm" not in none and none["none"] == r02["none"]
    for fig in (paths.accuracy_vs_lam(none, "t"), paths.loss_vs_lam(none, "t"),
                paths.barriers_vs_width(none, "t"), paths.beta_vs_width(none, "t")):
        assert fig.axes and fig.axes[0].get_xlabel()
    table = ch02.table1_markdown(none)
    assert "no permutation" in table and "weight matching" not in table
    verdict = {v["claim"]: v["verdict"] for v in ch02.verdicts(none, env)}
    assert verdict == {v["claim"]: v["verdict"] for v in ch02.verdicts(r02, env)}


def test_permuting_both_models_equals_permuting_one():
    """Ch 3's remark: merge(P a, Q b) = P merge(a, P^-1 Q b), so the merged logits agree."""
    torch.manual_seed(0)
    a, b = build_model("mlp", 1 / 16), build_model("mlp", 1 / 16)
    spec = perm.spec_for(a)
    p, q = perm.random_permutation(spec, 1), perm.random_permutation(spec, 2)
    r = {g: q[g][torch.argsort(p[g])] for g in spec.groups}  # applying r then p equals applying q
    both = merge.interpolate(perm.apply_permutation(spec, a, p), perm.apply_permutation(spec, b, q), 0.5)
    one = merge.interpolate(a, perm.apply_permutation(spec, b, r), 0.5)
    x = torch.randn(16, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(both(x), one(x), atol=1e-5)


def _fake02(widths, acc_half, acc_end, cal, raw, beta_half, beta_end):
    """A hand-made ch02 result (2 identical pairs, lam grid 0, 1/2, 1)."""
    res = dict(widths=widths, lams=[0.0, 0.5, 1.0], n_pairs=2, matchings=["none"])
    res["none"] = {wkey(w): dict(acc=[[e, h, e]] * 2, beta=[[be, bh, be]] * 2, cal_barrier_max=[c] * 2,
                                 loss_barrier_max=[r] * 2)
                   for w, h, e, c, r, bh, be in zip(widths, acc_half, acc_end, cal, raw, beta_half, beta_end)}
    return res


def test_ch02_verdicts_follow_the_numbers(env, tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    ws = [0.25, 0.5, 1.0]
    good = _fake02(ws, [0.6, 0.8, 0.89], [0.9] * 3, [0.3, 0.1, 0.01], [0.5] * 3, [2, 4, 7], [1] * 3)
    assert [v["verdict"] for v in ch02.verdicts(good, env)] == ["reproduced"] * 3
    bad = _fake02(ws, [0.8, 0.7, 0.6], [0.9] * 3, [0.1, 0.3, 0.6], [0.5] * 3, [4, 2, 0.5], [1] * 3)
    assert [v["verdict"] for v in ch02.verdicts(bad, env)] == ["not reproduced"] * 3
    one = _fake02([1.0], [0.9], [0.9], [0.0], [0.5], [8], [1])
    assert {v["verdict"] for v in ch02.verdicts(one, env)} == {"inconclusive"}


def _fake03(widths, acc_none, acc_random, cal_random, cal_wm):
    """A hand-made ch03 result (2 pairs, 1 random draw each, endpoints at 0.9)."""
    res = dict(widths=widths, lams=[0.0, 0.5, 1.0], n_pairs=2, n_perms=1, matchings=["none", "random", "wm"])
    for m, accs, cals in (("none", acc_none, cal_random), ("random", acc_random, cal_random),
                          ("wm", acc_none, cal_wm)):
        res[m] = {wkey(w): dict(acc=[[0.9, a - 0.002, 0.9], [0.9, a + 0.002, 0.9]], cal_barrier_max=[c] * 2)
                  for w, a, c in zip(widths, accs, cals)}
    return res


def test_ch03_verdicts_follow_the_numbers(env, tmp_path, monkeypatch):
    monkeypatch.setenv("LMC_RESULTS", str(tmp_path))
    ws = [0.25, 0.5, 1.0]
    good = _fake03(ws, [0.5, 0.7, 0.88], [0.3, 0.65, 0.879], [0.5, 0.3, 0.1], [0.1, 0.05, 0.02])
    assert ch03.verdicts(good, env)[0]["verdict"] == "reproduced"
    bad = _fake03(ws, [0.5, 0.7, 0.88], [0.3, 0.5, 0.6], [0.1, 0.2, 0.3], [0.2, 0.1, 0.0])
    assert ch03.verdicts(bad, env)[0]["verdict"] == "not reproduced"
    assert ch03.verdicts(_fake03([1.0], [0.9], [0.9], [0.1], [0.0]), env)[0]["verdict"] == "inconclusive"
