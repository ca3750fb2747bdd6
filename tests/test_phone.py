"""Figures on a phone: every figure is shown as a <picture>; one with panels side by side adds a
stacked copy for screens below 720 px whose smallest text is at least 9 CSS px when the image is
shown 380 px wide (a 420 px phone's column)."""
import base64
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from lmc_lib.chapters.plots import phone, style  # noqa: E402

SHOWN_PX = 330  # the image's width in the column of a 420 px screen (measured in Chromium)


def phone_images(markup: str) -> list[tuple[int, int, float]]:
    """(width, height, smallest font in image px) of the image a phone shows: the stacked source
    when there is one, else the <img>."""
    tags = re.findall(r"<(source|img)\b([^>]*)>", markup)
    tag = next((a for t, a in tags if t == "source"), None) or next(a for t, a in tags if t == "img")
    data = re.search(r'(?:srcset|src)="data:image/png;base64,([^"]+)"', tag).group(1)
    font = float(re.search(r'data-font-px="([\d.]+)"', tag).group(1))
    w, h = Image.open(io.BytesIO(base64.b64decode(data))).size
    return [(w, h, font)]


def two_panels(tick_pt: float = 11):
    fig, axes = style.grid(2)
    for i, ax in enumerate(axes):
        ax.plot(np.arange(5), np.arange(5) * (i + 1), label=f"w = {i + 1}")
        ax.set_xlabel("width multiplier w")
        ax.set_ylabel("test accuracy at λ = 1/2 (%)")
        ax.tick_params(labelsize=tick_pt)
    return style.finish_with_legend(fig, axes, "Fashion-MNIST | MLP | profile smoke | w = 1/4, 1 | 3 pairs")


def test_side_by_side_panels_stack_on_a_phone_with_readable_text():
    fig = two_panels()
    markup = phone.figure_html(fig, style.refinish)
    plt.close(fig)
    assert '<source media="(max-width: 719px)"' in markup
    (w, h, font), = phone_images(markup)
    assert h > 1.2 * w  # one column: two panels and the legend stacked (side by side: h < w / 2)
    assert font * SHOWN_PX / w >= 9, f"smallest text {font * SHOWN_PX / w:.1f} px on a phone"


def test_a_single_panel_gets_a_narrower_copy_with_readable_text():
    fig, (ax,) = style.grid(1)
    ax.plot([0, 1], [0, 1], label="w = 1")
    style.finish_with_legend(fig, ax, "one panel")
    markup = phone.figure_html(fig, style.refinish)
    plt.close(fig)
    assert "<source" in markup
    (w, _, font), = phone_images(markup)
    assert font * SHOWN_PX / w >= 9


def test_the_measure_catches_tiny_ticks():
    """Ticks drawn at 5 pt are under 9 px on a phone even when stacked: the measure reports it."""
    fig = two_panels(tick_pt=5)
    (w, _, font), = phone_images(phone.figure_html(fig, style.refinish))
    plt.close(fig)
    assert font * SHOWN_PX / w < 9
