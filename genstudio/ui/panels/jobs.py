"""Background work of the lab panels: one helper for "run it off the UI thread, the newest run wins,
its Run button and its message line follow it".

Every view that computes something slow (a receptive field, a completion, a
guidance sweep, a reverse chain, a t-SNE map, a checkpoint load) starts it
through a :class:`PanelJob`. The worker never touches Qt: it receives a
:class:`JobState` (Orange3's pattern: the task reports partial results into
a state object and asks it whether to stop), and the job reads that state on
a short UI-thread timer while the work runs. So nothing is ever emitted from
a worker thread into a widget that may have been closed meanwhile, and a
superseded or stopped run simply stops being read: its results are dropped.

Two ways to run: on the shared thread pool (short work), or on a dedicated
thread (``thread_name``) for work that may wait for the user for as long as
it likes, such as a paused pixel-by-pixel generation, which must not hold a
pool thread the other panels need.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import QAbstractButton, QLabel

from genstudio.ui import gui_thread_gc

#: How often a running job is read (ms): fast enough that a frame or a result shows at once.
POLL_MS = 30

_NOTHING = object()


class JobState:
    """What a worker shares with the UI; every method is safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._partial: Any = _NOTHING
        self._outcome: tuple | None = None  # ("done", result) or ("failed", exception, traceback)
        self._ended = threading.Event()

    def report(self, value: Any) -> None:
        """Hand the UI a partial result (progress, a frame); only the newest one unread is kept."""
        with self._lock:
            self._partial = value

    def request_stop(self) -> None:
        self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def run(self, fn: Callable[["JobState"], Any]) -> None:
        try:
            result = fn(self)
        except BaseException as e:  # reported to the UI, never lost in the thread
            outcome: tuple = ("failed", e, traceback.format_exc())
        else:
            outcome = ("done", result)
        with self._lock:
            self._outcome = outcome
        self._ended.set()

    def wait(self, timeout_s: float) -> bool:
        """Block until the work has returned (or ``timeout_s`` passed); True when it has."""
        return self._ended.wait(timeout_s)

    def take(self) -> tuple[Any, tuple | None]:
        """(the unread partial result or ``_NOTHING``, the outcome or None while running)."""
        with self._lock:
            partial, self._partial = self._partial, _NOTHING
            return partial, self._outcome


class _PoolTask(QRunnable):
    def __init__(self, state: JobState, fn: Callable[[JobState], Any]):
        super().__init__()
        self.state, self.fn = state, fn
        self.setAutoDelete(True)

    def run(self) -> None:
        self.state.run(self.fn)


class PanelJob(QObject):
    """Runs one view's background work; starting it again supersedes (and asks to stop) the run before.

    ``button`` is disabled while a run is in progress; ``message`` shows the
    text given to :meth:`start` and, when ``failure`` is set, the failure
    formatted with ``{exc}``. ``progress`` carries what the worker reported,
    ``done`` its result, ``failed`` the exception and traceback; all arrive on
    the UI thread and only for the newest run.
    """

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(object, str)

    def __init__(
        self,
        parent: QObject,
        button: QAbstractButton | None = None,
        message: QLabel | None = None,
        failure: str | None = "failed: {exc}",
    ):
        super().__init__(parent)
        self.button, self.message, self.failure = button, message, failure
        self._state: JobState | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)

    def start(self, fn: Callable[[JobState], Any], text: str | None = None, thread_name: str | None = None) -> JobState:
        """Run ``fn(state)`` off the UI thread; ``text`` goes to the message line meanwhile."""
        gui_thread_gc.ensure_installed()  # the worker must never collect the window's cycles
        if self._state is not None:
            self._state.request_stop()
        state = self._state = JobState()
        if self.button is not None:
            self.button.setEnabled(False)
        if text is not None and self.message is not None:
            self.message.setText(text)
        if thread_name is None:
            QThreadPool.globalInstance().start(_PoolTask(state, fn))
        else:
            threading.Thread(target=state.run, args=(fn,), name=thread_name, daemon=True).start()
        self._timer.start()
        return state

    def cancel(self) -> None:
        """Ask the running work to stop and drop whatever it still reports."""
        if self._state is not None:
            self._state.request_stop()
            self._state = None
        self._timer.stop()
        if self.button is not None:
            self.button.setEnabled(True)

    def busy(self) -> bool:
        return self._state is not None

    def _poll(self) -> None:
        state = self._state
        if state is None:
            self._timer.stop()
            return
        partial, outcome = state.take()
        if partial is not _NOTHING:
            self.progress.emit(partial)
            if self._state is not state:  # the slot started or cancelled a run
                return
        if outcome is None:
            return
        self._state = None
        self._timer.stop()
        if self.button is not None:
            self.button.setEnabled(True)
        if outcome[0] == "done":
            self.done.emit(outcome[1])
            return
        if self.failure is not None and self.message is not None:
            self.message.setText(self.failure.format(exc=outcome[1]))
        self.failed.emit(outcome[1], outcome[2])
