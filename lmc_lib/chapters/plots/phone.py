"""Figures that read on a phone: every figure wider than a phone's column also ships a phone copy.

In a notebook every matplotlib figure is shown as HTML (`figure_html`, registered by
`register(refinish)`): a `<picture>` whose `<img>` is the figure as drawn (retina PNG) and which
adds a source for screens narrower than PHONE_PX: the same panels in one column, STACK_W inches
wide (panels side by side are stacked), so that the smallest text stays at least 9 CSS px tall in
the about 330 px column of a 420 px screen. Every image carries `data-font-px`, the smallest font
in it in image pixels, so the browser test can measure the rendered size of the smallest text.
"""
from __future__ import annotations

import base64
import html
import io
import pickle

import matplotlib.pyplot as plt
from matplotlib.gridspec import GridSpec
from matplotlib.text import Text

PHONE_PX = 720      # below this screen width the stacked copy is shown
STACK_W = 4.6       # inches: the phone copy's width (a 420 px phone's column is about 330 px)
STACK_PANEL_H = 3.0  # inches per stacked panel (an empty cell holding a legend: half)
SCALE = 2           # image pixels per figure pixel (retina)


def min_font_pt(fig) -> float:
    """The smallest font size (points) of the figure's visible, non-empty texts."""
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes) if sizes else 0.0


def png(fig) -> tuple[str, int, float]:
    """(base64 PNG, width in CSS px, smallest font in image px) of the figure at SCALE x its dpi."""
    buf = io.BytesIO()
    dpi = SCALE * fig.dpi
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    from PIL import Image

    width = Image.open(io.BytesIO(buf.getvalue())).size[0]
    return base64.b64encode(buf.getvalue()).decode(), width // SCALE, min_font_pt(fig) * dpi / 72


def panel_specs(fig) -> list | None:
    """The distinct grid cells of the visible axes in reading order, or None when the figure is
    not a grid of more than one column (nothing to stack) or has axes outside the grid."""
    axes = [a for a in fig.axes if a.get_visible()]
    specs = [a.get_subplotspec() for a in axes]
    if not specs or any(s is None for s in specs):
        return None
    if max(s.get_gridspec().ncols for s in specs) < 2:
        return None
    seen = []
    for s in sorted(specs, key=lambda s: (s.rowspan.start, s.colspan.start)):
        if not any(s == t for t in seen):
            seen.append(s)
    return seen


def stacked(fig, refinish):
    """A copy of `fig` with its panels in one column, STACK_W wide, titled and laid out again by
    `refinish(copy, title, legend entries (handles, labels, legend title) or None)`; None when
    it has no grid."""
    grid = panel_specs(fig) is not None
    if not grid and fig.get_figwidth() <= STACK_W + 0.05:
        return None  # one column, already narrow: the phone shows it as drawn
    try:
        twin = pickle.loads(pickle.dumps(fig))
    except (pickle.PicklingError, TypeError, AttributeError):
        return None  # e.g. a lambda formatter: shown as drawn (the browser test measures it)
    if not grid:  # one column: the same panels, narrower
        twin.set_size_inches(STACK_W, fig.get_figheight(), forward=False)
        return _refinished(twin, refinish)
    specs = panel_specs(twin)
    axes = [a for a in twin.axes if a.get_visible()]
    panel = [any(a.axison for a in axes if a.get_subplotspec() == s) for s in specs]
    ratios = [1.0 if p else 0.5 for p in panel]
    twin.set_size_inches(STACK_W, STACK_PANEL_H * sum(ratios) + 0.9, forward=False)
    cells = GridSpec(len(specs), 1, figure=twin, height_ratios=ratios)
    for a in axes:
        a.set_subplotspec(cells[next(i for i, s in enumerate(specs) if s == a.get_subplotspec())])
    return _refinished(twin, refinish)


def _refinished(twin, refinish):
    """The copy titled and laid out again, its figure legend (if any) rebuilt below the panels."""
    legends = list(twin.legends)
    for leg in legends:
        leg.remove()
    entries = None
    if legends:
        leg = legends[0]
        entries = (leg.legend_handles, [t.get_text() for t in leg.get_texts()],
                   leg.get_title().get_text() or None)
    refinish(twin, getattr(twin, "lmc_title", "") or "", entries)
    return twin


def figure_html(fig, refinish) -> str:
    """The figure as a <picture>: the drawn layout, and for a multi-column grid a stacked source
    (laid out by `refinish`, see `stacked`) for screens below PHONE_PX; alt text from its title."""
    data, width, font = png(fig)
    alt = html.escape(getattr(fig, "lmc_title", "") or "figure", quote=True)
    source = ""
    twin = stacked(fig, refinish)
    if twin is not None:
        narrow, _, narrow_font = png(twin)
        plt.close(twin)
        source = (f'<source media="(max-width: {PHONE_PX - 1}px)" data-font-px="{narrow_font:.1f}" '
                  f'srcset="data:image/png;base64,{narrow}">')
    return (f'<picture class="lmc-figure">{source}<img src="data:image/png;base64,{data}" '
            f'width="{width}" alt="{alt}" data-font-px="{font:.1f}"></picture>')


def register(refinish) -> None:
    """Show every matplotlib figure of this IPython kernel as `figure_html` (the PNG stays in the
    output for other viewers); `refinish` lays out the stacked copy (plots.style.refinish)."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["text/html"].for_type(
            Figure, lambda fig: figure_html(fig, refinish))
