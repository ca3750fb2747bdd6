"""The figures' style: readable widths, accuracy barriers in pp, chance lines, log ticks."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lmc_lib.chapters.plots import layers, settings, style  # noqa: E402

WIDTHS = [0.25, 1.0]


def _study(acc_barrier):
    """A settings-style study (ch10/ch11): two pairs, barriers at lam = 1/2 per width."""
    blk = lambda a: {"acc_barrier": {"half": [a, a]}, "cal_barrier": {"half": [0.1, 0.2]},  # noqa: E731
                     "raw_barrier": {"half": [0.5, 0.6]}}
    return {"widths": WIDTHS, "by_width": {str(w): blk(a) for w, a in zip(WIDTHS, acc_barrier)}}


@pytest.mark.parametrize("n, rows", [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_grid_has_at_most_two_panels_per_row_within_the_page(n, rows):
    fig, axes = style.grid(n)
    assert len(axes) == n
    assert len(fig.axes) == (2 * rows if n > 1 else 1)
    assert fig.get_figwidth() <= style.PAGE_W
    plt.close(fig)


def test_accuracy_barriers_are_drawn_in_percentage_points():
    fig = settings.barriers_vs_width({"adam": _study([0.05, 0.01])}, "t")
    ax = fig.axes[0]
    y = ax.lines[0].get_ydata()
    assert np.allclose(y, [5.0, 1.0]) and "pp" in ax.get_ylabel()
    plt.close(fig)


def test_active_overlap_draws_the_chance_level():
    per = {str(w): {"overlap": [[0.2, 0.3]], "overlap_wm": [[0.8, 0.9]], "active": [[0.1, 0.15]]}
           for w in WIDTHS}
    fig = layers.active_overlap({"widths": WIDTHS, "hidden": [1, 2], "mass": 0.9, "per_width": per}, "t")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert any("chance" in lab for lab in labels)
    chance = [ln for ln in fig.axes[1].lines if ln.get_linestyle() == "--"]
    assert chance and np.allclose(chance[0].get_ydata(), [0.15, 0.15])
    plt.close(fig)


def test_log_ticks_label_more_than_the_powers_of_ten():
    fig, ax = plt.subplots()
    ax.plot([1, 2], [0.7, 2.4])
    ax.set_yscale("log")
    style.log_ticks(ax)
    lo, hi = ax.get_ylim()
    shown = [t for t in ax.get_yticks() if lo <= t <= hi]
    assert len(shown) >= 3 and 1.0 in shown
    plt.close(fig)


def test_long_titles_wrap_to_the_figure_width():
    fig, _ = style.grid(1)
    style.finish(fig, "word " * 60)
    assert fig._suptitle.get_text().count("\n") >= 2
    plt.close(fig)


def test_no_ascii_exponents_in_axis_text():
    fig = settings.barriers_vs_width({"adam": _study([0.05, 0.01])}, "t",
                                     keys=("acc_barrier", "cal_barrier", "raw_barrier"))
    texts = [ax.get_title() + ax.get_ylabel() + ax.get_xlabel() for ax in fig.axes]
    assert not any("lam =" in t or "^-(" in t for t in texts)
    plt.close(fig)
