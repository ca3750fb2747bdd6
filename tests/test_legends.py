"""Legends off the data: every figure function, drawn from a hand-made result of the shape its
study returns, places each legend where it covers no plotted point, line, band or bar of any of the
figure's axes, inside the figure and clear of the axes' text. A figure with its legend on the data
fails the same check."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import Collection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from lmc_lib.chapters import hypothesis  # noqa: E402
from lmc_lib.chapters.plots import basics, conditions, layers, lengths, paths, settings  # noqa: E402
from lmc_lib.chapters.results import wkey  # noqa: E402

W = [0.125, 0.25, 0.5, 1.0]
PAIRS, LAMS = 3, np.linspace(0, 1, 11)
RNG = np.random.default_rng(0)


def _v(*shape, lo=0.0, hi=1.0):
    """Hand-made values in [lo, hi): lists of the given shape (pairs first)."""
    return (lo + (hi - lo) * RNG.random(shape)).tolist()


def _curve(lo, hi):
    """[pairs, lams] of a dip along lam (the shape of an accuracy path) spread over [lo, hi]."""
    dip = 1 - np.sin(np.pi * LAMS)
    return [(lo + (hi - lo) * (dip * (0.8 + 0.2 * RNG.random()))).tolist() for _ in range(PAIRS)]


# ----------------------------------------------------------------------------- hand-made results
def _paths_result():
    blk = lambda: dict(acc=_curve(0.3, 0.9), loss=_curve(1.2, 0.3), cal_loss=_curve(0.8, 0.3),  # noqa: E731
                       beta=_curve(4, 1), inv_beta=_curve(0.25, 1), acc_barrier_max=_v(PAIRS),
                       cal_barrier_max=_v(PAIRS), loss_barrier_max=_v(PAIRS))
    res = dict(widths=W, lams=LAMS.tolist(), n_pairs=PAIRS, n_perms=1, settings=dict(arch="mlp"),
               matchings=["none", "random", "wm"])
    res.update({m: {wkey(w): blk() for w in W} for m in res["matchings"]})
    return res


def _example():
    return dict(lams=LAMS.tolist(), acc=_curve(0.4, 0.9)[:1], loss=_curve(1.5, 0.3)[:1], pair=0)


def _layers_result():
    ls, hidden = [1, 2, 3, 4], [1, 2, 3]
    per = {str(w): dict(cos=_v(PAIRS, 4), norm_merged=_v(PAIRS, 4, lo=0.1), norm_lewc=_v(PAIRS, 4, lo=0.1),
                        wa=_v(PAIRS, 3), ro_ab=_v(PAIRS, 4), ro_ba=_v(PAIRS, 4), cos_a=_v(PAIRS, 4),
                        cos_b=_v(PAIRS, 4), overlap=_v(PAIRS, 3), overlap_wm=_v(PAIRS, 3),
                        active=_v(PAIRS, 3), rank=_v(PAIRS, 4, lo=2, hi=8), dims=[[16, 16]] * 4,
                        hist=dict(counts=_v(3, 10, lo=1, hi=100), edges=[np.linspace(0, 2, 11).tolist()] * 3),
                        general={str(lam): dict(cos=_v(PAIRS, 4), scale=_v(PAIRS, 4, lo=0.5, hi=2))
                                 for lam in (0.25, 0.5)}) for w in W}
    return dict(widths=W, layers=ls, hidden=hidden, per_width=per, prediction=[2.0 ** -(l - 1) for l in ls],
                lams=[0.25, 0.5], general_widths=[W[0], W[-1]], gaussian_limit=0.9304, mass=0.9)


def _gauss():
    dims = [4, 16, 64, 256]
    return dict(lams=[0.5, 0.25], dims=dims, mc={"0.5": _v(4, lo=0.9), "0.25": _v(4, lo=0.9)},
                limit={"0.5": 0.9304, "0.25": 0.95})


def _conditions_result():
    wds = [0.0, 1e-4, 1e-3]
    per_wd = {str(wd): dict(acc_barrier=_v(PAIRS), cal_barrier=_v(PAIRS), lewc=_v(PAIRS, 4),
                            weak_additivity=_v(PAIRS, 3), ro_ratio=_v(PAIRS, 3), lam=LAMS.tolist(),
                            acc=_curve(0.3, 0.9), cal_loss=_curve(0.8, 0.3), eff_rank=_v(PAIRS, 4, lo=2, hi=9),
                            eff_rank_rel=_v(PAIRS, 4)) for wd in wds}
    t = np.linspace(0, 2, 9).tolist()
    per_width = {str(w): dict(rand_acc=_v(PAIRS, 9), rand_loss=_v(PAIRS, 9), path_acc=_v(PAIRS, 9),
                              path_loss=_v(PAIRS, 9), cos_random=_v(PAIRS, 3), cos_b=_v(PAIRS, 3)) for w in W}
    return dict(weight_decays=wds, width=0.5, per_wd=per_wd, widths=W, layers=[2, 3, 4],
                none={str(w): _v(PAIRS, 3, lo=0.5, hi=2) for w in W},
                wm={str(w): _v(PAIRS, 3, lo=0.1, hi=1) for w in W}, t=t, per_width=per_width)


def _study(widths=W):
    bar = lambda: {"half": _v(PAIRS), "max": _v(PAIRS)}  # noqa: E731
    return dict(widths=widths, by_width={str(w): dict(
        lams=LAMS.tolist(), acc=_curve(0.3, 0.9), cal_loss=_curve(0.8, 0.3), loss=_curve(1.2, 0.3),
        norm_ratio=_v(PAIRS, 4, lo=0.1), lewc_norm_ratio=_v(PAIRS, 4, lo=0.1), acc_barrier=bar(),
        cal_barrier=bar(), raw_barrier=bar(), end_acc=_v(PAIRS), end_cal_loss=_v(PAIRS),
        ro_ratio=_v(PAIRS, 3)) for w in widths})


def _calib():
    stats = lambda: dict(acc=_v(PAIRS, lo=0.7), beta=_v(PAIRS, lo=1, hi=10), loss=_v(PAIRS),  # noqa: E731
                         cal_loss=_v(PAIRS), pred_cal_loss=_v(PAIRS))
    return dict(widths=W, n_layers=4, beta_pred=8.0,
                by_width={str(w): {m: stats() for m in ("a", "b", "merged", "ensemble")} for w in W})


def _many():
    sub = lambda: {m: dict(acc=float(RNG.uniform(0.5, 0.9)), beta=float(RNG.uniform(1, 60)))  # noqa: E731
                   for m in ("merged", "ensemble")}
    return dict(widths=W, n_layers=4, by_width={str(w): {"2": [sub() for _ in range(6)], "3": [sub() for _ in range(4)],
                                                         "4": [sub()]} for w in W})


def _lengths_panels():
    """attribution.lengths dicts of three claims: [width][pair] values at 3, 10, 30, 100 epochs."""
    eps = [3, 10, 30, 100]
    return [dict(claim=c, name=f"quantity of {c}", direction=d, widths=W, epochs=eps,
                 values={e: [_v(PAIRS, lo=0.5, hi=1.0) for _ in W] for e in eps})
            for c, d in (("C1", -1), ("C4", 1), ("C6", 1))]


def _figures():
    """(name, draw) for every figure function of the plots modules that draws a legend."""
    p, ly, c = _paths_result(), _layers_result(), _conditions_result()
    studies = {"adam": _study(), "sophia": _study(), "vgg11": _study(W[:2])}
    calib = _calib()
    return {
        "basics.loss_curve": lambda: basics.loss_curve(dict(step_losses=_v(200, lo=0.2, hi=2.3),
                                                            epoch_losses=_v(4, lo=0.3, hi=1.0))),
        "paths.barrier_example": lambda: paths.barrier_example(_example(), "t"),
        "paths.accuracy_vs_lam": lambda: paths.accuracy_vs_lam(p, "t"),
        "paths.accuracy_vs_lam wm": lambda: paths.accuracy_vs_lam(p, "t", "wm"),
        "paths.loss_vs_lam": lambda: paths.loss_vs_lam(p, "t"),
        "paths.barriers_vs_width": lambda: paths.barriers_vs_width(p, "t"),
        "paths.beta_vs_width": lambda: paths.beta_vs_width(p, "t"),
        "paths.random_permutations": lambda: paths.random_permutations(p, "t"),
        "layers.lewc_cosine": lambda: layers.lewc_cosine(ly, "t"),
        "layers.norm_decay": lambda: layers.norm_decay(ly, "t"),
        "layers.lewc_general": lambda: layers.lewc_general(ly, "t"),
        "layers.gaussian_wa": lambda: layers.gaussian_wa(_gauss()),
        "layers.weak_additivity": lambda: layers.weak_additivity(ly, "t"),
        "layers.second_moments": lambda: layers.second_moments(ly, "t"),
        "layers.active_overlap": lambda: layers.active_overlap(ly, "t"),
        "layers.effective_rank": lambda: layers.effective_rank(ly, "t"),
        "layers.reciprocal_orthogonality": lambda: layers.reciprocal_orthogonality(ly, "t"),
        "layers.merged_projection": lambda: layers.merged_projection(ly, "t"),
        "conditions.fig9_barriers_vs_wd": lambda: conditions.fig9_barriers_vs_wd(c, "t"),
        "conditions.fig10_conditions_vs_wd": lambda: conditions.fig10_conditions_vs_wd(c, "t"),
        "conditions.fig23_curves_per_wd": lambda: conditions.fig23_curves_per_wd(c, "t"),
        "conditions.effective_rank_vs_wd": lambda: conditions.effective_rank_vs_wd(c, "t"),
        "conditions.fig11_commutativity": lambda: conditions.fig11_commutativity(c, "t"),
        "conditions.fig12_flatness": lambda: conditions.fig12_flatness(c, "t"),
        "lengths.core_vs_epochs": lambda: lengths.core_vs_epochs(_lengths_panels(), "t"),
        "conditions.fig13_14_activation_cosine": lambda: conditions.fig13_14_activation_cosine(c, "t"),
        "settings.lam_paths": lambda: settings.lam_paths(studies, "t"),
        "settings.norm_decay": lambda: settings.norm_decay(studies, "t"),
        "settings.barriers_vs_width": lambda: settings.barriers_vs_width(studies, "t"),
        "settings.endpoints_vs_width": lambda: settings.endpoints_vs_width(studies, "t"),
        "settings.ro_per_layer": lambda: settings.ro_per_layer(studies, "t"),
        "settings.beta_vs_width": lambda: settings.beta_vs_width(calib, "t"),
        "settings.calib_barriers": lambda: settings.calib_barriers(calib, "t"),
        "settings.merged_vs_ensemble": lambda: settings.merged_vs_ensemble(calib, "t"),
        "settings.many_models": lambda: settings.many_models(_many(), "t"),
        "hypothesis.plot_widths": lambda: hypothesis.plot_widths(W, {"a": _v(3, 4), "b": _v(3, 4)}, "t"),
        "hypothesis.plot_compare": lambda: hypothesis.plot_compare(
            {"recipe 1": _v(3, 4), "recipe 2": _v(3, 4, lo=0.5)}, W, "y", "t"),
    }


# ----------------------------------------------------------------------------- the rule
def _densify(xy: np.ndarray, joined: bool, step: float = 2.0) -> np.ndarray:
    """Display points of a polyline: its vertices, and with `joined` points every `step` px along it."""
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    if not joined or len(xy) < 2:
        return xy
    out = [xy]
    for a, b in zip(xy[:-1], xy[1:]):
        n = int(np.hypot(*(b - a)) // step) + 1
        out.append(a + np.linspace(0, 1, n + 1)[:, None] * (b - a))
    return np.concatenate(out)


def _artist_points(artist) -> list[np.ndarray]:
    """Display coordinates of what an artist draws: line vertices (and the segments between them
    when a line style joins them), collection paths (bands, error bars), patches (histograms)."""
    if isinstance(artist, Line2D):
        joined = artist.get_linestyle() not in ("None", "none", "", " ")
        return [_densify(artist.get_transform().transform(artist.get_xydata()), joined)]
    if isinstance(artist, Collection):
        tr, paths_ = artist.get_transform(), artist.get_paths()
    elif isinstance(artist, Patch):
        tr, paths_ = artist.get_transform(), [artist.get_path()]
    else:
        return []
    return [_densify(np.asarray(poly), True) for p in paths_ for poly in p.to_polygons(tr, closed_only=False)]


def _data_points(ax) -> np.ndarray:
    """Every plotted point of ax (lines, bands, bars, patches) inside the axes, in display pixels."""
    box = ax.bbox
    pts = [p for a in ax.lines + ax.collections + ax.patches if a.get_visible() for p in _artist_points(a)]
    pts = np.concatenate(pts) if pts else np.empty((0, 2))
    inside = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
    return pts[inside]


def _band_covers(ax, box) -> bool:
    """True if the legend box's centre lies inside a filled band (PolyCollection) of ax."""
    centre = ((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2)
    return any(p.contains_point(centre, transform=c.get_transform())
               for c in ax.collections if c.get_visible() and len(c.get_facecolor())
               for p in c.get_paths())


def _texts(ax):
    """The axes' title, axis labels and the tick labels it draws (ticks inside the view)."""
    def shown(labels, lim, i):
        lo, hi = sorted(lim)
        return [t for t in labels if lo - 1e-9 * abs(lo) <= t.get_position()[i] <= hi + 1e-9 * abs(hi)]
    ticks = shown(ax.get_xticklabels(), ax.get_xlim(), 0) + shown(ax.get_yticklabels(), ax.get_ylim(), 1)
    return [t for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *ticks) if t.get_visible() and t.get_text()]


def legend_problems(fig) -> list[str]:
    """What is wrong with the figure's legends: a legend over a plotted point of any axes, over a
    band, over an axes' title, label or tick label, or outside the figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible() and ax.axison]  # not an empty cell holding a legend
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_visible() and ax.get_legend()]
    problems = []
    for k, leg in enumerate(legends):
        box = leg.get_window_extent(renderer)
        if box.x0 < -1 or box.y0 < -1 or box.x1 > fig.bbox.x1 + 1 or box.y1 > fig.bbox.y1 + 1:
            problems.append(f"legend {k} outside the figure")
        for i, ax in enumerate(axes):
            pts = _data_points(ax)
            hit = (pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1) & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1)
            if hit.any() or _band_covers(ax, box):
                problems.append(f"legend {k} covers {int(hit.sum())} data points of axes {i}")
            if any(box.overlaps(t.get_window_extent(renderer)) for t in _texts(ax)):
                problems.append(f"legend {k} covers text of axes {i}")
    return problems


FIGURES = _figures()


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_legend_sits_off_the_data(name):
    fig = FIGURES[name]()
    try:
        assert fig.legends or any(ax.get_legend() for ax in fig.axes), f"{name} draws no legend"
        assert legend_problems(fig) == []
    finally:
        plt.close(fig)


def test_the_rule_flags_a_legend_on_the_data_and_one_on_a_band():
    """A legend placed on the middle of a line (and one on a band) is what the check exists to catch."""
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    x = np.linspace(0, 1, 50)
    ax.plot(x, x, label="on the diagonal")
    ax.legend(loc="center")
    assert any("covers" in p and "data points" in p for p in legend_problems(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    ax.fill_between([0, 1], [0, 0], [1, 1], alpha=0.2, label="band")
    ax.plot([0, 1], [0, 0], label="edge")  # the band's only vertices lie on the border, far from the legend
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.legend(loc="center")
    assert legend_problems(fig) != []
    plt.close(fig)


def test_the_rule_flags_a_legend_cut_off_or_over_axis_text():
    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    ax.plot([0, 1], [0, 1], label="line")
    ax.set_xlabel("a long x label (units)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.02))  # on the tick labels and the x label
    assert any("text" in p for p in legend_problems(fig))
    ax.legend(loc="upper left", bbox_to_anchor=(1.5, 1.0))  # right of the canvas: cut off
    assert any("outside the figure" in p for p in legend_problems(fig))
    plt.close(fig)


def test_every_figure_function_with_a_legend_is_checked():
    """A new figure function that draws a legend joins FIGURES, so the rule above covers it."""
    import inspect

    drawn = {name.split()[0] for name in FIGURES}
    for module in (basics, conditions, layers, lengths, paths, settings, hypothesis):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and not name.startswith("_") and "legend" in inspect.getsource(fn):
                assert f"{module.__name__.rsplit('.', 1)[1]}.{name}" in drawn, name


def test_a_figure_without_labelled_curves_finishes_without_a_legend():
    from lmc_lib.chapters.plots import style

    fig, axes = style.grid(3)
    axes[0].plot([0, 1], [0, 1])
    style.finish_with_legend(fig, axes, "t")
    assert not fig.legends and not any(ax.get_legend() for ax in fig.axes)
    assert not fig.axes[3].get_visible()  # the empty cell stays empty
    plt.close(fig)
