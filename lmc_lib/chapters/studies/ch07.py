"""Chapter 7 (paper Sec 5.4, App F.9, Fig 9, 10, 23): weaker weight decay breaks LEWC and LMC.

One width, a sweep over the weight-decay coefficient. Per weight decay and pair: the merged path
(accuracy, calibrated loss), its barriers at lam = 1/2, the per-layer LEWC cosine (Def 4.1), the
weak-additivity cosine (Def 5.1), the reciprocal-orthogonality ratio (Def 5.2) and the effective rank
of every weight matrix (probes_flat.effective_ranks). The main weight decay (3e-3) shares its
models with the main width sweep.
"""
from __future__ import annotations

import numpy as np

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, pair_curves, width_label
from lmc_lib.chapters.results import per_pair as main_pairs
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.config import book_settings
from lmc_lib.lmc import barriers, claims, merge, probes, probes_flat

CHAPTER = "07"


def default_wd_width(setup: Setup) -> float:
    """The sweep's width: the widest setup width <= 1/2 (CPU budget), else the narrowest."""
    return max([w for w in setup.widths if w <= 0.5] or [min(setup.widths)])


def _max_rank(layer) -> int:
    """The largest possible rank of a weight layer: min(outputs, inputs * kernel taps)."""
    w = layer.weight
    return min(w.shape[0], w[0].numel())


def _pair_probes(a, b, x) -> dict:
    """Def 4.1, 5.1, 5.2 per layer and effective ranks (mean of the two models) for one pair."""
    merged = merge.interpolate(a, b, 0.5)
    ro_ab, ro_ba = probes.reciprocal_orthogonality(a, b, x)
    ranks = (probes_flat.effective_ranks(a) + probes_flat.effective_ranks(b)) / 2
    full = np.asarray([_max_rank(m) for m in a.weight_layers()], dtype=float)
    return dict(lewc=probes.lewc_cosine(a, b, merged, x).tolist(),
                weak_additivity=probes.weak_additivity_cosine(a, b, x).tolist(),
                ro_ratio=((ro_ab + ro_ba) / 2).tolist(),
                eff_rank=ranks.tolist(), eff_rank_rel=(ranks / full).tolist())


def _one_wd(setup: Setup, width: float, wd: float, lams, x) -> dict:
    """Everything the chapter shows for one weight decay: curves, barriers, probes, per pair."""
    curves = pair_curves(setup, width, "none", lams, weight_decay=wd)
    out = dict(lam=curves[0].column("lam").tolist(),
               acc=[c.column("acc").tolist() for c in curves],
               cal_loss=[c.column("cal_loss").tolist() for c in curves],
               acc_barrier=[barriers.accuracy_barrier(c)["half"] for c in curves],
               cal_barrier=[barriers.loss_barrier(c, which="cal_loss")["half"] for c in curves],
               end_acc=[float((c.column("acc")[0] + c.column("acc")[-1]) / 2) for c in curves])
    per_pair = [_pair_probes(a, b, x) for a, b in setup.pairs(width, weight_decay=wd)]
    for key in per_pair[0]:
        out[key] = [p[key] for p in per_pair]
    return out


@cached_study
def run(setup: Setup, wd_width: float | None = None, wd_values=None, lams=11) -> dict:
    """Fig 9, 10, 23 and effective ranks: {str(wd): measurements} at one width."""
    width = float(wd_width) if wd_width else default_wd_width(setup)
    wds = sorted(float(v) for v in (wd_values or book_settings(setup.profile)["wd_sweep"]))
    x, _ = setup.eval_inputs()
    per_wd = {str(wd): _one_wd(setup, width, wd, lams, x) for wd in wds}
    return dict(width=width, weight_decays=wds, per_wd=per_wd, n_pairs=setup.n_pairs,
                n_eval=len(x), profile=setup.profile, arch=setup.arch, dataset=setup.dataset)


def summary(result: dict) -> dict:
    """Per weight decay (ascending): mean over pairs (and layers) of each quantity."""
    keys = ("acc_barrier", "cal_barrier", "end_acc", "lewc", "weak_additivity", "ro_ratio",
            "eff_rank", "eff_rank_rel")
    per = [result["per_wd"][str(wd)] for wd in result["weight_decays"]]
    return {k: [float(np.nanmean(p[k])) for p in per] for k in keys}


def per_pair(result: dict, key: str) -> list:
    """[weight decays][pairs] of `key`, per-layer quantities averaged over layers."""
    return [[float(np.nanmean(v)) for v in result["per_wd"][str(wd)][key]]
            for wd in result["weight_decays"]]


def main_weight_decay(result: dict, setup: Setup) -> float:
    """The main runs' weight decay (the setup's, the paper's 3e-3 by default) when it was swept,
    else the largest swept value."""
    wd = float(setup.config(result["width"]).weight_decay)
    return wd if wd in result["weight_decays"] else max(result["weight_decays"])


def logits_pairs(result: dict, key: str = "lewc") -> list:
    """[weight decays][pairs] of a per-layer probe at the last layer (the logits)."""
    return [[float(v[-1]) for v in result["per_wd"][str(wd)][key]] for wd in result["weight_decays"]]


def verdicts(result: dict, setup: Setup) -> list[dict]:
    """C8 (claims.c8): premise, LMC at the main weight decay at this width; then weaker weight
    decay -> larger barriers, weaker LEWC at the logits (core), weaker WA / RO, higher rank."""
    wds, s = result["weight_decays"], summary(result)
    keys = ("acc_barrier", "cal_barrier", "lewc", "weak_additivity", "ro_ratio", "eff_rank")
    j = claims.c8(wds, *(per_pair(result, k) for k in keys), lewc_logits=logits_pairs(result),
                  main_wd=main_weight_decay(result, setup))
    measured = dict(width=result["width"], weight_decays=wds, **{k: s[k] for k in keys})
    return [report.record_verdict("C8", CHAPTER, setup.profile, j.checks, measured,
                                  setting=report.setting_of(setup, [result["width"]]),
                                  verdict=j.verdict, judgement=j, dataset=setup.dataset)]


# The paper states both directions of the barrier's dependence on weight decay (paraphrased):
PAPER_DIRECTIONS = {
    "falls": "Sec. 5.4 (with weak weight decay the merged models have large barriers: the barrier "
             "falls as weight decay grows)",
    "rises": "App. F.9 (for wide enough models a smaller weight decay gives smaller barriers: the "
             "barrier rises as weight decay grows)"}


def barrier_direction(result: dict, key: str) -> tuple[str, float]:
    """('falls' | 'rises' | 'neither' | 'cannot tell', p of the direction found or the smaller
    one-sided p): the rank test of a barrier against weight decay over all (wd, pair) points."""
    up, down, p_min = claims.trend_test(result["weight_decays"], per_pair(result, key))
    if p_min > claims.ALPHA:
        return "cannot tell", p_min
    if down <= claims.ALPHA:
        return "falls", down
    return ("rises", up) if up <= claims.ALPHA else ("neither", min(up, down))


def directions_sentence(result: dict, label: str) -> str:
    """Which of the paper's two sentences a run's barriers support, from their rank tests."""
    parts = []
    for key, name in (("acc_barrier", "accuracy barrier"), ("cal_barrier", "calibrated-loss barrier")):
        found, p = barrier_direction(result, key)
        says = (f"supports {PAPER_DIRECTIONS[found]}" if found in PAPER_DIRECTIONS else
                "supports neither sentence" if found == "neither" else
                "cannot tell (too few points for the test)")
        parts.append(f"the {name} {found if found in PAPER_DIRECTIONS else 'shows no trend'} "
                     f"(one-sided rank test p = {p:.2g}): {says}" if found != "cannot tell"
                     else f"the {name}: {says}")
    return f"{label} (w = {width_label(result['width'])}): " + "; ".join(parts) + "."


def lmc_by_width(main: dict, lmc_pp: float = claims.LMC_PP) -> list[tuple[float, bool | None, bool]]:
    """Per width of chapter 2's main sweep (no permutation, the main weight decay): (width, LMC
    holds by claims.lmc_row, on the threshold)."""
    out = []
    for w, vals in zip(main["widths"], main_pairs(main, "none", "acc_barrier_half")):
        answer, row = claims.lmc_row(vals, f"w = {width_label(w)}", lmc_pp)
        out.append((w, answer, bool(row["edge"])))
    return out


def where_decidable(main: dict, width: float, lmc_pp: float = claims.LMC_PP) -> str:
    """Where C8 could be decided: the widths of the main sweep at which LMC holds firmly."""
    found = lmc_by_width(main, lmc_pp)
    firm = [w for w, a, edge in found if a is True and not edge]
    at = ", ".join(f"w = {width_label(w)}: {claims.EDGE if e else claims.ANSWER[a]}" for w, a, e in found)
    head = (f"LMC at the main weight decay (accuracy barrier at λ = 1/2 below {lmc_pp:g} pp, mean + std "
            f"over pairs) in chapter 2's width sweep: {at}.")
    if not firm:
        return (head + f" It holds firmly at no width of this build, so C8 cannot be decided at "
                f"these widths (the sweep ran at w = {width_label(width)}); the paper's widths "
                f"(up to 16) may be needed.")
    return (head + f" C8 can be decided from w = {width_label(min(firm))} on "
            f"(parameter `wd_width`; this sweep ran at w = {width_label(width)}).")


def plan(setup: Setup) -> list:
    """The TrainConfigs run(setup) asks for: every pair of the weight-decay sweep (plan step)."""
    from lmc_lib.chapters.plan import pair_configs
    wds = sorted(float(v) for v in book_settings(setup.profile)["wd_sweep"])
    return [c for wd in wds for c in pair_configs(setup, [default_wd_width(setup)], weight_decay=wd)]
