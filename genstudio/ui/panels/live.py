"""Shared behaviour of panels that rebuild themselves from the run's latest checkpoint."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from genstudio.core.events import CheckpointSaved

from ..tasks import BackgroundCall


class ReloadOnCheckpoint:
    """Mixin (before QWidget in the bases): follow a live run's checkpoints, lazily.

    Loading a checkpoint and recomputing a panel's view (encoding the validation
    set, a density grid through every layer, an NLL batch) competes with training
    for the CPU, so a hidden tab only notes that a newer checkpoint exists and
    loads it when it is shown. The panel class defines ``reload()``.
    """

    _checkpoint_waiting = False

    def on_event(self, event: Any) -> None:
        if isinstance(event, CheckpointSaved):
            if self.isVisible():  # type: ignore[attr-defined]
                self.reload()  # type: ignore[attr-defined]
            else:
                self._checkpoint_waiting = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)  # type: ignore[misc]
        if self._checkpoint_waiting:
            self._checkpoint_waiting = False
            self.reload()  # type: ignore[attr-defined]


class CheckpointLoader(QObject):
    """Runs a panel's "load the latest checkpoint and prepare the view" function off the UI thread.

    One load at a time: a reload asked for while one runs is remembered and
    started when it ends (a live run saves checkpoints faster than a large
    view can be prepared), and only the newest load's result is delivered.
    ``busy`` tells the panel when to disable its Reload button; ``failed``
    carries the text for its status line (see :func:`load_failure_text`).
    """

    loaded = Signal(object)  # the function's result
    failed = Signal(str, str)  # status text, traceback
    busy = Signal(bool)

    def __init__(self, parent: QObject, what: str):
        super().__init__(parent)
        self.what = what  # "the flow panel", ...: who waits for the first checkpoint
        self._call = BackgroundCall(self)
        self._call.done.connect(self._done)
        self._call.failed.connect(self._failed)
        self._ticket = 0
        self._pending: Callable[[], Any] | None = None
        self._closed = False

    def load(self, fn: Callable[[], Any]) -> None:
        if self._closed:
            return
        if self._call.busy():
            self._pending = fn
            return
        self.busy.emit(True)
        self._ticket = self._call.start(fn)

    def close(self) -> None:
        """The panel is closing: deliver nothing more."""
        self._closed = True
        self._pending = None

    def _next(self) -> None:
        fn, self._pending = self._pending, None
        if fn is not None:
            self.load(fn)
        else:
            self.busy.emit(False)

    def _done(self, ticket: int, result: object) -> None:
        if self._closed:
            return
        if ticket == self._ticket:
            self.loaded.emit(result)
        self._next()

    def _failed(self, ticket: int, exc: object, tb: str) -> None:
        if self._closed:
            return
        if ticket == self._ticket:
            self.failed.emit(load_failure_text(exc, self.what), tb)
        self._next()


def load_failure_text(exc: object, what: str) -> str:
    """A status line for a failed load: waiting for a first checkpoint is not an error."""
    from genstudio.core.runs import RunError

    if isinstance(exc, RunError) and "no checkpoint" in str(exc):
        return f"Waiting for the first checkpoint of this run; {what} loads it when it is saved."
    return f"Could not load the model: {type(exc).__name__}: {exc}"
