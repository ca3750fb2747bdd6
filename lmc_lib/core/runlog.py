"""One line per long step of a run -- a trained model, a weight matching -- instead of progress bars.

On a terminal, training shows tqdm bars and nothing else. Elsewhere (a notebook kernel, a batch
job on a GPU machine whose log is read afterwards) each trained model and each weight
matching of a recorded study gets one line: appended to the file $LMC_TRAIN_LOG when that is set
(lmc_lib.chapters.record sets it), else printed on stderr. A trained model's line names its whole
training recipe (two recipes never look alike; a chapter's ingredient by kind, name and the start
of its digest) and the wall time as it was spent: a model trained alone, or the time of the group
of seeds it was trained with (and that time per model). While a model or a group trains, a line
after an epoch says how far it is, at most one every PROGRESS_EVERY_S seconds (none after the last
epoch: the trained line follows).
"""
from __future__ import annotations

import os
import sys
import time

from lmc_lib.core.config import KEYED_UNLESS_DEFAULT, TrainConfig

LOG_ENV = "LMC_TRAIN_LOG"  # a file path: one appended line per trained model, no progress bars
PROGRESS_EVERY_S = 60.0   # at most one epoch line this often per training


def bars_on(progress: bool) -> bool:
    """Progress bars: asked for, stderr is a terminal, and $LMC_TRAIN_LOG is not set."""
    return bool(progress) and not os.environ.get(LOG_ENV) and sys.stderr.isatty()


def _g(value) -> str:
    """A number as %g, anything else (a missing field: '?') as it is."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def recipe(config: TrainConfig | dict) -> str:
    """The training recipe in one line ("sgd lr=0.05 momentum=0.9 nesterov wd=0.003 batch=512
    epochs=3"): every TrainConfig field but dataset, arch, variant, width and seed, shown when it
    matters (momentum for SGD only; n_train, schedule, init_seed ... when set)."""
    c = dict(KEYED_UNLESS_DEFAULT, **(config if isinstance(config, dict) else config.to_dict()))
    opt = c.get("optimizer", "?")
    parts = [f"{opt} lr={_g(c.get('lr', '?'))}"]
    if opt == "sgd":
        parts.append(f"momentum={_g(c['momentum'])}" + " nesterov" * bool(c["nesterov"]))
    parts += [f"wd={_g(c.get('weight_decay', '?'))}", f"batch={c.get('batch_size', '?')}",
              f"epochs={c.get('epochs', '?')}"]
    if c.get("schedule", "none") != "none":
        parts.append(f"schedule={c['schedule']} warmup={_g(c.get('warmup_epochs', 0))}")
    parts += [f"{k}={c[k]}" for k in ("n_train", "init_seed") if c.get(k) is not None]
    parts += [f"precision={c['precision']}"] * (c.get("precision", "auto") != "auto")
    parts += ["augment"] * bool(c.get("augment")) + ["no-bias"] * (c.get("bias") is False)
    parts += [f"{i['kind']}={i['name']}@{i['digest'][:8]}" for i in c.get("ingredients") or []]
    return " ".join(parts + ["compile"] * bool(c.get("compile")))


def log_trained(config: TrainConfig, seconds: float, test_acc: float, progress: bool = True,
                group: int = 1) -> None:
    """One line per trained model (see log_line); `seconds` is the wall time of the model, or of
    the whole group of `group` models trained together."""
    took = (f"{seconds:.1f}s" if group <= 1 else
            f"{seconds:.1f}s for its group of {group} trained together ({seconds / group:.1f}s per model)")
    log_line(f"trained {config.dataset} {config.arch}/{config.variant} w={config.width:g} "
             f"seed={config.seed} test_acc={test_acc:.4f} [{recipe(config)}] {took}", progress)


def epoch_reporter(config: TrainConfig, epochs: int, progress: bool = True, seeds: str | None = None,
                   clock=time.monotonic):
    """A function (epochs_done, loss, train_acc) that logs how far a training is (see log_line),
    at most once every PROGRESS_EVERY_S seconds and never after the last epoch; `seeds`: the
    seeds of a group trained together (their mean loss and accuracy are given)."""
    start = last = clock()
    who = f"seeds={seeds} (means)" if seeds else f"seed={config.seed}"

    def report(done: int, loss: float, acc: float) -> None:
        nonlocal last
        now = clock()
        if done >= epochs or now - last < PROGRESS_EVERY_S:
            return
        last, spent = now, now - start
        log_line(f"epoch {done}/{epochs} {config.dataset} {config.arch}/{config.variant} "
                 f"w={config.width:g} {who} loss={loss:.4f} train_acc={acc:.4f} "
                 f"[{recipe(config)}] {spent:.0f}s so far, about {spent / done * (epochs - done):.0f}s "
                 "to go at this pace", progress)
    return report


def follow(path, offset: int = 0) -> tuple[list[str], int]:
    """The complete lines appended to the log file `path` since byte `offset`, and the new offset
    (a build shows its chapters' training logs on the terminal this way)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    done = data.rfind(b"\n") + 1
    return data[:done].decode(errors="replace").splitlines(), offset + done


def log_line(line: str, progress: bool = True) -> None:
    """Appended to $LMC_TRAIN_LOG when set, else printed on stderr when it is not a terminal."""
    path = os.environ.get(LOG_ENV)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
    elif progress and not sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
