"""Tests for lmc_lib.chapters.hypothesis and the merge helpers a chapter of your own uses (constructed cases)."""
import math
import sys

import pytest
import torch

from lmc_lib.chapters import hypothesis as hyp
from lmc_lib.chapters.experiment import Setup
from lmc_lib.core.data import Dataset
from lmc_lib.core.models import build_model
from lmc_lib.core.utils import LmcError
from lmc_lib.lmc.merge import MergeError, ensemble_logits, ensemble_probs, merged_model, reset_bn_on_data
from lmc_lib.matching.perm import apply_permutation, random_permutation, spec_for

SMALL = dict(arch="mlp", width=1 / 16, image_size=8)


def model(seed=0, **kw):
    torch.manual_seed(seed)
    return build_model(**{**SMALL, **kw}).eval()


class Fixed(torch.nn.Module):
    """A 'model' whose logits are a fixed table (row i for input i)."""

    def __init__(self, logits):
        super().__init__()
        self.table = torch.nn.Parameter(torch.as_tensor(logits, dtype=torch.float32), requires_grad=False)

    def forward(self, x):
        return self.table[x[:, 0].long()]


def inputs(n):
    return torch.arange(n, dtype=torch.float32)[:, None]


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (400, 1, 8, 8), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (400,), generator=g)
    return Dataset("random", x, y, x[:200].clone(), y[:200].clone(), (0.5,), (0.29,), 10,
                   tuple("0123456789"))


def test_kl_of_identical_distributions_is_zero_and_positive_otherwise():
    p = torch.softmax(torch.randn(50, 10, generator=torch.Generator().manual_seed(1)).double(), 1)
    assert hyp.kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    q = torch.full_like(p, 0.1)
    expect = float((p * (p / q).log()).sum(1).mean())
    assert hyp.kl_divergence(p, q) == pytest.approx(expect, rel=1e-9) and expect > 0


def test_kl_and_agreement_reject_bad_input():
    with pytest.raises(LmcError, match="not logits"):
        hyp.kl_divergence(torch.randn(4, 3), torch.full((4, 3), 1 / 3))
    with pytest.raises(LmcError, match="same shape"):
        hyp.kl_divergence(torch.full((4, 3), 1 / 3), torch.full((5, 3), 1 / 3))
    with pytest.raises(LmcError, match="one shape"):
        hyp.agreement(torch.zeros(4, 3), torch.zeros(4, 2))


def test_probability_ensemble_of_two_one_hot_models():
    big = 30.0  # softmax of these logits is one-hot up to e^-30
    a = Fixed([[big, 0, 0], [0, big, 0]])
    b = Fixed([[0, big, 0], [0, big, 0]])
    x = inputs(2)
    probs = ensemble_probs([a, b], x)
    assert torch.allclose(probs, torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0]]), atol=1e-6)
    c = Fixed([[big, 0, 0], [0, 0, big]])
    skew = ensemble_probs([a, c], x)
    lavg = torch.softmax(ensemble_logits([a, c], x), 1)
    assert skew[1, 1] == pytest.approx(0.5, abs=1e-6) and lavg[1, 1] == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(MergeError, match="at least one"):
        ensemble_probs([], x)


def test_probability_and_logit_ensembles_differ_for_unequal_confidence():
    a = Fixed([[4.0, 0.0]])
    b = Fixed([[0.0, 1.0]])
    x = inputs(1)
    pa, pb = torch.softmax(torch.tensor([4.0, 0.0]), 0), torch.softmax(torch.tensor([0.0, 1.0]), 0)
    assert torch.allclose(ensemble_probs([a, b], x)[0], (pa + pb) / 2, atol=1e-6)
    assert torch.allclose(torch.softmax(ensemble_logits([a, b], x)[0], 0),
                          torch.softmax(torch.tensor([2.0, 0.5]), 0), atol=1e-6)


def test_compare_to_ensemble_of_itself():
    m = model(0)
    x = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    out = hyp.compare_to_ensemble(m, [m, m], x)
    assert out["kl"] == pytest.approx(0.0, abs=1e-6) and out["agreement"] == 1.0 and out["beta"] == 1.0


def test_compare_to_ensemble_with_disagreeing_models_and_calibration():
    a = Fixed([[3.0, 0.0]] * 10 + [[0.0, 3.0]] * 10)
    b = Fixed([[0.0, 3.0]] * 20)
    x = inputs(20)
    out = hyp.compare_to_ensemble(a, [b], x)
    assert out["agreement"] == pytest.approx(0.5) and out["kl"] > 1.0
    y = torch.tensor([0] * 10 + [1] * 10)
    y[::4] = 1 - y[::4]  # a quarter of a's answers are wrong: the fitted beta is finite
    cal = hyp.compare_to_ensemble(a, [a, b], x, y, calib_frac=0.5, seed=0)
    assert cal["beta"] != 1.0 and 0.0 < cal["kl"] and 0 <= cal["agreement"] <= 1


def test_merged_model_resets_bn_to_batch_statistics(data):
    a, b = model(0, variant="bn"), model(1, variant="bn")
    a.bns[0].running_mean.fill_(3.0)  # interpolated running stats are then visibly wrong
    with pytest.raises(MergeError, match="bn_data"):
        merged_model(a, b, 0.5)
    n = len(data.x_train)
    m = merged_model(a, b, 0.5, bn_data=data, bn_batches=1, bn_batch_size=n)  # one batch: all images
    probe = merged_model(a, b, 0.5, bn_data=data, bn_batches=1, bn_batch_size=n).train()
    with torch.no_grad():
        layers = probe.readout(data.normalize(data.x_train))
    assert not m.training
    for l, bn in enumerate(m.bns):
        assert torch.allclose(bn.running_mean, layers[l].pre.mean(0), atol=1e-5), l
        assert torch.allclose(bn.running_var, layers[l].pre.var(0), rtol=1e-4, atol=1e-6), l
    assert not torch.allclose(m.bns[0].running_mean, torch.full_like(m.bns[0].running_mean, 1.5),
                              atol=0.1)


def test_merged_model_without_bn_is_the_interpolation_and_takes_a_perm():
    a, b = model(0), model(1)
    m = merged_model(a, b, 0.3)
    for k, v in m.state_dict().items():
        assert torch.allclose(v, 0.3 * a.state_dict()[k] + 0.7 * b.state_dict()[k], atol=1e-6), k
    p = random_permutation(spec_for(b), seed=3)
    permuted = apply_permutation(spec_for(b), b, p)
    mp = merged_model(a, b, 0.3, perm=p)
    for k, v in mp.state_dict().items():
        assert torch.allclose(v, 0.3 * a.state_dict()[k] + 0.7 * permuted.state_dict()[k], atol=1e-6), k
    with pytest.raises(MergeError, match="lam"):
        merged_model(a, b, 1.5)


def test_reset_bn_on_data_checks_its_input(data):
    m = model(0)
    assert reset_bn_on_data(m, data) is m
    with pytest.raises(MergeError, match="Dataset"):
        reset_bn_on_data(model(0, variant="bn"), data.normalize(data.x_train))


def test_mean_std_and_per_pair():
    assert hyp.mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert hyp.mean_std([5.0]) == (5.0, 0.0)
    with pytest.raises(LmcError):
        hyp.mean_std([])
    swept = {0.5: [{"kl": 1.0}, {"kl": 2.0}], 1.0: [{"kl": 3.0}, {"kl": 4.0}]}
    assert hyp.per_pair(swept, "kl").tolist() == [[1.0, 3.0], [2.0, 4.0]]
    with pytest.raises(LmcError, match="same number of pairs"):
        hyp.per_pair({0.5: [1.0], 1.0: [1.0, 2.0]})


def test_sweep_calls_fn_per_width_and_pair(monkeypatch):
    setup = Setup.from_params(profile="smoke", widths=[0.25, 0.5], n_pairs=2, device="cpu")
    fake = {w: [(f"a{w}{i}", f"b{w}{i}") for i in range(2)] for w in setup.widths}
    monkeypatch.setattr(Setup, "pairs", lambda self, w, **kw: fake[w])
    out = hyp.sweep(setup, lambda a, b, i: (a, b, i))
    assert list(out) == [0.25, 0.5]
    assert out[0.5] == [("a0.50", "b0.50", 0), ("a0.51", "b0.51", 1)]
    assert list(hyp.sweep(setup, lambda a, b, i: i, widths=[0.5])) == [0.5]
    assert hyp.per_pair(hyp.sweep(setup, lambda a, b, i: 10 * i)).tolist() == [[0, 0], [10, 10]]


# ---------------------------------------------------------------- another recipe, barriers, figures

SMOKE = dict(profile="smoke", widths=[0.0625, 0.25], n_pairs=2, device="cpu")


def test_trained_with_changes_the_recipe_only_and_checks_it_first():
    setup = Setup.from_params(**SMOKE)
    sgd = hyp.trained_with(setup, optimizer="sgd", lr=0.05, momentum=0.5, nesterov=False)
    a, b = setup.config(0.25, seed=1), sgd.config(0.25, seed=1)
    assert (b.optimizer, b.lr, b.momentum, b.nesterov) == ("sgd", 0.05, 0.5, False)
    assert (a.width, a.seed, a.epochs, a.n_train) == (b.width, b.seed, b.epochs, b.n_train)
    assert a.key() != b.key() and sgd.widths == setup.widths
    with pytest.raises(LmcError, match=r"\['optimiser'\] is not a training setting.*'momentum'"):
        hyp.trained_with(setup, optimiser="sgd")
    with pytest.raises(LmcError, match="width"):
        hyp.trained_with(setup, width=2.0)
    with pytest.raises(LmcError, match="'sgd' only"):
        hyp.trained_with(setup, momentum=0.5)  # Adam has no momentum setting


def test_barriers_evaluate_three_points_per_pair_and_are_cached(monkeypatch, tmp_path):
    from lmc_lib.lmc.merge import Curve

    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    monkeypatch.setenv("LMC_STUDY_CACHE", "1")
    seen = []

    def curves(setup, width, matching, lams):  # a convex-ish fake path, known barriers at 1/2
        seen.append((width, matching, tuple(lams)))
        return [Curve([dict(lam=x, acc=0.9 - 0.2 * (x == 0.5) * (1 + i), loss=0.3 + width * (x == 0.5),
                            cal_loss=0.2 + 0.1 * (x == 0.5), beta=1.0 + x, inv_beta=1.0) for x in lams])
                for i in range(setup.n_pairs)]
    monkeypatch.setattr(hyp, "pair_curves", curves)
    setup = Setup.from_params(**SMOKE)
    out = hyp.barriers(setup)
    assert seen == [(w, "none", (0.0, 0.5, 1.0)) for w in setup.widths]
    assert out["widths"] == list(setup.widths) and out["loss"].shape == (2, 2)
    assert out["loss"][0].tolist() == pytest.approx(list(setup.widths))
    assert out["acc"][:, 0].tolist() == pytest.approx([0.2, 0.4])  # pair 1's dip is twice pair 0's
    assert out["cal_loss"] == pytest.approx(0.1) and out["beta"] == pytest.approx(1.5)
    again = hyp.barriers(setup)
    assert len(seen) == 2 and all((again[k] == out[k]).all() for k in ("acc", "loss", "cal_loss"))
    with pytest.raises(LmcError, match="0, 0.5 and 1"):
        hyp.barriers(setup, lams=(0, 0.25, 1))


def test_plot_compare_draws_every_series_in_one_panel():
    import matplotlib.pyplot as plt

    vals = torch.tensor([[1.0, 2.0, 3.0], [1.5, 2.5, 3.5]]).numpy()
    fig = hyp.plot_compare({"Adam": vals, "SGD": vals / 2}, [0.25, 0.5, 1.0], "barrier", "a title")
    (ax,) = [a for a in fig.axes if a.get_visible() and a.axison]
    (legend,) = list(fig.legends) + [a.get_legend() for a in fig.axes if a.get_legend()]
    assert [t.get_text() for t in legend.get_texts()] == ["Adam", "SGD"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1/4", "1/2", "1"]
    plt.close(fig)
    with pytest.raises(LmcError, match="'SGD' has 2 widths, expected 3"):
        hyp.plot_compare({"SGD": vals[:, :2]}, [0.25, 0.5, 1.0], "barrier", "")


# ---------------------------------------------------------------- a cached study of one's own

LAM = 0.5
CALLS = []


def helper(x):
    return x * LAM


def study_fn(setup):
    CALLS.append(1)  # an accumulator it mutates is not one of its inputs
    return helper(2.0)


def test_own_study_key_sees_its_helpers_and_the_values_it_reads(monkeypatch):
    import sys

    from lmc_lib.chapters import studycache

    key = studycache.own_source(study_fn)
    assert studycache.own_source(study_fn) == key
    CALLS.append(1)
    assert studycache.own_source(study_fn) == key  # the accumulator changed, the key did not
    monkeypatch.setattr(sys.modules[__name__], "LAM", 0.25)
    assert studycache.own_source(study_fn) != key  # a parameter the helper reads
    monkeypatch.undo()
    namespace = {}
    exec("def helper(x):\n    return x\n\ndef study_fn(setup):\n    return helper(2.0)\n", namespace)
    first = studycache.own_source(namespace["study_fn"])
    exec("def helper(x):\n    return x + 1\n", namespace)
    assert studycache.own_source(namespace["study_fn"]) != first  # an edited helper


def test_cached_study_depends_joins_a_helper_reached_indirectly(monkeypatch, tmp_path):
    from lmc_lib.chapters import studycache

    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    monkeypatch.setenv("LMC_STUDY_CACHE", "1")
    ns = {"__name__": "__main__"}
    code = ("RUNS = []\nTABLE = {}\n"
            "def helper():\n    return {v}\n"
            "TABLE['h'] = helper\n"
            "def study(setup):\n    RUNS.append(1)\n    return TABLE['h']()\n")
    exec(code.replace('{v}', '1'), ns)
    setup = Setup.from_params(**SMOKE)
    plain, tracked = studycache.cached_study(ns["study"]), studycache.cached_study(depends=(ns["helper"],))(ns["study"])
    assert plain(setup) == tracked(setup) == 1 and len(ns["RUNS"]) == 2
    exec("def helper():\n    return 2\nTABLE['h'] = helper\n", ns)
    assert plain(setup) == 1  # the helper is reached through a dict: unseen without depends
    tracked = studycache.cached_study(depends=(ns["helper"],))(ns["study"])
    assert tracked(setup) == 2 and len(ns["RUNS"]) == 3


def test_trained_with_prints_its_estimate_and_refuses_above_the_limit(monkeypatch, tmp_path, capsys):
    from lmc_lib.chapters import guard

    monkeypatch.setenv("LMC_CACHE", str(tmp_path))
    monkeypatch.setattr("sys.__stderr__", sys.stderr)
    monkeypatch.setattr(guard, "estimate", lambda configs, device: (600.0 * len(configs), len(configs), {}))
    monkeypatch.setenv("MAX_TRAIN_MINUTES", "0")
    setup = Setup.from_params(**SMOKE)
    hyp.trained_with(setup, optimizer="sgd", lr=0.05)
    err = capsys.readouterr().err
    assert "training [sgd lr=0.05 momentum=0.9 nesterov" in err and "8 of 8 models to train" in err
    monkeypatch.setenv("MAX_TRAIN_MINUTES", "60")  # 8 x 10 min estimated: above an hour
    with pytest.raises(guard.TooLong, match="max_train_minutes"):
        hyp.trained_with(setup, optimizer="sgd", lr=0.05)
