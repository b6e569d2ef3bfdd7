"""Locks on a run folder: one writer per run, and checkpoints pinned while they are read.

A training process holds an exclusive ``flock`` on ``<run>/.lock`` for the
whole run. The kernel drops the lock when the process dies, however it dies,
so a crash never leaves a stale lock behind: the file stays (naming the last
holder, for the message) but nobody holds it, and the next ``--resume`` takes
it. ``flock`` (not ``fcntl``/``lockf`` record locks) because its locks belong
to an open file, so a second run started inside the same process (two runs in
one studio) is refused too.

A reader pins a checkpoint with a shared lock on ``checkpoints/step_N.lock``
while it reads it; retention deletes a checkpoint only after taking an
exclusive lock on that file without waiting, so a pinned checkpoint is
skipped and deleted at a later save.

Windows has no ``flock``: the run lock falls back to ``msvcrt.locking`` and
pins do nothing (Windows refuses to delete a file that is open, and retention
skips a checkpoint it cannot delete).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".lock"


class RunInUseError(Exception):
    """Raised by :func:`acquire`; the caller turns it into a RunError (runs.py imports this module)."""

    def __init__(self, run_dir: Path, holder: dict[str, Any] | None):
        self.run_dir, self.holder = run_dir, holder
        super().__init__(describe_refusal(run_dir, holder))


def describe_refusal(run_dir: Path, holder: dict[str, Any] | None) -> str:
    who = "another genstudio process"
    if holder and holder.get("pid"):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("since", 0)))) if holder.get("since") else "?"
        who += f" (pid {holder['pid']} on {holder.get('host', '?')}, since {since})"
    return (
        f"run folder '{run_dir}' is in use by {who}; wait for that run to finish or stop it "
        f"(Ctrl+C, or Stop in the studio), or train into another folder"
    )


def _try_lock(fd: int, exclusive: bool = True, wait: bool = False) -> bool:
    """Take a flock on ``fd``; False when another open file holds a conflicting one (``wait=False``)."""
    if fcntl is None:  # pragma: no cover - Windows
        if not exclusive:
            return True
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    flags = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        fcntl.flock(fd, flags if wait else flags | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def read_holder(path: Path) -> dict[str, Any] | None:
    """What the lock file says about its (last) holder; None when unreadable."""
    try:
        return json.loads(path.read_text() or "null")
    except (OSError, ValueError):
        return None


class RunLock:
    """An exclusive lock on a run folder, held until :meth:`release` (or until the process ends)."""

    def __init__(self, fd: int, path: Path):
        self._fd: int | None = fd
        self.path = path

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the open file drops the flock

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def __del__(self) -> None:  # a train() generator dropped before its first event
        with contextlib.suppress(Exception):  # at interpreter exit the kernel closes it anyway
            self.release()


def acquire(run_dir: str | Path) -> RunLock:
    """Lock ``run_dir`` (it must exist) for this process; RunInUseError when another holds it."""
    run_dir = Path(run_dir)
    path = run_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    # A moment's retry: holder() probes (the runs browser) take a shared lock for microseconds.
    for _ in range(10):
        if _try_lock(fd):
            break
        time.sleep(0.02)
    else:
        os.close(fd)
        raise RunInUseError(run_dir, read_holder(path))
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "argv": sys.argv[:8]}
    try:
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, (json.dumps(info) + "\n").encode())
    except OSError:
        pass  # the holder's name is only for the refusal message; the lock itself is held
    return RunLock(fd, path)


def holder(run_dir: str | Path) -> dict[str, Any] | None:
    """Who holds ``run_dir``'s lock now, or None when nobody does. Creates and changes nothing."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)  # a read-only descriptor can test a flock too
    except OSError:
        return None
    try:
        if _try_lock(fd, exclusive=False):  # a shared lock fits beside anything but the writer's
            return None
        return read_holder(path) or {}
    finally:
        os.close(fd)


def check_free(run_dir: str | Path) -> None:
    """Raise RunInUseError when another process holds ``run_dir``; creates and changes nothing."""
    who = holder(run_dir)
    if who is not None:
        raise RunInUseError(Path(run_dir), who)


# -- checkpoint pins ----------------------------------------------------------------


def pin_path(checkpoint_dir: Path, step: int) -> Path:
    return checkpoint_dir / f"step_{step:08d}.lock"


@contextlib.contextmanager
def pinned(checkpoint_dir: Path, step: int) -> Iterator[bool]:
    """Hold a shared lock on checkpoint ``step`` while the block runs; yields whether it is pinned.

    A read-only run folder cannot hold a pin file; the block runs unpinned then
    (no writer can be pruning a folder it cannot write either).
    """
    if fcntl is None:  # pragma: no cover - Windows
        yield False
        return
    try:
        fd = os.open(pin_path(checkpoint_dir, step), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        _try_lock(fd, exclusive=False, wait=True)  # retention holds its exclusive lock only while it unlinks
        yield True
    finally:
        os.close(fd)


@contextlib.contextmanager
def unpinned(checkpoint_dir: Path, step: int) -> Iterator[bool]:
    """For retention: yields True with an exclusive lock when nobody pins ``step``, False otherwise."""
    path = pin_path(checkpoint_dir, step)
    if fcntl is None:  # pragma: no cover - Windows: an open file cannot be deleted there anyway
        yield True
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield False
        return
    try:
        yield _try_lock(fd)
    finally:
        os.close(fd)
