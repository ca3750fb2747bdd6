"""Figures of chapters 7-9: weight decay (Fig 9, 10, 23, effective rank), commutativity (Fig 11)
and flatness (Fig 12, 13, 14). Each takes the study's result dict and a title (`setup.title()`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..experiment import width_label
from .style import band, errorbars, finish, width_colors


def wd_label(wd: float) -> str:
    """0, 1e-04, 3e-03 ... for a weight-decay coefficient."""
    return "0" if wd == 0 else f"{wd:.0e}"


def _wd_axis(ax, wds):
    """Weight decays at equally spaced positions (0 cannot sit on a log axis)."""
    ax.set_xticks(range(len(wds)), [wd_label(w) for w in wds])
    ax.set_xlabel("weight decay (coupled L2 in Adam)")
    return np.arange(len(wds))


def _per_wd(result: dict, key: str) -> np.ndarray:
    """[pairs, n_wd] array of a per-pair scalar (or layer-mean of a per-layer list)."""
    cols = [np.asarray(result["per_wd"][str(wd)][key], dtype=float) for wd in result["weight_decays"]]
    return np.stack([c.reshape(len(c), -1).mean(1) for c in cols], 1)


def fig9_barriers_vs_wd(result: dict, title: str = ""):
    """Fig 9: accuracy barrier and calibrated-loss barrier at lam = 1/2 vs weight decay."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, key, lab in ((axes[0], "acc_barrier", "accuracy barrier at lam = 1/2 (fraction)"),
                         (axes[1], "cal_barrier", "calibrated-loss barrier at lam = 1/2 (nats)")):
        x = _wd_axis(ax, result["weight_decays"])
        errorbars(ax, x, _per_wd(result, key), label=f"w = {width_label(result['width'])}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel(lab)
        ax.legend()
    return finish(fig, title)


def _layer_panel(ax, result, key, ylabel):
    """One line per weight decay over the layers of a per-layer probe."""
    wds = result["weight_decays"]
    colors = width_colors(wds)
    for wd in wds:
        vals = np.asarray(result["per_wd"][str(wd)][key], dtype=float)
        first = 2 if key == "ro_ratio" else 1
        band(ax, np.arange(first, first + vals.shape[1]), vals, label=f"wd {wd_label(wd)}",
             color=colors[wd])
    ax.set_xlabel("layer l")
    ax.set_ylabel(ylabel)
    ax.legend()


def fig10_conditions_vs_wd(result: dict, title: str = ""):
    """Fig 10: per layer and weight decay, (a) LEWC cosine, (b) weak additivity, (c) RO ratio."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    _layer_panel(axes[0], result, "lewc", "(a) LEWC cosine, merged vs (f_a + f_b) / 2^l")
    _layer_panel(axes[1], result, "weak_additivity", "(b) weak-additivity cosine")
    _layer_panel(axes[2], result, "ro_ratio", "(c) RO ratio ||W_a h_b|| / ||W_a h_a||")
    axes[1].axhline(0.9304, color="grey", ls=":", lw=1)
    return finish(fig, title)


def fig23_curves_per_wd(result: dict, title: str = ""):
    """Fig 23: test accuracy (and calibrated loss) of theta(lam) vs lam, one curve per weight decay."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    wds = result["weight_decays"]
    colors = width_colors(wds)
    for wd in wds:
        r = result["per_wd"][str(wd)]
        band(axes[0], r["lam"], r["acc"], label=f"wd {wd_label(wd)}", color=colors[wd])
        band(axes[1], r["lam"], r["cal_loss"], label=f"wd {wd_label(wd)}", color=colors[wd])
    axes[0].set_ylabel("test accuracy (fraction)")
    axes[1].set_ylabel("calibrated test loss (nats)")
    for ax in axes:
        ax.set_xlabel("lam (1 = model a, 0 = model b)")
        ax.legend()
    return finish(fig, title)


def effective_rank_vs_wd(result: dict, title: str = ""):
    """Sec 5.4: effective rank of each weight matrix vs weight decay (absolute and / max rank)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    wds = result["weight_decays"]
    for ax, key, lab in ((axes[0], "eff_rank", "effective rank"),
                         (axes[1], "eff_rank_rel", "effective rank / min(fan-out, fan-in)")):
        x = _wd_axis(ax, wds)
        vals = np.stack([np.asarray(result["per_wd"][str(wd)][key]) for wd in wds], 1)
        for l in range(vals.shape[2]):
            errorbars(ax, x, vals[:, :, l], label=f"layer {l + 1}")
        ax.set_ylabel(lab)
        ax.legend()
    return finish(fig, title)


def fig11_commutativity(result: dict, title: str = ""):
    """Fig 11: commutativity residual per layer l >= 2, per width; without (solid) and with WM (dashed)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    colors = width_colors(result["widths"])
    for w in result["widths"]:
        for m, ls in (("none", "-"), ("wm", "--")):
            line = band(ax, result["layers"], result[m][str(w)], color=colors[w],
                        label=f"w = {width_label(w)}, {'no permutation' if m == 'none' else 'WM'}")
            line.set_linestyle(ls)
    ax.set_xticks(result["layers"])
    ax.set_xlabel("layer l")
    ax.set_ylabel("||(W_a - W_b)(H_a - H_b)||_F / ||W_a H_a - W_b H_b||_F")
    ax.set_ylim(bottom=0)
    ax.legend(ncol=2, fontsize=7)
    return finish(fig, title)


def fig12_flatness(result: dict, title: str = ""):
    """Fig 12: accuracy and loss along theta_a + t d u (solid) and along the path to theta_b (dashed)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    colors = width_colors(result["widths"])
    for w in result["widths"]:
        p = result["per_width"][str(w)]
        for ax, q in ((axes[0], "acc"), (axes[1], "loss")):
            band(ax, result["t"], p[f"rand_{q}"], color=colors[w], label=f"w = {width_label(w)}, random u")
            band(ax, result["t"], p[f"path_{q}"], color=colors[w], marker="x",
                 label=f"w = {width_label(w)}, towards theta_b").set_linestyle("--")
    axes[0].set_ylabel("test accuracy (fraction)")
    axes[1].set_ylabel("test cross-entropy (nats)")
    for ax in axes:
        ax.set_xlabel("t (step t d from theta_a; d = ||theta_a - theta_b||)")
    axes[1].legend(ncol=2, fontsize=6)
    return finish(fig, title)


def fig13_14_activation_cosine(result: dict, title: str = ""):
    """Fig 13 / 14: per hidden layer, activation cosine of theta_a with theta_a + d u and with theta_b."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    widths = result["widths"]
    n_hidden = len(result["per_width"][str(widths[0])]["cos_b"][0])
    for ax, key, lab in ((axes[0], "cos_random", "Fig 13: theta_a vs theta_a + d u"),
                         (axes[1], "cos_b", "Fig 14: theta_a vs theta_b")):
        for l in range(n_hidden):
            vals = np.stack([np.asarray(result["per_width"][str(w)][key])[:, l] for w in widths], 1)
            errorbars(ax, widths, vals, label=f"hidden layer {l + 1}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [width_label(w) for w in widths])
        ax.set_xlabel("width multiplier w")
        ax.set_title(lab)
        ax.legend()
    axes[0].set_ylabel("mean activation cosine over test inputs")
    return finish(fig, title)
