"""The model cache: load_or_train(config) keys trained weights by config.key() (config + recipe).

An entry is `<key>.pt` (the state_dict, torch.save) and `<key>.json` (config, build_kwargs,
metrics, versions, SHA-256 of the .pt, the fingerprint of the training code that trained it).
Both are written atomically, the .pt first and the .json last, so an existing .json marks a
complete entry. A partial or corrupt entry is warned about and retrained, never loaded; so is an
entry trained by other training code than the running one (lmc_lib.core.fingerprint: the recipe
changed without a config field saying so), unless that code is declared harmless there.
An exclusive lock on `<key>.lock` makes concurrent callers train once.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import functools
import hashlib
import io
import json
import os
import platform
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lmc_lib import __version__
from lmc_lib.core import fingerprint, train_group
from lmc_lib.core.atomic import atomic_write
from lmc_lib.core.config import RECIPE_VERSION, TrainConfig
from lmc_lib.core.models import build_model
from lmc_lib.core.runlog import log_line, recipe
from lmc_lib.core.utils import REPO, LmcError, jsonable, resolve_device

MAX_CURVE_POINTS = 500  # metrics lists longer than this are subsampled in the sidecar
FORMAT_VERSION = 1
ORPHAN_AGE_S = 3600  # a temporary older than this belongs to a dead writer (any host)


class CacheError(LmcError):
    """The model cache cannot be used (folder not writable, unknown key)."""


class _BadEntry(Exception):
    """Internal: an entry is partial or corrupt (the message says why)."""


def cache_dir() -> Path:
    """The cache folder: $LMC_CACHE or <repo>/.cache/models."""
    env = os.environ.get("LMC_CACHE")  # a relative path: against the folder the user is in
    if env:
        return Path(env).expanduser().absolute()
    return REPO / ".cache" / "models"


def _root(path: str | Path | None) -> Path:
    """`path` as a Path, or the default cache folder when None."""
    return Path(path) if path is not None else cache_dir()


def _paths(root: Path, key: str) -> tuple[Path, Path, Path]:
    """The .pt, .json and .lock paths of `key`."""
    return root / f"{key}.pt", root / f"{key}.json", root / f"{key}.lock"


def _atomic_write(path: Path, data: bytes) -> None:
    """Write bytes atomically, group-readable under the umask; orphan temporaries are removed."""
    atomic_write(path, data, ORPHAN_AGE_S)


def _slim_metrics(metrics: dict) -> dict:
    """JSON-safe metrics; each list longer than MAX_CURVE_POINTS is subsampled evenly.

    A subsampled list `name` keeps its original positions in `name + "_index"` (for plotting).
    """
    out = {}
    for name, value in jsonable(dict(metrics)).items():
        if isinstance(value, list) and len(value) > MAX_CURVE_POINTS:
            idx = np.unique(np.linspace(0, len(value) - 1, MAX_CURVE_POINTS).round().astype(int))
            out[name] = [value[i] for i in idx]
            out[f"{name}_index"] = idx.tolist()
        else:
            out[name] = value
    return out


def _versions() -> dict:
    """Versions of the libraries that produced an entry."""
    return dict(torch=torch.__version__, numpy=np.__version__,
                python=platform.python_version(), lmc_lib=__version__)


def _unreadable(path: Path, err: OSError) -> CacheError:
    """The error for an entry this user may not read: it is left alone, never deleted."""
    return CacheError(f"model cache file {path} cannot be read ({err.strerror}); it was left as "
                      "it is: ask its owner to make it readable (chmod g+r), or set LMC_CACHE "
                      "to a folder of your own")


def _read_entry(root: Path, key: str) -> tuple[dict, bytes]:
    """The sidecar and verified weight bytes of `key`; raises _BadEntry for partial/corrupt and
    CacheError (naming the file) for an entry this user may not read."""
    pt, js, _ = _paths(root, key)
    try:
        return _check_entry(key, pt, js)
    except PermissionError as e:
        raise _unreadable(Path(e.filename or js), e) from None


def _check_entry(key: str, pt: Path, js: Path) -> tuple[dict, bytes]:
    """_read_entry's checks (a PermissionError passes through)."""
    if not js.exists() and not pt.exists():
        raise FileNotFoundError(key)
    if not js.exists():
        raise _BadEntry("partial entry: weights without a .json sidecar")
    if not pt.exists():
        raise _BadEntry("partial entry: .json sidecar without weights")
    text = js.read_bytes()  # decoded by json.loads: a bad encoding is a _BadEntry
    try:
        side = json.loads(text)
        expected, kwargs = side["sha256"], side["build_kwargs"]
    except (ValueError, KeyError, TypeError) as e:
        raise _BadEntry(f"unreadable sidecar ({type(e).__name__}: {e})") from None
    if side.get("key") != key or not isinstance(kwargs, dict):
        raise _BadEntry("sidecar does not describe this key")
    blob = pt.read_bytes()
    if hashlib.sha256(blob).hexdigest() != expected:
        raise _BadEntry("checksum mismatch: the weights file was changed or truncated")
    return side, blob


def _usable_entry(root: Path, key: str, config: TrainConfig) -> tuple[dict, bytes]:
    """_read_entry, and a _BadEntry for an entry the running training code would not have trained
    (its recorded fingerprint neither this code's nor declared harmless; none recorded: see
    fingerprint.LEGACY)."""
    side, blob = _read_entry(root, key)
    path, recorded = fingerprint.path_of(config), side.get("fingerprint")
    current = fingerprint.of(config)
    if not fingerprint.accepted(recorded, path, current):
        raise _BadEntry(f"trained by other training code: fingerprint {recorded or 'none'}, the "
                        f"running code's {current}, not declared harmless in "
                        "lmc_lib/core/fingerprint.py")
    return side, blob


def _load(root: Path, key: str, config: TrainConfig, device: torch.device) -> nn.Module:
    """Rebuild the model of a complete entry on `device` (raises _BadEntry / FileNotFoundError)."""
    side, blob = _usable_entry(root, key, config)
    try:
        model = build_model(**side["build_kwargs"]).to(device)
        state = torch.load(io.BytesIO(blob), weights_only=True, map_location=device)
        model.load_state_dict(state)
    except Exception as e:  # noqa: BLE001 -- any failure here means the entry is unusable
        raise _BadEntry(f"weights do not load ({type(e).__name__}: {e})") from None
    model.eval()
    model.train_metrics = side["metrics"]
    model.config = config
    model.cache_key = key
    return model


def _write(root: Path, key: str, config: TrainConfig, model: nn.Module, metrics: dict) -> None:
    """Write the entry of a freshly trained model: .pt first, .json last."""
    model = getattr(model, "_orig_mod", model)  # unwrap torch.compile
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    pt, js, _ = _paths(root, key)
    _atomic_write(pt, blob)
    side = dict(format=FORMAT_VERSION, key=key, recipe_version=RECIPE_VERSION,
                fingerprint=fingerprint.of(config), config=config.to_dict(),
                build_kwargs=dict(model.build_kwargs),
                metrics=_slim_metrics(metrics), wall_time_s=metrics.get("wall_time_s"),
                device=str(metrics.get("device", "")),
                created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                versions=_versions(), sha256=hashlib.sha256(blob).hexdigest(), size_bytes=len(blob))
    _atomic_write(js, json.dumps(side, indent=1).encode())


@contextlib.contextmanager
def _locked(root: Path, key: str):
    """Hold an exclusive flock on <key>.lock (creating the cache folder if needed)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        f = open(_paths(root, key)[2], "a")
    except OSError as e:
        raise CacheError(f"model cache folder {str(root)!r} is not writable ({e.strerror}); "
                         "set LMC_CACHE to a writable folder") from None
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _discard(root: Path, key: str, reason: str) -> None:
    """Warn about a bad entry and delete it (sidecar first, so it never looks complete); an entry
    this user may not delete is a CacheError naming it."""
    warnings.warn(f"model cache entry {key} in {root} is unusable ({reason}); retraining it",
                  stacklevel=3)
    pt, js, _ = _paths(root, key)
    for p in (js, pt):
        try:
            p.unlink(missing_ok=True)
        except PermissionError as e:
            raise CacheError(f"model cache entry {p} is unusable ({reason}) and this user may "
                             f"not delete it ({e.strerror}); ask its owner to remove it, or set "
                             "LMC_CACHE to a folder of your own") from None


def load_or_train(config: TrainConfig, device="auto", progress: bool = True,
                  cache_dir: str | Path | None = None) -> nn.Module:
    """The trained model of `config` (eval mode, on device): from the cache, else train and store."""
    root = _root(cache_dir)
    key, dev = config.key(), resolve_device(device)
    with contextlib.suppress(FileNotFoundError, _BadEntry):
        return _load(root, key, config, dev)  # fast path: no lock; problems are judged below
    with _locked(root, key):
        try:
            return _load(root, key, config, dev)  # another process may have just written it
        except FileNotFoundError:
            pass
        except _BadEntry as e:
            _discard(root, key, str(e))
        # one path per config: a groupable MLP trains stacked (a group of one), so its weights are
        # the same whether it was asked for alone or in a group (train_group's docstring)
        model, metrics = train_group.train_group([config], device, progress)[0]
        _write(root, key, config, model, metrics)
        return _load(root, key, config, dev)


def ensure_trained(configs, device="auto", progress: bool = True,
                   cache_dir: str | Path | None = None, snapshots=()) -> list[str]:
    """Train every config not cached yet (seeds of one MLP recipe as one group); the keys trained.

    Groups come from train_group.plan_groups, capped by memory (train_group.MAX_GROUP members,
    train_group.group_bytes of weights + grads + optimiser state); every member is written as an
    ordinary entry while the group holds all its members' locks (taken in key order).
    `snapshots` (epochs): a groupable config trained now also leaves its model at each of these
    epochs, as the entry of the same config with that many epochs (_keep_snapshot).
    """
    root = _root(cache_dir)

    def missing(config, discard=False):
        try:
            _usable_entry(root, config.key(), config)
            return False
        except FileNotFoundError:
            return True
        except _BadEntry as e:
            if discard:
                _discard(root, config.key(), str(e))
            return True
    trained = []
    todo = [c for c in dict.fromkeys(configs) if missing(c)]
    for group in train_group.plan_groups(todo, train_group.group_bytes(device)):
        with contextlib.ExitStack() as locks:
            for key in sorted({c.key() for c in group}):
                locks.enter_context(_locked(root, key))
            group = [c for c in group if missing(c, discard=True)]  # others may have written some
            keep = functools.partial(_keep_snapshot, root)
            snaps = snapshots if group and train_group.groupable(group[0]) else ()
            results = train_group.train_group(group, device, progress, snapshots=snaps,
                                              on_snapshot=keep) if group else []
            for c, (model, metrics) in zip(group, results):
                _write(root, c.key(), c, model, metrics)
                trained.append(c.key())
    return trained


def _keep_snapshot(root: Path, config: TrainConfig, model: nn.Module, metrics: dict) -> None:
    """Write a snapshot as the entry of its config; an entry already there is kept, and a log line
    says whether its weights are the snapshot's bit for bit (they should be: train_group)."""
    key = config.key()
    with _locked(root, key):
        try:
            side, _ = _usable_entry(root, key, config)
        except (FileNotFoundError, _BadEntry):
            _write(root, key, config, model, metrics)
            return
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    same = hashlib.sha256(buf.getvalue()).hexdigest() == side["sha256"]
    log_line(f"snapshot {config.dataset} {config.arch} w={config.width:g} seed={config.seed} "
             f"({recipe(config)}) at epoch "
             f"{config.epochs}: {'identical to' if same else 'DIFFERS from'} the cached entry {key}",
             False)


def model_pairs(config: TrainConfig, n_pairs: int, device="auto", progress: bool = True,
                cache_dir: str | Path | None = None) -> list[tuple[nn.Module, nn.Module]]:
    """n_pairs independently trained pairs: pair i has seeds (seed + 2i, seed + 2i + 1)."""
    if int(n_pairs) < 1:
        raise CacheError(f"n_pairs must be >= 1; got {n_pairs!r}")
    configs = [config.replace(seed=config.seed + 2 * i + j)
               for i in range(int(n_pairs)) for j in (0, 1)]
    ensure_trained(configs, device, progress, cache_dir)
    models = [load_or_train(c, device, progress, cache_dir) for c in configs]
    return list(zip(models[::2], models[1::2]))


def entries(cache_dir: str | Path | None = None) -> list[dict]:
    """One dict per entry in the cache (sidecar fields + key, size_mb, status), sorted by key.
    status: ok, partial (one of the two files), unreadable (this user may not read the sidecar:
    `problem` says why) or corrupt (the sidecar is not a JSON object)."""
    root = _root(cache_dir)
    if not root.is_dir():
        return []
    keys = sorted({p.stem for p in root.iterdir()
                   if p.suffix in (".pt", ".json") and not p.name.startswith(".")})
    out = []
    for key in keys:
        pt, js, _ = _paths(root, key)
        try:
            size = pt.stat().st_size / 2**20 if pt.exists() else 0.0
        except OSError:
            size = 0.0
        row = dict(key=key, size_mb=size, status="ok" if pt.exists() and js.exists() else "partial")
        if js.exists():
            try:
                side = json.loads(js.read_bytes())
            except OSError as err:
                row.update(status="unreadable", problem=f"{js}: {err.strerror}")
            except ValueError as err:
                row.update(status="corrupt", problem=f"{js}: not JSON ({err})")
            else:
                if isinstance(side, dict):
                    row = {**side, **row}
                else:
                    row.update(status="corrupt", problem=f"{js}: not a JSON object")
        out.append(row)
    return out


def _num(value, fmt: str) -> str:
    """A number formatted, anything else '?' (a malformed sidecar never breaks the table)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return format(value, fmt) if ok else "?"


def _fmt_row(e: dict) -> list[str]:
    """The table cells of one entry (recipe: runlog.recipe of its config)."""
    c, m = e.get("config"), e.get("metrics")
    c, m = (c if isinstance(c, dict) else {}), (m if isinstance(m, dict) else {})
    try:
        how = recipe(c) if c else "?"
    except Exception:  # noqa: BLE001 -- a malformed config: the row still prints
        how = "?"
    return [str(e["key"]), str(c.get("dataset", "?")), str(c.get("arch", "?")),
            str(c.get("variant", "?")), _num(c.get("width"), "g"), str(c.get("seed", "?")),
            _num(m.get("test_acc"), ".4f"), _num(e.get("size_mb"), ".2f"),
            _num(e.get("wall_time_s"), ".1f"), "" if e["status"] == "ok" else e["status"],
            _code_cell(e, c), how]


def _code_cell(e: dict, c: dict) -> str:
    """The `code` cell: the start of the entry's training-code fingerprint ("-": written before
    fingerprints), "(other)" when the running code would retrain it (fingerprint.accepted)."""
    fp = e.get("fingerprint") if isinstance(e.get("fingerprint"), str) else None
    try:
        config = TrainConfig(**c)
        ok = fingerprint.accepted(fp, fingerprint.path_of(config), fingerprint.of(config))
    except (TypeError, ValueError, LmcError):  # a sidecar of another TrainConfig: nothing to judge
        return (fp or "-")[:8]
    return (fp or "-")[:8] + ("" if ok else " (other)")


def format_table(rows: list[dict]) -> str:
    """The `ls` table: one line per entry (its training recipe last) and the total size; s/model is
    a model's wall time, its share of the group's for seeds trained together; code: _code_cell.
    Unreadable and corrupt entries are listed after it with their file and what is wrong."""
    head = ["key", "dataset", "arch", "variant", "width", "seed", "test_acc", "MB", "s/model",
            "", "code", "recipe"]
    cells = [head] + [_fmt_row(e) for e in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(s.ljust(w) for s, w in zip(r, widths)).rstrip() for r in cells]
    total = sum(e["size_mb"] for e in rows if isinstance(e.get("size_mb"), (int, float)))
    notes = [f"{e['status']}: {e['problem']}" + (
        " (left as it is: ask its owner to make it readable, or set LMC_CACHE to a folder of your own)"
        if e["status"] == "unreadable" else " (retrained when a chapter asks for it)")
        for e in rows if e.get("problem")]
    return "\n".join(lines + [f"{len(rows)} entries, {total:.2f} MB total"] + notes)


def remove(key_prefix: str, cache_dir: str | Path | None = None) -> str:
    """Delete the entry whose key starts with `key_prefix`; returns the full key."""
    root = _root(cache_dir)
    keys = [e["key"] for e in entries(root) if e["key"].startswith(key_prefix)]
    if len(keys) != 1:
        why = "no entry" if not keys else f"{len(keys)} entries"
        raise CacheError(f"{why} in {root} match key {key_prefix!r}; see `python -m lmc_lib.core.cache ls`")
    for path in _paths(root, keys[0]):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return keys[0]


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m lmc_lib.core.cache ls | path | rm KEY`."""
    parser = argparse.ArgumentParser(prog="python -m lmc_lib.core.cache", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("ls", help="list the cached models")
    sub.add_parser("path", help="print the cache folder")
    rm = sub.add_parser("rm", help="delete one entry")
    rm.add_argument("key", help="the key (or a unique prefix of it)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "ls":
            print(format_table(entries()))
        elif args.cmd == "path":
            print(cache_dir())
        else:
            print(f"removed {remove(args.key)}")
    except CacheError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
