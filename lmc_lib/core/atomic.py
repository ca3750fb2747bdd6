"""Atomic file writes that other users of a shared folder can read, and no orphan temporaries.

A temporary is named `.<name>~<host>~<pid>~<random>.tmp`: a later writer deletes it when that
process is gone from this host, or when it is older than `orphan_age_s` (a writer on any host).
"""
from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
from pathlib import Path


def _umask() -> int:
    """This process's umask (from /proc, else by setting and restoring it)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status") as f:
            return int(next(line for line in f if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(folder: Path, orphan_age_s: float = 3600) -> None:
    """Delete temporaries of dead writers: this host's with a gone pid, any host's past orphan_age_s."""
    host, now = socket.gethostname(), time.time()
    for tmp in folder.glob(".*.tmp"):
        parts = tmp.name.split("~")
        dead = len(parts) > 3 and parts[1] == host and parts[2].isdigit() and not _alive(int(parts[2]))
        with contextlib.suppress(OSError):
            if dead or now - tmp.stat().st_mtime > orphan_age_s:
                tmp.unlink()


def atomic_write(path: Path, data: bytes, orphan_age_s: float = 3600) -> None:
    """Write bytes to a temp file (named by host and pid) in the same folder, fsync, then
    os.replace onto `path`; the file gets the umask's mode (group-readable under umask 022)."""
    remove_orphans(path.parent, orphan_age_s)
    prefix = f".{path.name}~{socket.gethostname()}~{os.getpid()}~"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
