"""One line per long step of a run -- a trained model, a weight matching -- instead of progress bars.

On a terminal, training shows tqdm bars and nothing else. Elsewhere (a notebook kernel, a lent
GPU machine whose tool returns only the tail of the output) each trained model and each weight
matching of a recorded study gets one line: appended to the file $LMC_TRAIN_LOG when that is set
(lmc_lib.chapters.record sets it), else printed on stderr.
"""
from __future__ import annotations

import os
import sys

from lmc_lib.core.config import TrainConfig

LOG_ENV = "LMC_TRAIN_LOG"  # a file path: one appended line per trained model, no progress bars


def bars_on(progress: bool) -> bool:
    """Progress bars: asked for, stderr is a terminal, and $LMC_TRAIN_LOG is not set."""
    return bool(progress) and not os.environ.get(LOG_ENV) and sys.stderr.isatty()


def log_trained(config: TrainConfig, seconds: float, test_acc: float, progress: bool = True,
                note: str = "") -> None:
    """One line per trained model (see log_line)."""
    log_line(f"trained {config.dataset} {config.arch}/{config.variant} w={config.width:g} "
             f"seed={config.seed} {seconds:.1f}s test_acc={test_acc:.4f}{note}", progress)


def log_line(line: str, progress: bool = True) -> None:
    """Appended to $LMC_TRAIN_LOG when set, else printed on stderr when it is not a terminal."""
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
    elif progress and not sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
