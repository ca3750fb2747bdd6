"""Atomic file writes that other users of a shared folder can read, and no orphan temporaries.

A temporary is named `.<name>~<host>~<pid>~<random>.tmp`: a later writer deletes it when that
process is gone from this host, or when it is older than `orphan_age_s` (a writer on any host).
A full disk (or a file-size limit) is one DiskFull error naming the file, its size and the free
space of its disk; the file is then as it was before (absent, or its previous whole version).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from lmc_lib.core.utils import LmcError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # disk full, quota, file-size limit


class DiskFull(LmcError):
    """A file could not be written for lack of space; nothing half-written was left."""

    def __init__(self, message: str, path: Path, code: int = errno.ENOSPC):
        super().__init__(message)
        self.path, self.errno = Path(path), code


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def write_error(err: OSError, path: Path, size: int | None = None) -> str:
    """One line for a failed write of `path`: the reason, the size wanted and the free space."""
    try:
        free = shutil.disk_usage(Path(path).parent).free
    except OSError:
        free = None
    need = f"it needs {_mb(size)}, " if size is not None else ""
    room = f"{_mb(free)} free on its disk" if free is not None else "free space unknown"
    if err.errno in NO_SPACE:
        more = (f"; free at least {_mb(size - free + 2**20)} there" if size is not None and free is
                not None and size >= free else "")
        return (f"could not write {path} ({err.strerror}: {need}{room}){more}; nothing half-written "
                "was left: free some space, or set LMC_CACHE / LMC_BUILD to a folder on another disk")
    return f"could not write {path} ({err.strerror}; {room})"


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
    path = Path(path)
    remove_orphans(path.parent, orphan_age_s)
    prefix = f".{path.name}~{socket.gethostname()}~{os.getpid()}~"
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            raise DiskFull(write_error(err, path, len(data)), path, err.errno) from None
        raise
