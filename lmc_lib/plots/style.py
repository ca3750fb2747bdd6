"""One consistent figure style: sizes, colours per width, mean +- std helpers."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

matplotlib.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3,
                            "axes.spines.top": False, "axes.spines.right": False,
                            "font.size": 10, "axes.titlesize": 9, "legend.fontsize": 8})


def width_colors(widths) -> dict:
    """A colour per width, light (narrow) to dark (wide)."""
    cmap = plt.get_cmap("viridis")
    n = max(len(widths) - 1, 1)
    return {w: cmap(0.9 - 0.8 * i / n) for i, w in enumerate(sorted(widths))}


def mean_std(values) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the first axis (pairs); std 0 for a single pair."""
    arr = np.asarray(values, dtype=float)
    std = arr.std(axis=0, ddof=1) if len(arr) > 1 else np.zeros_like(arr[0])
    return arr.mean(axis=0), std


def band(ax, x, values, label=None, color=None, marker="o"):
    """Plot mean over pairs with a +- std band; values: [pairs, len(x)]."""
    mean, std = mean_std(values)
    line, = ax.plot(x, mean, marker=marker, ms=3, label=label, color=color)
    ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return line


def errorbars(ax, x, values, label=None, color=None, marker="o"):
    """Mean +- std over pairs as error bars; values: [pairs, len(x)]."""
    mean, std = mean_std(values)
    return ax.errorbar(x, mean, yerr=std, marker=marker, ms=4, capsize=3, label=label, color=color)


def finish(fig, title: str):
    """Title the figure with its setup line and tighten the layout."""
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
