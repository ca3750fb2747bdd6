"""The training-length chapter's figure: each claim's core quantity against epochs, per width."""
from __future__ import annotations

import textwrap

import numpy as np
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullLocator

from lmc_lib.chapters.plots.style import errorbars, finish_with_legend, grid, width_colors
from lmc_lib.core.config import width_label

ARROW = {+1: "paper: up", -1: "paper: down"}


def core_vs_epochs(panels: list[dict], title: str):
    """One panel per claim (attribution.lengths dicts): the core quantity against training epochs
    (log axis), a line per width, mean ± std over pairs; the panel title gives the paper's direction."""
    panels = [p for p in panels if p["epochs"]]
    fig, axes = grid(max(len(panels), 1), cols=2)
    widths = sorted({w for p in panels for w in p["widths"]})
    colors = width_colors(widths)
    for ax, p in zip(axes, panels):
        for i, w in enumerate(p["widths"]):
            vals = np.array([p["values"][e][i] for e in p["epochs"]], dtype=float).T  # [pairs, epochs]
            errorbars(ax, p["epochs"], vals, label=f"w = {width_label(w)}", color=colors[w])
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(p["epochs"]))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))  # picklable: the phone copy
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("training epochs (log scale)")
        ax.set_ylabel(textwrap.fill(p["name"], 30))
        ax.set_title(f"{p['claim']} ({ARROW[p['direction']]})")
    if not panels:
        axes[0].text(0.5, 0.5, "not recorded", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    return finish_with_legend(fig, axes, title, legend_title="width")
