"""Evaluations off the UI thread, one run at a time; Cancel stops the running one at its next batch."""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from genstudio.metrics.quality import EvaluationCancelled

from ..tasks import BackgroundCall


StopFlag = Callable[[], bool]


class EvalQueue(QObject):
    """Runs evaluation jobs on the thread pool one at a time; cancel stops the running one and drops the rest.

    A job is ``fn(should_stop)``: it asks ``should_stop()`` between batches and
    raises :class:`EvaluationCancelled` when it says stop (evaluate_run does).
    Failures are reported with their traceback, cancellations as ``interrupted``.
    """

    started = Signal(str, str)  # path, label
    succeeded = Signal(str, object)  # path, result dict
    failed = Signal(str, str, str)  # path, message, traceback
    interrupted = Signal(str)  # path of the job stopped halfway by cancel
    progress = Signal(int, int)  # done, total
    idle = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(self._on_failed)
        self.pending: list[tuple[str, str, Callable[[StopFlag], Any]]] = []
        self.current: tuple[str, str] | None = None
        self._stop = threading.Event()  # the running job's flag; a fresh one per job
        self.done = 0
        self.total = 0
        self.cancelled = False

    def busy(self) -> bool:
        return self.current is not None or bool(self.pending)

    def add(self, path: str, label: str, fn: Callable[[StopFlag], Any]) -> None:
        if not self.busy():
            self.done = self.total = 0
            self.cancelled = False
        self.pending.append((path, label, fn))
        self.total += 1
        self.progress.emit(self.done, self.total)
        if self.current is None:
            self._next()

    def cancel(self) -> list[str]:
        """Drop the queued jobs and ask the running one to stop at its next batch; returns the dropped paths."""
        dropped = [p for p, _, _ in self.pending]
        self.pending.clear()
        self.cancelled = True
        self._stop.set()
        self.total = self.done + (1 if self.current else 0)
        self.progress.emit(self.done, self.total)
        if self.current is None:
            self.idle.emit()
        return dropped

    def _next(self) -> None:
        if not self.pending:
            self.current = None
            self.idle.emit()
            return
        path, label, fn = self.pending.pop(0)
        self.current = (path, label)
        stop = self._stop = threading.Event()
        self.started.emit(path, label)
        self.call.start(lambda: fn(stop.is_set))

    def _on_done(self, _ticket: int, result: object) -> None:
        path = self.current[0] if self.current else ""
        self.done += 1
        self.progress.emit(self.done, self.total)
        self.succeeded.emit(path, result)
        self._next()

    def _on_failed(self, _ticket: int, exc: object, tb: str) -> None:
        path = self.current[0] if self.current else ""
        self.done += 1
        self.progress.emit(self.done, self.total)
        if isinstance(exc, EvaluationCancelled):
            self.interrupted.emit(path)
        else:
            self.failed.emit(path, f"{type(exc).__name__}: {exc}", tb)
        self._next()
