"""benchmarks/bf16_check.py's rule: Holm's step-down over paired t-tests, and its null (the same
samples per batch summed in reverse order) perturbs training by floating point alone."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lmc_lib.core import train_group
from lmc_lib.core.config import make_config

_spec = importlib.util.spec_from_file_location(
    "bf16_check", Path(__file__).resolve().parent.parent / "benchmarks" / "bf16_check.py")
bf16_check = importlib.util.module_from_spec(_spec)
sys.modules["bf16_check"] = bf16_check
_spec.loader.exec_module(bf16_check)


def test_holm_rejects_in_step_down_order_and_stops_at_the_first_keep():
    got = bf16_check.holm([0.001, 0.04, 0.012, 0.3], alpha=0.05)
    assert [t for t, _ in got] == pytest.approx([0.05 / 4, 0.05 / 2, 0.05 / 3, 0.05 / 1])
    assert [r for _, r in got] == [True, False, True, False]  # 0.012 <= 0.05/3, 0.04 > 0.05/2
    assert not any(r for _, r in bf16_check.holm([0.03, 0.04], alpha=0.05))  # 0.03 > 0.05/2: none


def test_paired_p_sees_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=3)
    assert bf16_check.paired_p(a, a) == 1.0
    assert bf16_check.paired_p(a, a + 0.5) < 1e-6  # the same shift on every pair
    assert bf16_check.paired_p(a, a + [0.5, 0.52, 0.49]) < 0.01
    assert bf16_check.paired_p(a, a + [0.5, -0.4, 0.1]) > 0.5


def test_compare_fails_only_a_family_with_a_systematic_difference():
    ref = dict(quantities={"q": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]})
    noisy = dict(quantities={"q": [[1.1, 1.9, 3.05], [4.1, 4.9, 6.0]]})
    shifted = dict(quantities={"q": [[1.5, 2.51, 3.49], [4.5, 5.5, 6.5]]})
    assert bf16_check.compare([0.5, 1.0], ref, noisy)[1]
    rows, ok = bf16_check.compare([0.5, 1.0], ref, shifted)
    assert not ok and rows[1][-1] == "**no**"


def test_the_null_keeps_every_batch_and_changes_only_the_summation_order():
    order = bf16_check.ReversedBatches(4)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    plain, rev = torch.randperm(10, generator=g1), order.randperm(10, generator=g2)
    assert [set(plain[i:i + 4].tolist()) for i in (0, 4)] == [set(rev[i:i + 4].tolist()) for i in (0, 4)]
    assert not torch.equal(plain[:8], rev[:8]) and torch.equal(plain[8:], rev[8:])
    c = make_config("smoke", "fashion_mnist", "mlp", 0.125, 0)
    (a, _), = train_group.train_group([c], "cpu", progress=False)
    saved, train_group.torch = train_group.torch, bf16_check.ReversedBatches(c.batch_size)
    try:
        (b, _), = train_group.train_group([c], "cpu", progress=False)
    finally:
        train_group.torch = saved
    wa, wb = (torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (a, b))
    assert not torch.equal(wa, wb)  # floating point moved the weights ...
    assert torch.allclose(wa, wb, atol=1e-3)  # ... by rounding-sized amounts after one epoch
