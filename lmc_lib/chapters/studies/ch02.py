"""Chapter 2 (paper 3.1, F.2, F.3, F.5): the linear path per width, without and with weight matching.

`run` evaluates theta(lam) for every pair of the main sweep at every width (Fig 1, 2, 16), the
Def 2.1 barriers of raw loss, calibrated loss and accuracy (Table 1, Fig 17) and the fitted inverse
temperature beta (Fig 19; beta multiplies the logits, 1/beta is the paper's Fig 19 quantity).
Results are keyed by `wkey(width)`; every list over pairs keeps one value per pair.
"""
from __future__ import annotations

from lmc_lib.chapters import report
from lmc_lib.chapters.experiment import Setup, pair_curves, width_label
from lmc_lib.chapters.results import COLUMNS, LEWC_FACTOR_MLP, MATCHINGS, half_index, means, per_pair, wkey  # noqa: F401 (read as ch02.* too)
from lmc_lib.chapters.studycache import cached_study
from lmc_lib.core.stats import pm
from lmc_lib.lmc import barriers, claims

BARRIERS = {"acc": ("acc", barriers.accuracy_barrier), "cal": ("cal_loss", barriers.loss_barrier),
            "loss": ("loss", barriers.loss_barrier)}


def default_lams(setup: Setup) -> int:
    """Grid size: 11 points for MLPs, 5 for conv nets (each merged conv net needs a BN reset)."""
    return 11 if setup.arch == "mlp" else 5


def summarize_curves(curves) -> dict:
    """Columns per curve (Fig 1, 2, 19) and Def 2.1 barriers per curve (Table 1, Fig 17)."""
    out = {c: [cv.column(c).tolist() for cv in curves] for c in COLUMNS}
    for name, (col, fn) in BARRIERS.items():
        found = [fn(cv, which=col) for cv in curves]
        out[f"{name}_barrier_half"] = [b["half"] for b in found]
        out[f"{name}_barrier_max"] = [b["max"] for b in found]
    return out


def settings(setup: Setup, lams) -> dict:
    """The settings a result was computed with (training recipe, grid, evaluation size)."""
    cfg = setup.config(setup.widths[0]).to_dict()
    for k in ("width", "seed", "init_seed"):
        cfg.pop(k)
    return dict(cfg, n_eval=setup.n_eval, lams=lams, bn_batches=setup.bn_batches,
                title=setup.title())


@cached_study
def run(setup: Setup, lams: int = 0, matchings=("none", "wm")) -> dict:
    """Fig 1, 2, 16, 17, 19 and Table 1: path measurements per width and matching."""
    lams = lams or default_lams(setup)
    out = dict(widths=list(setup.widths), n_pairs=setup.n_pairs, matchings=list(matchings),
               settings=settings(setup, lams))
    for m in matchings:
        per_width = {}
        for w in setup.widths:
            curves = pair_curves(setup, w, m, lams)
            per_width[wkey(w)] = summarize_curves(curves)
        out[m] = per_width
    out["lams"] = curves[0].column("lam").tolist()
    return out


def table1_markdown(result: dict) -> str:
    """Table 1: accuracy (pp) and calibrated-loss (nats) barriers at lam = 1/2 and max, largest width."""
    w = result["widths"][-1]
    head = ("| matching | acc. barrier at 1/2 (pp) | acc. barrier, max (pp) | cal. loss barrier at 1/2 "
            "| cal. loss barrier, max | raw loss barrier, max |\n|---|---|---|---|---|---|")
    rows = [head]
    for m in result["matchings"]:
        s = result[m][wkey(w)]
        rows.append(f"| {MATCHINGS[m]} | {pm(s['acc_barrier_half'], 100)} | "
                    f"{pm(s['acc_barrier_max'], 100)} | {pm(s['cal_barrier_half'])} | "
                    f"{pm(s['cal_barrier_max'])} | {pm(s['loss_barrier_max'])} |")
    return f"Width {width_label(w)}, mean ± std over {result['n_pairs']} pairs.\n\n" + "\n".join(rows)


def verdicts(result: dict, setup: Setup, c1_gap_pp: float = 2.0, c2_cal_max: float = 0.05) -> list:
    """C1, C2, C10 from the no-permutation paths (claims.c1, c2, c10 on per-pair values)."""
    ws = result["widths"]
    pp = lambda key: per_pair(result, "none", key)  # noqa: E731
    found = {"C1": claims.c1(ws, pp("acc_half"), pp("acc_end"), gap_pp=c1_gap_pp),
             "C2": claims.c2(ws, pp("cal_barrier_max"), pp("loss_barrier_max"), cal_max=c2_cal_max),
             "C10": claims.c10(ws, pp("beta_half"), pp("beta_end"))}
    acc, beta, beta_end = means(result, "none", "acc_half"), means(result, "none", "beta_half"), \
        means(result, "none", "beta_end")
    measured = {"C1": {"widths": ws, "acc_half_pct": [100 * a for a in acc],
                       "gap_pp": 100 * means(result, "none", "acc_end")[-1] - 100 * acc[-1]},
                "C2": {"widths": ws, "cal_barrier": means(result, "none", "cal_barrier_max"),
                       "raw_barrier": means(result, "none", "loss_barrier_max")},
                "C10": {"widths": ws, "beta_half": beta, "beta_ratio_to_endpoints": beta[-1] / beta_end[-1]}}
    return [report.record_verdict(c, "02", setup.profile, j.checks, measured[c],
                                  setting=report.setting_of(setup), verdict=j.verdict, judgement=j,
                                  dataset=setup.dataset)
            for c, j in found.items()]
