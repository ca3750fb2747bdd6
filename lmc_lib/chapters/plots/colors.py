"""The colour of each width: a sweep through CIE LCh, light teal (narrow) to dark brown (wide).

Lightness falls from L* = 60 to 15 as the hue turns from teal through blue, purple and crimson
(190° to 420°, chroma 60, reduced where sRGB cannot show it). Falling lightness keeps the order
readable in grey and for colour-blind readers; the turning hue keeps neighbours apart: for up to 8
widths every two neighbours differ by a CIE76 colour difference (Delta E*ab) of at least MIN_DELTA_E,
and every colour has a contrast of at least 3:1 on a white page (tests/test_colors.py).
"""
from __future__ import annotations

import math

import numpy as np

LIGHT, DARK, CHROMA, HUE_FROM, HUE_TO = 60.0, 15.0, 60.0, 190.0, 420.0
MIN_DELTA_E = 20.0  # CIE76 Delta E*ab between neighbouring widths (up to 8 widths)
_XYZ_TO_RGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415],
                        [0.0557, -0.2040, 1.0570]])
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65


def _linear_rgb(lightness: float, a: float, b: float) -> np.ndarray:
    """CIELAB (D65) to linear sRGB (may lie outside [0, 1])."""
    fy = (lightness + 16) / 116
    f = np.array([fy + a / 500, fy, fy - b / 200])
    xyz = np.where(f > 6 / 29, f ** 3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * _WHITE
    return _XYZ_TO_RGB @ xyz


def lch_color(lightness: float, chroma: float, hue: float) -> tuple:
    """An sRGB colour (r, g, b in [0, 1]) of CIE LCh; chroma lowered until sRGB can show it."""
    while chroma > 0:
        lin = _linear_rgb(lightness, chroma * math.cos(math.radians(hue)),
                          chroma * math.sin(math.radians(hue)))
        if lin.min() >= -1e-4 and lin.max() <= 1 + 1e-4:
            break
        chroma -= 1.0
    lin = np.clip(_linear_rgb(lightness, chroma * math.cos(math.radians(hue)),
                              chroma * math.sin(math.radians(hue))) if chroma > 0
                  else _linear_rgb(lightness, 0, 0), 0, 1)
    rgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return tuple(float(v) for v in np.clip(rgb, 0, 1))


def sweep(n: int) -> list[tuple]:
    """n colours, narrow to wide (one: the middle of the sweep)."""
    steps = [0.5] if n == 1 else [i / (n - 1) for i in range(n)]
    return [lch_color(LIGHT + (DARK - LIGHT) * t, CHROMA, HUE_FROM + (HUE_TO - HUE_FROM) * t)
            for t in steps]
