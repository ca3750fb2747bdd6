"""The book's one rule for printing numbers (lmc_lib.core.numfmt), and that rows and sentences use it."""
import math
import re

import pytest

from lmc_lib.core import numfmt
from lmc_lib.lmc import claims


@pytest.mark.parametrize("mean, std, unit, text", [
    (-0.03542, 1.0, "pp", "-0.04 ± 1.0 pp"),   # the mean keeps one significant digit
    (0.9906, 6.1e-05, "", "0.99060 ± 0.00006"),  # the spread decides the mean's digits
    (8.0, 0.69, "", "8.0 ± 0.7"),
    (0.45, 0.0707, "", "0.45 ± 0.07"),
    (2.5, 1.0, "pp", "2.5 ± 1.0 pp"),            # leading digit 1: two significant digits
    (0.12341, 0.0014, "", "0.1234 ± 0.0014"),
    (1234.0, 34.0, "", "1230 ± 30"),
    (0.5, float("nan"), "", "0.5"),
    (float("nan"), 0.1, "%", "n/a %"),
    (-0.0001, 0.5, "", "-0.0001 ± 0.5"),
])
def test_mean_and_spread(mean, std, unit, text):
    assert numfmt.mean_pm(mean, std, unit) == text


def test_spread_decides_the_digits_of_the_mean():
    """The mean never shows more decimal places than the spread's (unless it would round to 0)."""
    for mean, std in [(0.123456, 0.0123), (12.3456, 0.456), (0.9876543, 0.000321)]:
        m, s = numfmt.mean_pm(mean, std).split(" ± ")
        places = lambda t: len(t.split(".")[1]) if "." in t else 0  # noqa: E731
        assert places(m) == places(s) and abs(float(m) - mean) <= 10 ** -places(s) / 2 + 1e-12


@pytest.mark.parametrize("x, text", [(0.123456, "0.123"), (5e-05, "5 × 10⁻⁵"), (123456.0, "1.23 × 10⁵"),
                                     (8, "8"), (-0.0, "0"), (math.inf, "n/a"), (0.001, "0.001")])
def test_a_number_alone(x, text):
    assert numfmt.num(x) == text


@pytest.mark.parametrize("p, text", [(1e-05, "p < 0.001"), (0.0132, "p = 0.013"), (0.5, "p = 0.5"),
                                     (1.0, "p = 1"), (0.001, "p = 0.001")])
def test_p_values(p, text):
    assert numfmt.p_value(p) == text


def test_rows_and_sentences_print_by_the_rule():
    """A claim's sentence and value texts use the rule: no '1e-05', no five-digit means beside a
    one-digit spread."""
    j = claims.c2([0.25, 0.5, 1.0, 2.0], [[0.5, 0.52, 0.49], [0.3, 0.31, 0.29], [0.1, 0.11, 0.09],
                                         [0.01, 0.011, 0.009]], [[2.0, 2.1, 1.9]] * 4)
    text = " ".join(j.sentences)
    assert not re.search(r"\de-\d", text), text
    assert re.search(r"rank test p (=|<) 0\.\d+", text), text
    assert "0.0100 ± 0.0010" in text, text  # mean 0.01, std 0.001: the spread has two digits
    assert claims.value_text(["w = 1", 0.5, float("nan"), 1]) == "0.5 (one pair)"
