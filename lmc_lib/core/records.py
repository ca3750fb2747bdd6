"""JSON records (verdicts, cached study results) that are whole or absent, and never trusted when
damaged: written atomically (lmc_lib.core.atomic) with a SHA-256 of their content, read back only
when that checksum matches. A damaged record (empty, truncated, edited, `{}`) is a DamagedRecord
naming its path and what is wrong; the caller reports it and skips or recomputes it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from lmc_lib.core import atomic
from lmc_lib.core.utils import LmcError

CHECKSUM = "sha256"


class DamagedRecord(LmcError):
    """A record file that is unreadable, not JSON, without its checksum or with a wrong one."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"record {path} is damaged ({why})")
        self.path, self.why = Path(path), why


def digest(content) -> str:
    """SHA-256 of a record's content as canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()


def dumps(record: dict, indent: int | None = 1) -> bytes:
    """The file's bytes: the record with its checksum as the last field."""
    if CHECKSUM in record:
        raise ValueError(f"a record may not have a field named {CHECKSUM!r}")
    return json.dumps({**record, CHECKSUM: digest(record)}, indent=indent).encode()


def write(path: Path, record: dict, indent: int | None = 1) -> None:
    """Write `record` atomically with its checksum (atomic.DiskFull when the disk is full)."""
    atomic.atomic_write(Path(path), dumps(record, indent))


def read(path: Path) -> dict:
    """The record at `path` without its checksum; DamagedRecord when it cannot be trusted
    (FileNotFoundError passes through: an absent record is not a damaged one)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise
    except OSError as err:
        raise DamagedRecord(path, f"cannot be read: {err.strerror}") from None
    if not raw.strip():
        raise DamagedRecord(path, "empty file")
    try:
        found = json.loads(raw)
    except ValueError as err:
        raise DamagedRecord(path, f"not valid JSON: {err}") from None
    if not isinstance(found, dict) or CHECKSUM not in found:
        raise DamagedRecord(path, "no checksum: written by hand, by an older version, or cut short")
    content = {k: v for k, v in found.items() if k != CHECKSUM}
    if found[CHECKSUM] != digest(content):
        raise DamagedRecord(path, "checksum mismatch: the file was edited or damaged after writing")
    return content
