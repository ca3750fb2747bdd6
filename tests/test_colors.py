"""Width colours a reader can tell apart: every two neighbouring widths differ by a CIE76 colour
difference (Delta E*ab, computed here from sRGB independently of the library) of at least
colors.MIN_DELTA_E, for every number of widths a profile uses (up to 8)."""
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from lmc_lib.chapters.plots import colors, style


def cielab(color) -> np.ndarray:
    """sRGB (D65) -> CIELAB, by the textbook formulas."""
    c = np.array(to_rgb(color))
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e76(a, b) -> float:
    return float(np.linalg.norm(cielab(a) - cielab(b)))


@pytest.mark.parametrize("n", range(2, 9))
def test_neighbouring_widths_are_distinguishable(n):
    widths = [2.0 ** k for k in range(-3, n - 3)]
    cs = style.width_colors(widths)
    gaps = [delta_e76(cs[a], cs[b]) for a, b in zip(widths, widths[1:])]
    assert min(gaps) >= colors.MIN_DELTA_E, f"{n} widths: neighbour Delta E76 {np.round(gaps, 1)}"
    assert colors.MIN_DELTA_E >= 20  # the stated minimum is not lowered to let a map pass


def test_the_check_catches_the_old_viridis_map():
    """The map the book used before (viridis from 0.58 to 0): w = 2 and w = 4 of six widths were
    two dark purples, closer than the minimum."""
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("viridis")
    old = [cmap(0.58 - 0.58 * i / 5) for i in range(6)]
    assert min(delta_e76(a, b) for a, b in zip(old, old[1:])) < colors.MIN_DELTA_E


def test_lightness_falls_with_width_and_stays_readable_on_white():
    cs = colors.sweep(7)
    lightness = [cielab(c)[0] for c in cs]
    assert all(a > b for a, b in zip(lightness, lightness[1:]))
    assert min(style.contrast(c) for c in cs) >= 3.0
