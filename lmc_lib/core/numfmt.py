"""How the book prints a number: one rule for every Result row, sentence and caption.

- A mean with its spread: the spread gets one significant digit, two when its leading digit is 1
  (0.0014 rounded to 0.001 would change it by 30 %); the mean is rounded to the spread's last
  decimal place, keeping at least one significant digit of its own: "0.9906 ± 0.0006",
  "-0.04 ± 1.0 pp", "8.0 ± 0.7".
- A number alone: three significant digits, without an exponent between 0.001 and 100000,
  otherwise as "5 × 10⁻⁵".
- A p-value: "p < 0.001" below 0.001, else two significant digits ("p = 0.013", "p = 0.5").
"""
from __future__ import annotations

import math

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
P_FLOOR = 0.001


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _exponent(x: float) -> int:
    """The power of ten of x's leading digit (0 for x = 0)."""
    return int(f"{x:.1e}".split("e")[1]) if x else 0  # as printed: 0.99999999 counts as 1


def _fixed(x: float, decimals: int) -> str:
    """x with `decimals` places (none when negative: rounded to tens, hundreds ...); no '-0'."""
    if decimals < 0:
        x = round(x, decimals)
    text = f"{x:.{max(decimals, 0)}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def num(x, digits: int = 3) -> str:
    """A number alone: `digits` significant digits; 'n/a' when not finite."""
    if not _finite(x):
        return "n/a"
    x = float(x)
    if x and not 1e-3 <= abs(x) < 1e5:
        mantissa, exp = f"{x:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa} × 10{str(int(exp)).translate(SUPERSCRIPT)}"
    text = f"{x:.{digits}g}"
    if "e" in text:  # .g chose an exponent for a large integer-like value
        text = _fixed(x, 0)
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def spread_decimals(std: float) -> int:
    """Decimal places of a spread: one significant digit, two when the leading digit is 1."""
    return -_exponent(std) + (f"{abs(std):.1e}"[0] == "1")


def mean_pm(mean, std, unit: str = "") -> str:
    """'mean ± std unit' by the rule above; a missing or non-finite spread prints the mean alone."""
    tail = f" {unit}" if unit else ""
    if not _finite(mean):
        return "n/a" + tail
    if not _finite(std) or float(std) == 0:
        return num(mean) + (" ± 0" if _finite(std) else "") + tail
    mean, std = float(mean), abs(float(std))
    dec = spread_decimals(std)
    if mean:  # keep at least one significant digit of the mean
        dec = max(dec, -_exponent(mean))
    return f"{_fixed(mean, dec)} ± {_fixed(std, spread_decimals(std))}{tail}"


def p_value(p) -> str:
    """A p-value as the book prints it in a sentence: 'p < 0.001' or 'p = 0.013'."""
    return "p = n/a" if not _finite(p) else f"p {p_plain(p)}" if p < P_FLOOR else f"p = {p_plain(p)}"


def p_plain(p) -> str:
    """A p-value for a table's p column: '< 0.001' or '0.013'."""
    if not _finite(p):
        return "n/a"
    return f"< {P_FLOOR:g}" if p < P_FLOOR else f"{float(f'{p:.2g}'):g}"
