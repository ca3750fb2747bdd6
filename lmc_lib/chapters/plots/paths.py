"""Figures of chapters 1-3: the linear path (Def 2.1), Fig 1, 2, 16, 17, 18, 19.

Every function takes a study result dict (live or recorded; see lmc_lib.chapters.studies.ch01-03) and a
title; accuracies are drawn in percent, losses in nats, error bands are mean +- std over pairs.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lmc_lib.chapters import names
from lmc_lib.chapters.experiment import width_label
from lmc_lib.chapters.plots.style import PAGE_W, band, errorbars, finish, finish_with_legend, grid, width_colors
from lmc_lib.chapters.results import LEWC_FACTOR_MLP, MATCHINGS, pair_means, per_pair, wkey, wm_gain

LOSS_LABELS = {"loss": "test loss (nats)", "cal_loss": "calibrated test loss (nats)"}


def _width_axis(ax, widths, xlabel="width multiplier w"):
    """Log2 width axis with fraction labels."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths)
    ax.set_xticklabels([width_label(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)


def barrier_example(example: dict, title: str):
    """Def 2.1 on one pair: accuracy and loss along theta(lam), the endpoints' chord, the barrier."""
    lam = np.asarray(example["lams"])
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_W, 3.6))
    for ax, col, name, scale in ((axes[0], "acc", "test accuracy (%)", 100),
                                 (axes[1], "loss", "test loss (nats)", 1)):
        y = np.asarray(example[col][0]) * scale
        chord = lam * y[-1] + (1 - lam) * y[0]
        gap = (chord - y) if col == "acc" else (y - chord)
        i = int(np.argmax(gap))
        ax.plot(lam, y, "o-", ms=3, label=r"$\theta(\lambda)$")
        ax.plot(lam, chord, "--", color="grey", label="chord between the endpoints")
        ax.annotate("", xy=(lam[i], y[i]), xytext=(lam[i], chord[i]),
                    arrowprops=dict(arrowstyle="<->", color="C3"))
        unit = "pp" if col == "acc" else "nats"
        side = -0.02 if lam[i] > 0.3 else 0.02  # label left of the arrow unless near lam = 0
        ax.text(lam[i] + side, (y[i] + chord[i]) / 2, f"barrier {gap[i]:.3g} {unit}\nat λ = {lam[i]:.2g}",
                color="C3", fontsize=10, va="center", ha="right" if side < 0 else "left",
                bbox=dict(fc="white", ec="none", alpha=0.8))
        ax.set_xlabel(r"$\lambda$  (0: model b, 1: model a)")
        ax.set_ylabel(name)
    return finish_with_legend(fig, axes[0], f"{title} | pair {example['pair']}", ncol=2)


def accuracy_vs_lam(result: dict, title: str, matching: str = "none"):
    """Fig 1 (no permutation) / Fig 16 (weight matching): test accuracy of theta(lam) per width."""
    lam, widths = np.asarray(result["lams"]), result["widths"]
    colors = width_colors(widths)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for w in widths:
        band(ax, lam, 100 * np.asarray(result[matching][wkey(w)]["acc"]),
             label=f"w = {width_label(w)}", color=colors[w])
    ax.set_xlabel(r"$\lambda$  (0: model b, 1: model a)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(title=MATCHINGS[matching], loc="upper left", bbox_to_anchor=(1.01, 1.0))  # off the data
    return finish(fig, title)


def loss_vs_lam(result: dict, title: str, matching: str = "none"):
    """Fig 2: (a) raw test loss and (b) calibrated test loss of theta(lam) per width."""
    lam, widths = np.asarray(result["lams"]), result["widths"]
    colors = width_colors(widths)
    fig, axes = grid(2, height=3.6)
    for ax, col, tag in zip(axes, ("loss", "cal_loss"), ("(a) raw", "(b) calibrated")):
        for w in widths:
            band(ax, lam, result[matching][wkey(w)][col], label=f"w = {width_label(w)}",
                 color=colors[w])
        ax.set_xlabel(r"$\lambda$")
        ax.set_ylabel(LOSS_LABELS[col])
        ax.set_title(f"{tag} loss, {MATCHINGS[matching]}")
    return finish_with_legend(fig, axes, title)


def barriers_vs_width(result: dict, title: str, which: str = "max"):
    """Fig 17: accuracy, calibrated-loss and raw-loss barriers (Def 2.1) vs width, without / with WM."""
    widths = result["widths"]
    fig, axes = grid(3)
    panels = (("acc", 100, "accuracy barrier (pp)"), ("cal", 1, "calibrated-loss barrier (nats)"),
              ("loss", 1, "raw loss barrier (nats)"))
    for ax, (name, scale, ylabel) in zip(axes, panels):
        for k, m in enumerate(result["matchings"]):
            vals = np.asarray(per_pair(result, m, f"{name}_barrier_{which}"), dtype=float).T * scale
            errorbars(ax, widths, vals, label=MATCHINGS[m], color=f"C{k}")
        ax.axhline(0, color="grey", lw=0.8)
        _width_axis(ax, widths)
        ax.set_ylabel(ylabel)
    where = "max over the λ grid" if which == "max" else "at λ = 1/2"
    return finish_with_legend(fig, axes[0], f"{title} | barrier = {where}")


def beta_vs_width(result: dict, title: str):
    """Fig 19: fitted inverse temperature at lam = 1/2 vs width: beta (left) and 1/beta (right)."""
    widths = result["widths"]
    fig, axes = grid(2, height=4.6)
    for ax, key, ylabel in ((axes[0], "beta", r"$\beta$ (multiplies the logits)"),
                            (axes[1], "inv_beta", r"$1/\beta$ (divides them; paper's Fig 19)")):
        for k, m in enumerate(result["matchings"]):
            vals = np.asarray(per_pair(result, m, f"{key}_half"), dtype=float).T
            errorbars(ax, widths, vals, label=f"merged at λ = 1/2, {MATCHINGS[m]}", color=f"C{k}")
        ends = np.asarray(per_pair(result, "none", f"{key}_end"), dtype=float).T
        errorbars(ax, widths, ends, label="endpoints (mean of a and b)", color="grey", marker="s")
        if result.get("settings", {}).get("arch") == "mlp":
            lewc = LEWC_FACTOR_MLP if key == "beta" else 1 / LEWC_FACTOR_MLP
            ax.axhline(lewc, ls=":", color="k", label=r"LEWC: $2^{\pm(L-1)}$ for the 4-layer MLP")
        _width_axis(ax, widths)
        ax.set_yscale("log", base=2)
        ax.set_ylabel(ylabel)
    return finish_with_legend(fig, axes[0], title, ncol=2)


def random_permutations(result: dict, title: str):
    """Fig 18: (a) accuracy at lam = 1/2 after random permutations vs none, WM and endpoints;
    (b) calibrated barrier after random permutations minus after WM, per width."""
    widths = result["widths"]
    fig, axes = grid(2, height=4.0)
    ax = axes[0]
    for k, m in enumerate(result["matchings"]):
        vals = 100 * np.asarray(pair_means(result, m, "acc_half"), dtype=float).T
        errorbars(ax, widths, vals, label=f"merged, {MATCHINGS[m]}", color=f"C{k}")
    ends = 100 * np.asarray(pair_means(result, "none", "acc_end"), dtype=float).T
    errorbars(ax, widths, ends, label="endpoints (mean of a and b)", color="grey", marker="s")
    _width_axis(ax, widths)
    ax.set_ylabel("test accuracy at λ = 1/2 (%)")
    ax.set_title(f"(a) {names.count(result['n_perms'], 'n_perms')}")
    ax = axes[1]
    errorbars(ax, widths, np.asarray(wm_gain(result), dtype=float).T, color="C1",
              label="random − WM")
    ax.axhline(0, color="grey", lw=0.8)
    _width_axis(ax, widths)
    ax.set_ylabel("calibrated barrier difference (nats)")
    ax.set_title("(b) barrier, random minus WM")
    return finish_with_legend(fig, axes, title)
