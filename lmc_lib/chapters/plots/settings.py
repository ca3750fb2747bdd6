"""Chapters 10-11 figures: conv nets (Fig 15), norm decay (Fig 20), Sophia (Fig 24, 25), MLP
variants (Fig 26, 27), and the beyond-the-paper studies of chapter 11."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from lmc_lib.chapters.experiment import width_label
from lmc_lib.chapters.plots.style import PAGE_W, band, errorbars, finish_with_legend, grid, width_colors

NAMES = {"adam": "MLP, Adam", "sophia": "MLP, Sophia", "skip": "MLP + skip", "bn": "MLP + BN",
         "vgg11": "VGG-11", "resnet20": "ResNet-20", "independent": "independent init",
         "spawned": "shared init (spawned)"}


def per_pair(study: dict, key: str, sub: str | None = None) -> np.ndarray:
    """[pairs, widths] array of a per-pair scalar (or barrier[sub]) of a study."""
    cols = [study["by_width"][str(w)][key] for w in study["widths"]]
    return np.array([c[sub] if sub else c for c in cols], dtype=float).T


def _colors(studies: dict) -> dict:
    """One colour per width over every study's widths: a width looks the same in every panel."""
    return width_colors(sorted({w for st in studies.values() for w in st["widths"]}))


def width_axis(ax, widths, xlabel: str = "width multiplier w (hidden units = 512 w for the MLP)"):
    """Log2 width axis with fraction tick labels."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, [width_label(w) for w in widths])
    ax.minorticks_off()
    ax.set_xlabel(xlabel)


def lam_paths(studies: dict, title: str, cols=("acc", "cal_loss")):
    """Fig 15 analogue: accuracy and calibrated loss of theta(lam) vs lam, one line per width."""
    labels = {"acc": "test accuracy (%)", "cal_loss": "calibrated test loss (nats)", "loss": "test loss (nats)"}
    fig, axes = plt.subplots(len(studies), len(cols), figsize=(PAGE_W, 3.3 * len(studies)),
                             squeeze=False)
    colors = _colors(studies)
    for row, (name, st) in zip(axes, studies.items()):
        for ax, col in zip(row, cols):
            for w in st["widths"]:
                blk = st["by_width"][str(w)]
                scale = 100 if col == "acc" else 1
                band(ax, blk["lams"], scale * np.asarray(blk[col]), label=f"w = {width_label(w)}",
                     color=colors[w])
            ax.set_xlabel(r"$\lambda$  (0: model b, 1: model a)")
            ax.set_ylabel(labels[col])
            ax.set_title(NAMES.get(name, name))
    return finish_with_legend(fig, [row[0] for row in axes], title)


def norm_decay(studies: dict, title: str):
    """Fig 20 analogue: ||f_l(theta(1/2))|| / mean endpoint norm per layer, largest width, log scale."""
    fig, axes = grid(len(studies))
    for ax, (name, st) in zip(axes, studies.items()):
        w = st["widths"][-1]
        blk = st["by_width"][str(w)]
        layers = np.arange(1, len(blk["norm_ratio"][0]) + 1)
        band(ax, layers, blk["norm_ratio"], label=r"merged $\theta(1/2)$")
        band(ax, layers, blk["lewc_norm_ratio"], label="LEWC prediction", marker="x")
        ax.plot(layers, 2.0 ** -(layers - 1.0), "k:", lw=1, label=r"$2^{-(l-1)}$")
        ax.set_yscale("log", base=2)
        if len(layers) < 12:
            ax.set_xticks(layers)
        ax.set_xlabel("layer l")
        ax.set_ylabel("norm / mean endpoint norm")
        ax.set_title(f"{NAMES.get(name, name)}, w = {width_label(w)}")
    return finish_with_legend(fig, axes[0], title)


def barriers_vs_width(studies: dict, title: str, keys=("acc_barrier", "cal_barrier")):
    """Fig 24 / 26: accuracy and calibrated-loss barriers at lam = 1/2 vs width, one line per setting."""
    labels = {"acc_barrier": "accuracy barrier (pp)", "cal_barrier": "calibrated-loss barrier (nats)",
              "raw_barrier": "raw loss barrier (nats)"}
    fig, axes = grid(len(keys))
    for ax, key in zip(axes, keys):
        scale = 100 if key == "acc_barrier" else 1
        for name, st in studies.items():
            errorbars(ax, st["widths"], scale * per_pair(st, key, "half"), label=NAMES.get(name, name))
        ax.axhline(0, color="k", lw=0.6)
        width_axis(ax, next(iter(studies.values()))["widths"], "width multiplier w")
        ax.set_ylabel(labels[key])
        ax.set_title(rf"{labels[key].split(' (')[0]} at $\lambda$ = 1/2")
    return finish_with_legend(fig, axes[0], title)


def endpoints_vs_width(studies: dict, title: str):
    """Fig 25: the trained models' (endpoints') test accuracy and calibrated loss vs width."""
    fig, axes = grid(2)
    for ax, (key, label, scale) in zip(axes, (("end_acc", "endpoint test accuracy (%)", 100),
                                              ("end_cal_loss", "endpoint calibrated loss (nats)", 1))):
        for name, st in studies.items():
            errorbars(ax, st["widths"], scale * per_pair(st, key), label=NAMES.get(name, name))
        width_axis(ax, next(iter(studies.values()))["widths"], "width multiplier w")
        ax.set_ylabel(label)
    return finish_with_legend(fig, axes[0], title)


def ro_per_layer(studies: dict, title: str):
    """Fig 27: reciprocal-orthogonality ratio ||W_a h_b|| / ||W_a h_a|| per layer (l >= 2), per width."""
    fig, axes = grid(len(studies), sharey=True)
    colors = _colors(studies)
    for i, (ax, (name, st)) in enumerate(zip(axes, studies.items())):
        for w in st["widths"]:
            ratio = st["by_width"][str(w)]["ro_ratio"]
            layers = np.arange(2, len(ratio[0]) + 2)
            band(ax, layers, ratio, label=f"w = {width_label(w)}", color=colors[w])
        ax.set_xticks(layers)
        ax.set_xlabel("layer l")
        ax.set_title(NAMES.get(name, name))
        if i % 2 == 0:
            ax.set_ylabel(r"$\|W_a h_b\| / \|W_a h_a\|$ (both ways)")
    return finish_with_legend(fig, axes, title)


# ----------------------------------------------------------------------------- chapter 11
def beta_vs_width(calib: dict, title: str):
    """Fitted inverse temperature of theta(1/2), of the ensemble and of the endpoints vs width,
    with the data-free LEWC prediction 2^(L-1) (beta multiplies the logits)."""
    from lmc_lib.chapters.results import calib_stat

    fig, ax = plt.subplots(figsize=(6.5, 4.4))
    ws = calib["widths"]
    for model, label in (("merged", r"merged $\theta(1/2)$"), ("ensemble", "output ensemble"),
                         ("ends", "endpoints (mean of a, b)")):
        errorbars(ax, ws, calib_stat(calib, model, "beta"), label=label)
    rel = calib_stat(calib, "merged", "beta") / calib_stat(calib, "ensemble", "beta")
    errorbars(ax, ws, rel, label=r"$\beta$(merged) / $\beta$(ensemble)", marker="s")
    ax.axhline(calib["beta_pred"], color="k", ls=":", label=rf"LEWC: $2^{{L-1}}$ = {calib['beta_pred']:g}")
    ax.set_yscale("log", base=2)
    width_axis(ax, ws)
    ax.set_ylabel(r"fitted inverse temperature $\beta$")
    return finish_with_legend(fig, ax, title, fontsize=10)


def calib_barriers(calib: dict, title: str):
    """Loss barrier at lam = 1/2 vs width: raw, with the fitted beta, and with beta = 2^(L-1)."""
    from lmc_lib.chapters.results import calib_barriers as barriers

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    labels = {"raw": r"raw ($\beta$ = 1)", "fitted": r"fitted $\beta$ (20% of the test set)",
              "predicted": rf"predicted $\beta$ = {calib['beta_pred']:g} (no data)"}
    for key, values in barriers(calib).items():
        errorbars(ax, calib["widths"], values, label=labels[key])
    ax.axhline(0, color="k", lw=0.6)
    width_axis(ax, calib["widths"])
    ax.set_ylabel(r"loss barrier at $\lambda$ = 1/2 (nats)")
    return finish_with_legend(fig, ax, title, fontsize=10)


def merged_vs_ensemble(calib: dict, title: str):
    """Test accuracy and calibrated loss vs width: endpoints, merged theta(1/2), output ensemble."""
    from lmc_lib.chapters.results import calib_stat

    fig, axes = grid(2)
    panels = (("acc", "test accuracy (%)", 100), ("cal_loss", "calibrated test loss (nats)", 1))
    ws = np.asarray(calib["widths"], dtype=float)
    curves = (("ends", "endpoints (mean of a, b)", "s", "--", 2 ** -0.06),
              ("merged", r"merged $\theta(1/2)$", "o", "-", 1.0),
              ("ensemble", "output ensemble", "^", ":", 2 ** 0.06))
    for ax, (key, label, scale) in zip(axes, panels):
        for model, name, marker, ls, dodge in curves:  # dodged in x so no curve hides another
            errorbars(ax, ws * dodge, scale * calib_stat(calib, model, key), label=name,
                      marker=marker, ls=ls, mfc="none" if model == "ends" else None)
        width_axis(ax, calib["widths"], "width multiplier w")
        ax.set_ylabel(label)
    return finish_with_legend(fig, axes[0], title)


def many_models(many: dict, title: str):
    """Uniform merge of N models: accuracy vs width per N (ensemble dashed), fitted beta vs N^(L-1)."""
    ws, bw = many["widths"], many["by_width"]
    ns = list(bw[str(ws[0])])
    colors = dict(zip(ns, plt.get_cmap("tab10").colors))
    fig, axes = grid(2, height=4.6)
    for n in ns:
        for ax, model, key, ls in ((axes[0], "merged", "acc", "-"), (axes[0], "ensemble", "acc", "--"),
                                   (axes[1], "merged", "beta", "-")):
            vals = [[s[model][key] * (100 if key == "acc" else 1) for s in bw[str(w)][n]] for w in ws]
            mean, std = np.array([np.mean(v) for v in vals]), np.array([np.std(v) for v in vals])
            label = f"N = {n}" + (" ensemble" if model == "ensemble" else "")
            ax.errorbar(ws, mean, yerr=std, ls=ls, marker="o", ms=3, capsize=3, color=colors[n], label=label)
        axes[1].axhline(int(n) ** (many["n_layers"] - 1), color=colors[n], ls=":", lw=1)
    axes[1].set_yscale("log", base=2)
    for ax, label in zip(axes, ("test accuracy (%)", r"fitted $\beta$ (dotted: $N^{L-1}$)")):
        width_axis(ax, ws, "width multiplier w")
        ax.set_ylabel(label)
    return finish_with_legend(fig, axes[0], title + " | mean ± std over the subsets of N models",
                              ncol=len(ns))
