"""Safe writes into a run folder: a temporary file, fsynced, renamed over the target; a full disk named.

A process killed mid-write leaves the old content (or nothing) under the
final name, never half a file; a write that finds no space left removes what
it had started and raises :class:`DiskFullError`, which names the file and
says how to go on.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any


class RunError(ValueError):
    """A run folder or checkpoint cannot be used; the message says why."""


class DiskFullError(RunError):
    """A write into a run folder found no space left; what that write had started is removed."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        super().__init__(f"disk full while writing '{self.path}': free some space, then resume the run (--resume, or Resume in the studio)")


#: errno values that mean "no room left": a full disk, or the user's quota.
NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def disk_full(e: BaseException, path: str | Path | None = None) -> DiskFullError | None:
    """``e`` as a DiskFullError when it (or what caused it) is a full disk, else None."""
    seen: BaseException | None = e
    for _ in range(8):  # a bounded walk down __cause__ / __context__
        if seen is None:
            return None
        if isinstance(seen, DiskFullError):
            return seen
        if isinstance(seen, OSError) and seen.errno in NO_SPACE:
            return DiskFullError(path or seen.filename or "the run folder")
        seen = seen.__cause__ or seen.__context__
    return None


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename in it survives a power cut (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, rename over it.

    On a full disk the temporary file is removed, ``path`` keeps its old
    content and DiskFullError names ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        full = disk_full(e, path)
        if full is None:
            raise
        raise full from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        full = disk_full(e, path)
        if full is not None:
            raise full from e
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())
