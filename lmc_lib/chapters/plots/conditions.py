"""Figures of chapters 7-9: weight decay (Fig 9, 10, 23, effective rank), commutativity (Fig 11)
and flatness (Fig 12, 13, 14). Each takes the study's result dict and a title (`setup.title()`)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lmc_lib.chapters.experiment import width_label
from lmc_lib.chapters.plots.style import PAGE_W, band, errorbars, finish_with_legend, grid, log_ticks, width_colors


def wd_label(wd: float) -> str:
    """0, 1e-04, 3e-03 ... for a weight-decay coefficient."""
    return "0" if wd == 0 else f"{wd:.0e}"


def _wd_axis(ax, wds):
    """Weight decays at equally spaced positions (0 cannot sit on a log axis)."""
    ax.set_xticks(range(len(wds)), [wd_label(w) for w in wds])
    ax.set_xlabel("weight decay (coupled L2 in Adam)")
    return np.arange(len(wds))


def _layer_style(l: int, n: int) -> dict:
    """Colour and legend label of layer l (0-based) of n: deep nets get a colour ramp, 2 labels."""
    if n <= 6:
        return dict(color=f"C{l}", label=f"layer {l + 1}")
    color = plt.get_cmap("plasma")(0.85 * l / (n - 1))
    return dict(color=color, label=f"layer {l + 1}" if l in (0, n - 1) else None)


def _per_wd(result: dict, key: str, scale: float = 1.0) -> np.ndarray:
    """[pairs, n_wd] array of a per-pair scalar (or layer-mean of a per-layer list), times scale."""
    cols = [scale * np.asarray(result["per_wd"][str(wd)][key], dtype=float) for wd in result["weight_decays"]]
    return np.stack([c.reshape(len(c), -1).mean(1) for c in cols], 1)


def fig9_barriers_vs_wd(result: dict, title: str = ""):
    """Fig 9: accuracy barrier and calibrated-loss barrier at lam = 1/2 vs weight decay."""
    fig, axes = grid(2)
    for ax, key, name, unit, scale in ((axes[0], "acc_barrier", "accuracy barrier", "pp", 100),
                                       (axes[1], "cal_barrier", "calibrated-loss barrier", "nats", 1)):
        x = _wd_axis(ax, result["weight_decays"])
        errorbars(ax, x, _per_wd(result, key, scale), label=f"w = {width_label(result['width'])}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(rf"{name} at $\lambda$ = 1/2")
        ax.set_ylabel(f"{name} ({unit})")
    return finish_with_legend(fig, axes, title)


def _layer_panel(ax, result, key, panel, ylabel):
    """One line per weight decay over the layers of a per-layer probe."""
    wds = result["weight_decays"]
    colors = width_colors(wds)
    for wd in wds:
        vals = np.asarray(result["per_wd"][str(wd)][key], dtype=float)
        first = 2 if key == "ro_ratio" else 1  # RO is defined for l >= 2
        layers = np.arange(first, first + vals.shape[1])
        band(ax, layers, vals, label=f"wd {wd_label(wd)}", color=colors[wd])
    ax.set_xticks(layers)
    ax.set_xlabel("layer l")
    ax.set_title(panel)
    ax.set_ylabel(ylabel)


def fig10_conditions_vs_wd(result: dict, title: str = ""):
    """Fig 10: per layer and weight decay, (a) LEWC cosine, (b) weak additivity, (c) RO ratio."""
    fig, axes = grid(3)
    _layer_panel(axes[0], result, "lewc", "(a) LEWC", r"$\cos(f_l(\theta(1/2)),\ (f_a + f_b)/2^l)$")
    _layer_panel(axes[1], result, "weak_additivity", "(b) weak additivity of the ReLU", "cosine")
    _layer_panel(axes[2], result, "ro_ratio", "(c) reciprocal orthogonality",
                 r"$\|W_a h_b\| / \|W_a h_a\|$ (both ways)")
    axes[1].axhline(0.9304, color="grey", ls=":", lw=1)
    return finish_with_legend(fig, axes[0], title)


def fig23_curves_per_wd(result: dict, title: str = ""):
    """Fig 23: test accuracy (and calibrated loss) of theta(lam) vs lam, one curve per weight decay."""
    fig, axes = grid(2)
    wds = result["weight_decays"]
    colors = width_colors(wds)
    for wd in wds:
        r = result["per_wd"][str(wd)]
        band(axes[0], r["lam"], 100 * np.asarray(r["acc"]), label=f"wd {wd_label(wd)}", color=colors[wd])
        band(axes[1], r["lam"], r["cal_loss"], label=f"wd {wd_label(wd)}", color=colors[wd])
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("calibrated test loss (nats)")
    for ax in axes:
        ax.set_xlabel(r"$\lambda$  (0: model b, 1: model a)")
    return finish_with_legend(fig, axes[0], title)


def effective_rank_vs_wd(result: dict, title: str = ""):
    """Sec 5.4: effective rank of each weight matrix vs weight decay (absolute and / max rank)."""
    fig, axes = grid(2)
    wds = result["weight_decays"]
    for ax, key, lab in ((axes[0], "eff_rank", "effective rank"),
                         (axes[1], "eff_rank_rel", "effective rank / max rank")):
        x = _wd_axis(ax, wds)
        vals = np.stack([np.asarray(result["per_wd"][str(wd)][key]) for wd in wds], 1)
        for l in range(vals.shape[2]):
            errorbars(ax, x, vals[:, :, l], **_layer_style(l, vals.shape[2]))
        ax.set_ylabel(lab)
    return finish_with_legend(fig, axes[0], title)


def fig11_commutativity(result: dict, title: str = ""):
    """Fig 11: commutativity residual per layer l >= 2, per width; without (left) and with WM (right)."""
    fig, axes = grid(2, sharey=True)
    colors = width_colors(result["widths"])
    for ax, m, name in ((axes[0], "none", "no permutation"), (axes[1], "wm", "weight matching")):
        for w in result["widths"]:
            band(ax, result["layers"], result[m][str(w)], color=colors[w], label=f"w = {width_label(w)}")
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_xticks(result["layers"])
        ax.set_xlabel("layer l")
        ax.set_yscale("log")
        log_ticks(ax)
        ax.set_title(name)
    axes[0].set_ylabel(r"residual $r_l$ (log scale)")
    return finish_with_legend(fig, axes[0], title)


def fig12_flatness(result: dict, title: str = ""):
    """Fig 12: accuracy and loss along theta_a + t d u (top) and along the path to theta_b (bottom)."""
    fig, axes = plt.subplots(2, 2, figsize=(PAGE_W, 6.6), sharex=True, sharey="col")
    colors = width_colors(result["widths"])
    rows = (("rand", r"random: $\theta_a + t\,d\,u$"),
            ("path", r"to $\theta_b$: $\theta_a + t(\theta_b - \theta_a)$"))
    for (key, name), row in zip(rows, axes):
        for w in result["widths"]:
            p = result["per_width"][str(w)]
            for ax, q, scale in zip(row, ("acc", "loss"), (100, 1)):
                band(ax, result["t"], scale * np.asarray(p[f"{key}_{q}"]), color=colors[w],
                     label=f"w = {width_label(w)}")
        row[0].set_ylabel("test accuracy (%)")
        row[1].set_ylabel("test cross-entropy (nats)")
        for ax in row:
            ax.set_title(name)
    for ax in axes[1]:
        ax.set_xlabel(r"$t$  ($d = \|\theta_a - \theta_b\|$)")
    return finish_with_legend(fig, axes[0, 0], title)


def fig13_14_activation_cosine(result: dict, title: str = ""):
    """Fig 13 / 14: per hidden layer, activation cosine of theta_a with theta_a + d u and with theta_b."""
    fig, axes = grid(2, sharey=True)
    widths = result["widths"]
    n_hidden = len(result["per_width"][str(widths[0])]["cos_b"][0])
    for ax, key, lab in ((axes[0], "cos_random", r"(a) $\theta_a$ vs $\theta_a + d\,u$ (the paper's Fig 13)"),
                         (axes[1], "cos_b", r"(b) $\theta_a$ vs $\theta_b$ (the paper's Fig 14)")):
        for l in range(n_hidden):
            vals = np.stack([np.asarray(result["per_width"][str(w)][key])[:, l] for w in widths], 1)
            errorbars(ax, widths, vals, **_layer_style(l, n_hidden))
        ax.set_xscale("log", base=2)
        ax.set_xticks(widths, [width_label(w) for w in widths])
        ax.set_xlabel("width multiplier w")
        ax.set_title(lab)
    axes[0].set_ylabel("mean activation cosine")
    return finish_with_legend(fig, axes[0], title, legend_title="hidden layer")
