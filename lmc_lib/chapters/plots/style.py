"""One consistent figure style: sizes readable in the book's column, colours per width, helpers.

The book's text column is about 780 px wide, so a figure is at most PAGE_W inches wide (at most
two panels per row) and drawn with 11-12 pt fonts: text stays 13-15 px tall on the page.
"""
from __future__ import annotations

import textwrap

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullLocator

from lmc_lib.chapters.plots.colors import sweep
from lmc_lib.chapters.plots.phone import register as register_phone
from lmc_lib.core.stats import mean_std

PAGE_W = 8.4        # inches: the widest figure (two panels)
PANEL_H = 3.4       # inches: the height of one row of panels
matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 220, "axes.grid": True, "grid.alpha": 0.3,
                            "axes.spines.top": False, "axes.spines.right": False,
                            "font.size": 12, "axes.titlesize": 12, "axes.labelsize": 12,
                            "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 10.5,
                            "legend.framealpha": 0.85, "mathtext.fontset": "dejavusans"})


def high_dpi() -> None:
    """Inline figures at twice the pixels (retina PNG): ticks stay sharp when a phone shrinks them."""
    try:
        from IPython import get_ipython
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    if get_ipython() is not None:
        set_matplotlib_formats("retina")
        register_phone(refinish)



def grid(n: int, cols: int = 2, height: float = PANEL_H, **kw):
    """A figure with n panels, at most `cols` (default 2) per row; returns (fig, list of n axes)."""
    cols = max(1, min(n, cols))
    rows = -(-n // cols)
    width = PAGE_W if cols > 1 else 6.0
    fig, axes = plt.subplots(rows, cols, figsize=(width, height * rows), squeeze=False, **kw)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def width_colors(widths) -> dict:
    """A colour per width (plots.colors: teal for narrow to dark brown for wide, lightness falling
    with width, neighbours at least colors.MIN_DELTA_E apart, each 3:1 or more against white)."""
    ordered = sorted(widths)
    return dict(zip(ordered, sweep(len(ordered))))


def contrast(color, background=(1.0, 1.0, 1.0)) -> float:
    """WCAG contrast ratio of two RGB(A) colours (1 to 21)."""
    def lum(c):
        lin = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c[:3]]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(color), lum(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def band(ax, x, values, label=None, color=None, marker="o", ls="-"):
    """Plot mean over pairs with a +- std band; values: [pairs, len(x)]."""
    mean, std = mean_std(values)
    line, = ax.plot(x, mean, marker=marker, ms=4, ls=ls, label=label, color=color)
    ax.fill_between(x, mean - std, mean + std, alpha=0.2, color=line.get_color())
    return line


def errorbars(ax, x, values, label=None, color=None, marker="o", **kw):
    """Mean +- std over pairs as error bars; values: [pairs, len(x)]."""
    mean, std = mean_std(values)
    return ax.errorbar(x, mean, yerr=std, marker=marker, ms=5, capsize=3, label=label, color=color,
                       **kw)


def log_ticks(ax, axis: str = "y"):
    """Label a log-10 axis at 1, 2, 5 x 10^k (more steps when it spans under two decades); call after plotting."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    dense = lo > 0 and hi / lo < 100
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if dense else (1.0, 2.0, 5.0)
    target.set_major_locator(LogLocator(base=10, subs=subs))
    target.set_major_formatter(FormatStrFormatter("%g"))
    target.set_minor_locator(NullLocator())


def wrap_title(title: str, chars: int) -> str:
    """The setup line in lines of at most about `chars` characters, broken only between its
    " | " parts (never inside "3 pairs"); a part longer than a line is wrapped on its own."""
    lines: list[str] = []
    for part in (p.strip() for p in title.split(" | ")):
        if lines and len(lines[-1]) + 3 + len(part) <= chars:
            lines[-1] += " | " + part
        else:
            lines += textwrap.wrap(part, chars) or [""]
    return "\n".join(lines)


def refinish(fig, title: str, entries=None):
    """Title and lay out a figure again after its panels moved (the phone copy, plots.phone), with
    its legend entries (handles, labels, legend title) in a strip below, if it had a legend."""
    if entries:
        return finish_with_legend_entries(fig, entries[0], entries[1], title, entries[2])
    return finish(fig, title)


def fit_ylabels(fig) -> None:
    """Wrap a y label longer than its panel is tall onto two or more lines, so that it reaches
    neither the figure's title above nor the legend below."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in (a for a in fig.axes if a.get_visible() and a.axison and a.get_ylabel()):
        label, room = ax.yaxis.label, ax.get_window_extent(renderer).height
        text = label.get_text().replace("\n", " ")
        for lines in range(2, 5):
            if label.get_window_extent(renderer).height <= room:
                break
            label.set_text(textwrap.fill(text, -(-len(text) // lines) + 2))


def finish(fig, title: str):
    """Title the figure with its setup line (wrapped to the figure's width, broken only between
    its parts), fit the y labels to their panels, and tighten it."""
    chars = int(fig.get_figwidth() * 11)
    fig.lmc_title = title  # the phone copy (plots.phone) wraps it again to its own width
    fig.suptitle(wrap_title(title, chars) if title else "", fontsize=11)
    fig.tight_layout()
    fit_ylabels(fig)
    fig.tight_layout()
    return fig


def _entries(axes) -> tuple[list, list]:
    """(handles, labels) of the axes' legend entries in drawing order, each label once."""
    seen = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    return list(seen.values()), list(seen)


def _strip(fig, handles, labels, ncol, **kw):
    """A figure legend at the bottom centre with at most `ncol` columns (default: as many as fit the
    figure's width)."""
    for n in ([ncol] if ncol else range(len(labels), 0, -1)):
        legend = fig.legend(handles, labels, loc="lower center", ncol=n, **kw)
        if ncol or n == 1 or legend.get_window_extent().width <= fig.bbox.width:
            return legend
        legend.remove()


def finish_with_legend(fig, ax, title: str, ncol: int | None = None, legend_title: str | None = None, **kw):
    """`finish`, with one legend for the whole figure (the entries of ax, or of a list of axes, each
    label once) off the data: in the grid's empty cell if it has one, else in a strip below the
    panels, which are laid out again above it."""
    handles, labels = _entries(ax if isinstance(ax, (list, tuple)) else [ax])
    spare = [a for a in fig.axes if not a.get_visible()]
    if not labels:
        return finish(fig, title)
    if spare:
        spare[0].set_visible(True)
        spare[0].axis("off")
        spare[0].legend(handles, labels, loc="center", ncol=ncol or 1 + (len(labels) > 5),
                        title=legend_title, **kw)
        return finish(fig, title)
    return finish_with_legend_entries(fig, handles, labels, title, legend_title, ncol, **kw)


def finish_with_legend_entries(fig, handles, labels, title: str, legend_title: str | None = None,
                               ncol: int | None = None, **kw):
    """`finish`, with these legend entries in a strip below the panels (laid out above it)."""
    legend = _strip(fig, handles, labels, ncol, title=legend_title, **kw)
    finish(fig, title)
    rect = (0, legend.get_window_extent().height / fig.bbox.height + 0.01, 1, 1)
    fig.tight_layout(rect=rect)
    fit_ylabels(fig)
    fig.tight_layout(rect=rect)
    return fig


high_dpi()  # last: it registers refinish for the phone copies
