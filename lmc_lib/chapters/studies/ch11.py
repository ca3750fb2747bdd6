"""Chapter 11: beyond the paper. Consequences of LEWC (Def 4.1) tested on the main sweep:
data-free calibration (beta = 2^(L-1)), merged model vs output ensemble, merging N > 2 models
without permutations (logits shrink by N^-(L-1)), and spawned pairs (shared initialisation).

`run` returns {"settings", "calib", "many", "spawn"}; per width, lists hold one entry per pair
(calib, spawn) or per subset of the 2 * n_pairs models (many).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, pair_curves, width_label
from lmc_lib.chapters.results import calib_barriers, calib_stat, many_means  # noqa: F401
from lmc_lib.chapters.studies.ch10 import bn_reset, curve_block, merged_half
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.train import evaluate
from lmc_lib.lmc import calibrate as cal
from lmc_lib.lmc import claims, merge

COSTLY = True  # many models per pair: the chapter sweeps the profile's costly_widths

MODELS = ("a", "b", "merged", "ensemble")
SPAWN_WIDTHS = {"smoke": (1 / 16, 1 / 4), "cpu": (1 / 8, 1 / 2, 1), "paper": (1 / 4, 1, 4, 16)}
N_MODELS = (2, 3, 4)


def stats(z, y, split, beta: float | None = None) -> dict:
    """Sec 3.1 on one model's logits (acc, loss, cal_loss, beta); with `beta`: also its pred_cal_loss."""
    out = cal.calibrate(z, y, split=split)
    if beta is not None:
        out["pred_cal_loss"] = cal.calibrated_loss(z[split[1]], y[split[1]], beta)
    return out


def calib_pair(setup: Setup, a, b, x, y, seed: int) -> dict:
    """Endpoints, theta(1/2) and the output ensemble of one pair, on one shared 20/80 split."""
    split = cal.split_indices(len(y), 0.2, seed)
    n_layers = len(a.weight_layers())
    logits = dict(a=evaluate(a, x), b=evaluate(b, x),
                  merged=evaluate(merged_half(setup, a, b, seed), x),
                  ensemble=merge.ensemble_logits([a, b], x))
    beta_pred = 2.0 ** (n_layers - 1)
    return {k: stats(z, y, split, beta_pred if k == "merged" else None) for k, z in logits.items()}


def calibration(setup: Setup) -> dict:
    """(a) + (b): per width, per pair, Sec 3.1 stats of a, b, theta(1/2) and the ensemble."""
    x, y = setup.eval_inputs()
    out = {}
    for w in setup.widths:
        rows = [calib_pair(setup, a, b, x, y, setup.seed_of(i)) for i, (a, b) in enumerate(setup.pairs(w))]
        out[str(w)] = {m: {k: [r[m][k] for r in rows] for k in rows[0][m]} for m in MODELS}
    n_layers = len(setup.pairs(setup.widths[0])[0][0].weight_layers())
    return dict(widths=list(setup.widths), n_layers=n_layers, beta_pred=2.0 ** (n_layers - 1),
                by_width=out)


def many(setup: Setup) -> dict:
    """(c): uniform merges of every subset of size N of the 2 * n_pairs models, per width."""
    x, y = setup.eval_inputs()
    split = cal.split_indices(len(y), 0.2, 0)
    out = {}
    for w in setup.widths:
        models = [m for pair in setup.pairs(w) for m in pair]
        ns = [n for n in N_MODELS if n <= len(models)]
        out[str(w)] = {str(n): [dict(
            merged=stats(evaluate(bn_reset(setup, merge.merge_many(sub), 0), x), y, split),
            ensemble=stats(merge.ensemble_logits(sub, x), y, split))
            for sub in combinations(models, n)] for n in ns}
    n_layers = len(setup.pairs(setup.widths[0])[0][0].weight_layers())
    return dict(widths=list(setup.widths), n_layers=n_layers, by_width=out)


def spawn(setup: Setup, widths, lams: int = 11) -> dict:
    """(d): barriers of independent pairs (main sweep) and spawned pairs (init_seed = 0) per width."""
    s = setup.but(widths=tuple(sorted(widths)))
    kinds = {"independent": {}, "spawned": dict(init_seed=0)}
    return {k: dict(widths=list(s.widths), by_width={
        str(w): curve_block(pair_curves(s, w, "none", lams=lams, **over)) for w in s.widths})
        for k, over in kinds.items()}


@cached_study
def run(setup: Setup, spawn_widths=None, lams: int = 11) -> dict:
    """Every number of chapter 11 (see the module docstring)."""
    spawn_widths = sorted(float(w) for w in (spawn_widths or SPAWN_WIDTHS[setup.profile]))
    settings = dict(profile=setup.profile, dataset=setup.dataset, arch=setup.arch,
                    widths=list(setup.widths), spawn_widths=list(spawn_widths),
                    n_pairs=setup.n_pairs, n_eval=setup.n_eval, lams=lams, title=setup.title())
    return dict(settings=settings, calib=calibration(setup), many=many(setup),
                spawn=spawn(setup, spawn_widths, lams))


# ----------------------------------------------------------------------------- summaries
def _fmt(values) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


def _pct(fraction: float) -> str:
    """A fraction as percent (or a difference of fractions as pp), one decimal."""
    return f"{100 * fraction:.1f}"


def findings(result: dict) -> list[str]:
    """The chapter's findings as sentences built from the numbers (markdown list items)."""
    c, m, sp = result["calib"], result["many"], result["spawn"]
    ws, wl = c["widths"], width_label(c["widths"][-1])
    beta = calib_stat(c, "merged", "beta").mean(0)
    rel = (calib_stat(c, "merged", "beta") / calib_stat(c, "ensemble", "beta")).mean(0)
    ratio, pred = beta[-1] / c["beta_pred"], c["beta_pred"]
    bar = {k: v.mean(0) for k, v in calib_barriers(c).items()}
    acc = {k: calib_stat(c, k, "acc").mean(0) for k in ("ends", "merged", "ensemble")}
    out = [f"Fitted β of θ(1/2) over w = {', '.join(width_label(w) for w in ws)}: {_fmt(beta)}; "
           f"LEWC predicts {pred:g}. At w = {wl} fitted / predicted = {ratio:.2f} (means over pairs); "
           f"β(merged) / β(ensemble) = {rel[-1]:.3g}.",
           f"Loss barrier at λ = 1/2 at w = {wl}: raw {bar['raw'][-1]:.3f}, with the fitted beta "
           f"{bar['fitted'][-1]:.3f}, with the predicted beta (no calibration data) "
           f"{bar['predicted'][-1]:.3f} nats.",
           f"Accuracy (%), endpoints / merged / ensemble: at w = {width_label(ws[0])} "
           f"{_pct(acc['ends'][0])} / {_pct(acc['merged'][0])} / {_pct(acc['ensemble'][0])}; at w = {wl} "
           f"{_pct(acc['ends'][-1])} / {_pct(acc['merged'][-1])} / {_pct(acc['ensemble'][-1])} (ensemble "
           f"minus merged: {_pct(acc['ensemble'][0] - acc['merged'][0])} -> "
           f"{_pct(acc['ensemble'][-1] - acc['merged'][-1])} pp)."]
    out.append(_many_finding(m))
    ind, spn = (np.mean(per_width(sp[k], "cal_barrier"), 0) for k in ("independent", "spawned"))
    out.append("Calibrated barrier at λ = 1/2, independent vs spawned (shared init): "
               + "; ".join(f"w = {width_label(w)}: {i:.3f} vs {s:.3f}"
                           for w, i, s in zip(sp["independent"]["widths"], ind, spn))
               + f"; the mean spawned barrier is below the independent one at {int(np.sum(spn < ind))} "
               f"of {len(ind)} widths.")
    return out


def _many_finding(m: dict) -> str:
    """(c) in one sentence: accuracy and fitted vs predicted beta per N at the largest width."""
    accs, betas = many_means(m, "merged", "acc"), many_means(m, "merged", "beta")
    pred = {n: int(n) ** (m["n_layers"] - 1) for n in betas}
    return (f"Merging N models at w = {width_label(m['widths'][-1])}: accuracy (%) "
            + "; ".join(f"N = {n}: {_pct(v[-1])}" for n, v in accs.items()) + "; fitted beta "
            + "; ".join(f"N = {n}: {v[-1]:.3g} (predicted {pred[n]})" for n, v in betas.items())
            + " (means over the subsets of N models).")


def per_width(study: dict, key: str) -> np.ndarray:
    """[pairs, widths] of a curve-block barrier at lam = 1/2."""
    return np.array([study["by_width"][str(w)][key]["half"] for w in study["widths"]]).T


BETA_FACTOR = 1.5  # "predicted beta holds": fitted within this factor of N^(L-1) either way (B1,
#                    B4; book convention, fixed before the runs: half the factor 2 of one layer)
BEYOND = {
    "B1": "LEWC predicts the merged model's temperature: β of θ(1/2) is about $2^{L-1}$",
    "B2": "Calibration without data: β = $2^{L-1}$ lowers θ(1/2)'s loss barrier below the raw one",
    "B3": "The merged model's accuracy approaches the output ensemble's as width grows",
    "B4": "Merging N models without permutations: β of the uniform merge is about $N^{L-1}$",
    "B5": "Spawned pairs (shared initialisation) have lower calibrated barriers than independent ones",
}


def _judged(found: dict, core=None) -> claims.Judgement:
    """{check: (answer, row)} -> a Judgement (core: these names; None: every check) with one row
    per check."""
    return claims.judgement({k: a for k, (a, _) in found.items()}, core,
                            {k: dict(row, check=k) for k, (_, row) in found.items()})


def _b1(c: dict) -> claims.Judgement:
    """B1 at every width (spread rules): core, fitted beta within BETA_FACTOR of 2^(L-1) at the
    widest width; also within it at every width, and fitted / predicted without a trend over width
    (two-sided rank test: the prediction does not depend on width)."""
    ws, pred = c["widths"], c["beta_pred"]
    rel = np.log(calib_stat(c, "merged", "beta") / pred)  # [pairs, widths]
    wl, tol = [f"w = {width_label(w)}" for w in ws], float(np.log(BETA_FACTOR))
    q, factor = f"ln(fitted β of θ(1/2) / {pred:g})", claims.factor_text(BETA_FACTOR)
    widest = f"β at λ = 1/2 within a factor {BETA_FACTOR} of {pred:g} at {wl[-1]}"
    return _judged({
        widest: claims.level_row("", "within", rel[:, -1], tol, f"{q} at {wl[-1]}", level_text=factor),
        f"within a factor {BETA_FACTOR} of {pred:g} at every width": claims.level_row(
            "", "within", list(rel.T), tol, q, wl, level_text=factor),
        "fitted / predicted β does not drift with width": claims.trend_row(
            "", "none", ws, list(rel.T), q, wl)}, core=[widest])


def _beyond(result: dict) -> dict:
    """{B-id: Judgement} of chapter 11's findings: the rules and rows of lmc_lib.lmc.claims."""
    c, m, sp = result["calib"], result["many"], result["spawn"]
    ws, at, tol = c["widths"], f"w = {width_label(c['widths'][-1])}", float(np.log(BETA_FACTOR))
    bars = calib_barriers(c)
    gap = calib_stat(c, "ensemble", "acc") - calib_stat(c, "merged", "acc")
    last = f"w = {width_label(m['widths'][-1])}"
    subsets = m["by_width"][str(m["widths"][-1])]
    pred_n = {n: int(n) ** (m["n_layers"] - 1) for n in subsets}
    ind, spn = (per_width(sp[k], "cal_barrier") for k in ("independent", "spawned"))
    wl = [f"w = {width_label(w)}" for w in sp["independent"]["widths"]]
    return {
        "B1": _b1(c),
        "B2": _judged({f"predicted-β barrier below the raw barrier at {at}": claims.level_row(
            "", "above", bars["raw"][:, -1] - bars["predicted"][:, -1], 0.0,
            f"raw minus predicted-β loss barrier at λ = 1/2, {at}", unit="nats")}),
        "B3": _judged({"ensemble minus merged accuracy falls with width": claims.trend_row(
            "", "falls", ws, gap.T, "output ensemble minus merged accuracy",
            [f"w = {width_label(w)}" for w in ws], 100, "pp")}),
        "B4": _judged({f"β within a factor {BETA_FACTOR} of $N^{{L-1}}$ for N = {n} at the largest width":
                       claims.level_row("", "within", np.log([s["merged"]["beta"] / pred_n[n]
                                                              for s in subsets[n]]), tol,
                                        f"ln(fitted β of the N = {n} merge / {pred_n[n]}) at {last}, "
                                        f"over its {len(subsets[n])} subset(s) of models",
                                        level_text=claims.factor_text(BETA_FACTOR))
                       for n in pred_n}),
        "B5": _judged({"spawned below independent calibrated barrier at every width": claims.level_row(
            "", "above", [i - s for i, s in zip(ind.T, spn.T)], 0.0,
            "independent minus spawned calibrated-loss barrier at λ = 1/2", wl, unit="nats")})}


def verdicts(result: dict, setup: Setup) -> list[dict]:
    """Beyond the paper: findings B1-B5 judged like the paper's claims (checks, rows, sentences)."""
    out = []
    for (b, j), text in zip(_beyond(result).items(), findings(result)):
        j = j._replace(sentences=(text,) + j.sentences)  # the finding, each check, the verdict
        out.append(report.record_verdict(b, "11", setup.profile, j.checks, {"finding": text.rstrip(".")},
                                         setting=report.setting_of(setup), verdict=j.verdict,
                                         statement=BEYOND[b], dataset=setup.dataset, judgement=j))
    return out


def plan(setup: Setup) -> list:
    """The TrainConfigs run(setup) asks for: the main sweep, independent and spawned pairs."""
    from lmc_lib.chapters.plan import pair_configs
    sw = sorted(float(w) for w in SPAWN_WIDTHS[setup.profile])
    return pair_configs(setup) + pair_configs(setup, sw) + pair_configs(setup, sw, init_seed=0)
