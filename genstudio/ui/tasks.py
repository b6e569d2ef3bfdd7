"""Run one function on the Qt thread pool and get its result back on the UI thread.

Used for work that is short but too slow for the UI thread (loading a
dataset, reading a run folder). Results of superseded calls are dropped by
the caller comparing the returned ticket.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from . import gui_thread_gc


class _Signals(QObject):
    done = Signal(int, object)  # ticket, result
    failed = Signal(int, object, str)  # ticket, exception, traceback


class _Task(QRunnable):
    def __init__(self, ticket: int, fn: Callable[[], Any], signals: _Signals):
        super().__init__()
        self.ticket, self.fn, self.signals = ticket, fn, signals
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            result = self.fn()
        except BaseException as e:  # reported to the UI, never lost in the pool
            self._emit(self.signals.failed, self.ticket, e, traceback.format_exc())
        else:
            self._emit(self.signals.done, self.ticket, result)

    @staticmethod
    def _emit(signal, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the widget that asked was closed meanwhile; nobody wants the result


class BackgroundCall(QObject):
    """Calls ``fn`` on the pool; ``done``/``failed`` arrive on this object's (the UI) thread."""

    done = Signal(int, object)
    failed = Signal(int, object, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)
        self.ticket = 0
        self.pending = 0
        self._latest_reported = 0

    def start(self, fn: Callable[[], Any]) -> int:
        gui_thread_gc.ensure_installed()  # a pool thread must never collect the window's cycles
        self.ticket += 1
        self.pending += 1
        QThreadPool.globalInstance().start(_Task(self.ticket, fn, self._signals))
        return self.ticket

    def _on_done(self, ticket: int, result: object) -> None:
        self._reported(ticket)
        self.done.emit(ticket, result)

    def _on_failed(self, ticket: int, exc: object, tb: str) -> None:
        self._reported(ticket)
        self.failed.emit(ticket, exc, tb)

    def _reported(self, ticket: int) -> None:
        self.pending -= 1
        if ticket == self.ticket:
            self._latest_reported = ticket

    def busy(self) -> bool:
        """Some call, superseded or not, is still running on the pool."""
        return self.pending > 0

    def latest_pending(self) -> bool:
        """The latest call has not reported yet. A superseded call still running does not count: its result
        is dropped, so whoever waits for the latest one must not wait for it."""
        return self._latest_reported != self.ticket
