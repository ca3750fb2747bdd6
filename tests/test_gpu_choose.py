"""Tests of scripts/gpu_choose.py: the device session's decisions follow what was measured."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "gpu_choose", Path(__file__).resolve().parent.parent / "scripts" / "gpu_choose.py")
gc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gc)


def test_unmeasured_widths_are_projected_from_their_neighbours():
    sweep = {1.0: 10.0, 4.0: 20.0, 16.0: 320.0}
    assert gc.projected(sweep, 4.0) == 20.0
    assert gc.projected(sweep, 8.0) == pytest.approx(80.0)  # 320 * (8 / 16)^2
    assert gc.projected(sweep, 2.0) == 10.0  # 20 * (2 / 4)^2 = 5 is below w = 1's 10
    assert gc.projected(sweep, 0.25) == 10.0  # below the narrowest: launch-bound, not faster


def test_widths_drop_the_widest_until_the_projection_fits():
    rows = [dict(width=w, sweep_s=s) for w, s in ((0.25, 5.0), (1, 5.0), (4, 20.0), (16, 320.0))]
    widths, need = gc.widths_choice(rows, 10_000)
    assert widths == list(gc.PAPER_WIDTHS) and need <= 10_000
    widths, need = gc.widths_choice(rows, 500)
    assert widths[-1] == 8 and need <= 500
    assert gc.widths_choice(rows, 500 + 1.5 * 2 * 320)[0][-1] == 16
    assert len(gc.widths_choice(rows, 1)[0]) == 3  # never fewer than three widths
    noisy = rows + [dict(width=2, sweep_s=float("nan"))]  # a width whose timing drowned in noise
    assert gc.widths_choice(noisy, 500) == gc.widths_choice(rows, 500)
