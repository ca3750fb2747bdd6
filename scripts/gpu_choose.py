"""Decisions of scripts/gpu_session.sh, made from what its earlier phases measured.

    python scripts/gpu_choose.py widths TRAIN_JSON SECONDS -> the record's widths, e.g. "0.25 0.5 1 2 4 8"

The paper's widths, dropping the widest while the training time projected from
benchmarks/gpu_train.py's measured step times (two datasets, x 1.5, + 120 s for evaluation and
matching) exceeds SECONDS; never fewer than three widths. The reason goes to stderr.
"""
from __future__ import annotations

import json
import math
import sys

PAPER_WIDTHS = (0.25, 0.5, 1, 2, 4, 8, 16)
MARGIN, OVERHEAD_S, DATASETS = 1.5, 120.0, 2


def projected(sweep_s: dict, w: float) -> float:
    """Seconds to train width w: measured, or the next wider measured width scaled by (w / it)^2
    (compute grows as w^2), but never less than the next narrower measured width (or, below
    every measured width, the narrowest: small widths are launch-bound, not faster)."""
    if w in sweep_s:
        return sweep_s[w]
    wider = min((x for x in sweep_s if x >= w), default=max(sweep_s))
    narrower = max((x for x in sweep_s if x <= w), default=min(sweep_s))
    return max(sweep_s[wider] * (w / wider) ** 2, sweep_s[narrower])


def widths_choice(rows: list, seconds: float) -> tuple[list, float]:
    """The longest prefix of PAPER_WIDTHS (at least 3) whose projected record fits `seconds`."""
    sweep = {float(r["width"]): float(r["sweep_s"]) for r in rows
             if r.get("sweep_s") is not None and math.isfinite(r["sweep_s"])}  # NaN: not measured
    for n in range(len(PAPER_WIDTHS), 2, -1):
        need = MARGIN * DATASETS * sum(projected(sweep, w) for w in PAPER_WIDTHS[:n]) + OVERHEAD_S
        if need <= seconds or n == 3:
            return list(PAPER_WIDTHS[:n]), need
    raise AssertionError("unreachable")


def main(argv: list) -> int:
    if len(argv) >= 3 and argv[0] == "widths":
        with open(argv[1]) as f:
            widths, need = widths_choice(json.load(f)["rows"], float(argv[2]))
        print(f"widths up to {widths[-1]:g}: projected {need:.0f} s of {float(argv[2]):.0f} s",
              file=sys.stderr)
        print(" ".join(f"{w:g}" for w in widths))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
