"""Chapters 4-6 figures: LEWC (Fig 3, 20), weak additivity (Thm 5.4, Fig 4, 5, 6, 21, 22),
effective rank, reciprocal orthogonality (Fig 7, 8). Each takes a study's result dict and a title."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lmc_lib.chapters.experiment import width_label
from lmc_lib.chapters.plots.style import band, errorbars, finish_with_legend, grid, width_colors
from lmc_lib.core.stats import mean_std


def _per_layer(ax, result, key, layers, ylabel, scale=None):
    """One band (mean +- std over pairs) per width of per_width[w][key] against layer number."""
    colors = width_colors(result["widths"])
    for w in result["widths"]:
        vals = np.asarray(result["per_width"][str(w)][key], dtype=float)
        if scale is not None:
            vals = scale(vals)
        band(ax, layers, vals, label=f"w = {width_label(w)}", color=colors[w])
    ax.set_xticks(layers)
    ax.set_xlabel("layer l")
    ax.set_ylabel(ylabel)


def _width_axis(ax, widths):
    """Log-2 width axis ticked at the widths, labelled 1/16, 1/8, ..."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [width_label(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel("width multiplier w")


def lewc_cosine(result: dict, title: str = ""):
    """Fig 3: cos(f_l(theta(1/2)), (f_l(a) + f_l(b))/2) per layer, one line per width."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    _per_layer(ax, result, "cos", result["layers"], "LEWC cosine (merged vs endpoint mean)")
    ax.set_xlabel(f"layer l (l = {result['layers'][-1]}: logits)")
    return finish_with_legend(fig, ax, title)


def norm_decay(result: dict, title: str = ""):
    """Fig 20: ||f_l(theta(1/2))|| / mean endpoint norm per layer vs LEWC and 2^-(l-1) (log y)."""
    fig, axes = grid(2, sharey=True)
    layers = result["layers"]
    _per_layer(axes[0], result, "norm_merged", layers, "norm ratio\n(merged / endpoints)")
    axes[0].set_title("measured")
    _per_layer(axes[1], result, "norm_lewc", layers, "norm ratio\n(LEWC target / endpoints)")
    axes[1].set_title(r"LEWC target $2^{-l}(f_a + f_b)$")
    for ax in axes:
        ax.plot(layers, result["prediction"], "k--", lw=1, label=r"$2^{-(l-1)}$")
        ax.set_yscale("log", base=2)
    return finish_with_legend(fig, axes, title)


def lewc_general(result: dict, title: str = ""):
    """Extension of Fig 3: the lam^l law at several lam, cosine and norm ratio, narrowest/widest."""
    fig, axes = grid(2, height=3.6)
    layers, cmap = result["layers"], plt.get_cmap("plasma")
    styles = dict(zip(result["general_widths"], ("--", "-")))
    for j, lam in enumerate(result["lams"]):
        for w in result["general_widths"]:
            g = result["per_width"][str(w)]["general"][str(lam)]
            for ax, key in zip(axes, ("cos", "scale")):
                mean, std = mean_std(g[key])
                ax.errorbar(layers, mean, yerr=std, ls=styles[w], marker="o", ms=3, capsize=2,
                            color=cmap(0.8 * j / max(len(result["lams"]) - 1, 1)),
                            label=rf"$\lambda$ = {lam:g}, w = {width_label(w)}")
    axes[0].set_ylabel("cosine with the LEWC target")
    axes[0].set_title(r"cosine with $\lambda^l f_a + (1-\lambda)^l f_b$")
    axes[1].set_ylabel("norm ratio to the LEWC target")
    axes[1].set_title(r"$\|f_l(\theta(\lambda))\| \;/\; \|\lambda^l f_a + (1-\lambda)^l f_b\|$")
    axes[1].axhline(1.0, color="k", lw=0.8)
    axes[1].set_yscale("log", base=2)
    for ax in axes:
        ax.set_xticks(layers)
        ax.set_xlabel("layer l")
    return finish_with_legend(fig, axes[0], title, ncol=3)


def gaussian_wa(gauss: dict, title: str = r"Theorem 5.4: $x, y \sim N(0, I_d)$, Monte Carlo"):
    """Thm 5.4: WA cosine of two Gaussian vectors vs dimension d, with the d -> inf limits."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for lam in gauss["lams"]:
        line, = ax.plot(gauss["dims"], gauss["mc"][str(lam)], "o-", label=rf"Monte Carlo, $\lambda$ = {lam:g}")
        ax.axhline(gauss["limit"][str(lam)], ls="--", lw=0.8, color=line.get_color(),
                   label=f"limit {gauss['limit'][str(lam)]:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("dimension d")
    ax.set_ylabel("weak-additivity cosine")
    ax.set_title(r"$\cos(\sigma(\lambda x + (1-\lambda) y),\ \lambda\sigma(x) + (1-\lambda)\sigma(y))$")
    return finish_with_legend(fig, ax, title, ncol=2, fontsize=10)


def weak_additivity(result: dict, title: str = ""):
    """Fig 4: weak-additivity cosine per hidden layer, one line per width, with the 0.9304 line."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    _per_layer(ax, result, "wa", result["hidden"], "weak-additivity cosine")
    ax.axhline(result["gaussian_limit"], color="k", ls="--", lw=0.8, label="Gaussian limit 0.9304")
    ax.set_xlabel("hidden layer l")
    return finish_with_legend(fig, ax, title)


def second_moments(result: dict, title: str = "", layers=None, widths=None):
    """Fig 5 (one layer) / Fig 21 (all): histogram of s_i = sqrt(E z_i^2), model a of pair 1."""
    layers = layers or result["hidden"]
    widths = widths or result["widths"]
    colors = width_colors(result["widths"])
    fig, axes = grid(len(layers))
    for ax, l in zip(axes, layers):
        for w in widths:
            h = result["per_width"][str(w)]["hist"]
            ax.stairs(h["counts"][l - 1], h["edges"][l - 1], color=colors[w], label=f"w = {width_label(w)}")
        ax.set_yscale("log")
        ax.set_xlabel(rf"second moment $s_i$, hidden layer {l}")
        ax.set_ylabel("units (log scale)")
    return finish_with_legend(fig, axes[0], title)


def active_overlap(result: dict, title: str = ""):
    """Fig 6 / 22: share of a's active units also active in b vs width, without and with WM."""
    widths, hidden = result["widths"], result["hidden"]
    fig, axes = grid(len(hidden), sharey=True)
    series = (("overlap", "no permutation", "-"), ("overlap_wm", "weight matching", "-"),
              ("active", "chance (b's active share)", "--"))
    for i, (ax, l) in enumerate(zip(axes, hidden)):
        for k, (key, label, ls) in enumerate(series):
            vals = np.array([np.asarray(result["per_width"][str(w)][key])[:, i] for w in widths]).T
            errorbars(ax, widths, vals, label=label, color="grey" if k == 2 else f"C{k}", ls=ls)
        _width_axis(ax, widths)
        ax.set_title(f"hidden layer {l}")
        if i % 2 == 0:
            ax.set_ylabel(rf"overlap (active: {result['mass']:.0%} of $\sum s_i^2$)")
    return finish_with_legend(fig, axes[0], title)


def effective_rank(result: dict, title: str = ""):
    """Sec 5.4: effective rank of each weight matrix divided by min(out, in), per width."""
    widths = result["widths"]
    n_layers = len(result["per_width"][str(widths[0])]["rank"][0])
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for l in range(n_layers):
        vals = np.array([np.asarray(result["per_width"][str(w)]["rank"])[:, l]
                         / min(result["per_width"][str(w)]["dims"][l]) for w in widths]).T
        errorbars(ax, widths, vals, label=f"layer {l + 1}")
    _width_axis(ax, widths)
    ax.set_ylabel("effective rank / min(out, in)")
    return finish_with_legend(fig, ax, title)


def reciprocal_orthogonality(result: dict, title: str = ""):
    """Fig 7: ||W_a h_b|| / ||W_a h_a|| and ||W_b h_a|| / ||W_b h_b|| per layer l >= 2, per width."""
    fig, axes = grid(2, sharey=True)
    _per_layer(axes[0], result, "ro_ab", result["layers"], "RO ratio")
    axes[0].set_title(r"$\|W_a h_b\| \,/\, \|W_a h_a\|$")
    _per_layer(axes[1], result, "ro_ba", result["layers"], "RO ratio")
    axes[1].set_title(r"$\|W_b h_a\| \,/\, \|W_b h_b\|$")
    axes[1].set_ylabel("")
    return finish_with_legend(fig, axes[0], title)


def merged_projection(result: dict, title: str = ""):
    """Fig 8: cos(W_a h_{l-1}(theta(1/2)), W_a h_{l-1}(a)) per layer l >= 2, per width (and b)."""
    fig, axes = grid(2, sharey=True)
    _per_layer(axes[0], result, "cos_a", result["layers"], "cosine")
    axes[0].set_title(r"$\cos(W_a h(\theta(1/2)),\ W_a h_a)$")
    _per_layer(axes[1], result, "cos_b", result["layers"], "cosine")
    axes[1].set_title(r"$\cos(W_b h(\theta(1/2)),\ W_b h_b)$")
    axes[1].set_ylabel("")
    return finish_with_legend(fig, axes[0], title)

