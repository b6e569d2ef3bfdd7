"""The base of every lab panel that looks inside the run's model, and the loader it uses.

A panel (diffusion, autoregressive, latent, flow, GAN) shows its own copy of
the model, loaded from the live run's weights snapshot or from the run's latest
checkpoint, together with whatever its views need (validation examples, an
encoded dataset, a density grid through every layer). :class:`CheckpointPanel`
owns that life cycle once for all of them: the load runs off the UI thread,
the newest request wins, a live run's newest weights are asked for and loaded
while the panel is shown and only noted while it is hidden (copying and loading
compete with training for the CPU), and a closed panel receives nothing more. A panel defines :meth:`CheckpointPanel.load_job` (the
work, with no Qt in it) and :meth:`CheckpointPanel.show_loaded`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QAbstractButton, QWidget

from genstudio.core.events import CheckpointSaved

from . import PanelContext
from .jobs import PanelJob


class CheckpointLoader(QObject):
    """Runs a panel's "load the latest checkpoint and prepare the view" function off the UI thread.

    One load at a time: a reload asked for while one runs is remembered and
    started when it ends (a live run saves checkpoints faster than a large
    view can be prepared), and only the newest load's result is delivered.
    ``busy`` tells the panel when to disable its Reload button; ``failed``
    carries the text for its status line (``describe(exception)``, by
    default :func:`load_failure_text`).
    """

    loaded = Signal(object)  # the function's result
    failed = Signal(str, str)  # status text, traceback
    busy = Signal(bool)

    def __init__(self, parent: QObject, what: str, describe: Callable[[object], str] | None = None):
        super().__init__(parent)
        self.what = what  # "the flow panel", ...: who waits for the first checkpoint
        self.describe = describe or (lambda exc: load_failure_text(exc, self.what))
        self._job = PanelJob(self, failure=None)
        self._job.done.connect(self._done)
        self._job.failed.connect(self._failed)
        self._pending: Callable[[], Any] | None = None
        self._closed = False

    def load(self, fn: Callable[[], Any]) -> None:
        if self._closed:
            return
        if self._job.busy():
            self._pending = fn
            return
        self.busy.emit(True)
        self._job.start(lambda _state: fn())

    def close(self) -> None:
        """The panel is closing: deliver nothing more."""
        self._closed = True
        self._pending = None
        self._job.cancel()

    def _next(self) -> None:
        fn, self._pending = self._pending, None
        if fn is not None:
            self.load(fn)
        else:
            self.busy.emit(False)

    def _done(self, result: object) -> None:
        self.loaded.emit(result)
        self._next()

    def _failed(self, exc: object, tb: str) -> None:
        self.failed.emit(self.describe(exc), tb)
        self._next()


def load_failure_text(exc: object, what: str) -> str:
    """A status line for a failed load: waiting for a first checkpoint is not an error."""
    from genstudio.core.runs import RunError

    if isinstance(exc, RunError) and "no checkpoint" in str(exc):
        return f"Waiting for the first checkpoint of this run; {what} loads it when it is saved."
    return f"Could not load the model: {type(exc).__name__}: {exc}"


class CheckpointPanel(QWidget):
    """A lab panel showing the run's model, (re)loaded in the background from the live weights or a checkpoint.

    A subclass builds its widgets (including ``self.status``, a QLabel), then
    calls :meth:`reload`; it defines :meth:`load_job` and :meth:`show_loaded`,
    and may override :meth:`failure_text`. ``self.loader.busy`` follows the
    load (see :meth:`use_reload_button`).

    During a live run (``context.live_weights``, a LiveWeightsFeed) the panel
    shows the model as it learns, before any checkpoint file exists: while it
    is visible it asks the training thread for a weights snapshot, loads the
    newest one, and asks again (the engine answers at its preview cadence).
    A hidden panel asks for nothing and loads nothing; it catches up when
    shown. :meth:`weights_text` says which weights are shown.
    """

    #: The status line's text when the panel has no run folder (empty: the status is left alone).
    no_run_text = ""

    def __init__(self, context: PanelContext, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self._closed = False
        self._checkpoint_waiting = False  # something newer to load once the panel is shown
        self._queued: tuple[bool, int | None] | None = None  # (live, step) of the newest load started
        self._checkpoint_step = -1  # the newest checkpoint a live run announced
        #: (live, step) of the weights shown: live=True for a snapshot of the live run, False for a checkpoint.
        self.weights_shown: tuple[bool, int | None] | None = None
        self.loader = CheckpointLoader(self, what, describe=self.failure_text)
        self.loader.loaded.connect(self._loaded)
        self.loader.failed.connect(self.show_failure)
        feed = context.live_weights
        # Kept to disconnect exactly once: a second shutdown, or a feed already gone with its session,
        # made PySide print "Failed to disconnect" on every close.
        self._feed_connection = feed.arrived.connect(self._live_weights_arrived) if feed is not None else None

    # -- what a panel defines ---------------------------------------------------------------
    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], Any]:
        """The load to run off the UI thread (read any control it needs here, on the UI thread).

        ``snapshot`` (a LiveWeights) is the live run's weights to build the model from; None: the latest checkpoint.
        """
        raise NotImplementedError

    def show_loaded(self, result: Any) -> None:
        """Show what :meth:`load_job`'s function returned (UI thread)."""
        raise NotImplementedError

    def failure_text(self, exc: object) -> str:
        return load_failure_text(exc, self.loader.what)

    def show_failure(self, text: str, tb: str) -> None:
        self.status.setText(text)  # type: ignore[attr-defined]
        self.status.setToolTip(tb)  # type: ignore[attr-defined]

    def waiting_text(self) -> str:
        """The status line while a live run has handed over no weights yet."""
        return "waiting for the live weights of the run (they come with its first steps)…"

    def weights_text(self, step: int | None = None) -> str:
        """Which weights the panel shows, for its status line: "live weights, step N" or "checkpoint step N"."""
        live, shown = self.weights_shown if self.weights_shown is not None else (False, None)
        step = shown if step is None else step
        number = f"{step:,}" if isinstance(step, int) else "?"
        return f"live weights, step {number}" if live else f"checkpoint step {number}"

    # -- loading ---------------------------------------------------------------------------------
    def use_reload_button(self, button: QAbstractButton) -> None:
        """``button`` reloads the model and is disabled while a load runs."""
        button.clicked.connect(self.reload)
        self.loader.busy.connect(lambda busy: button.setEnabled(not busy))

    def reload(self) -> None:
        """Load the newest weights off the UI thread (a later call supersedes an earlier one).

        A live run's panel loads its newest snapshot (and asks for a fresher one), only while it is
        visible; otherwise, and for a finished run, the latest checkpoint.
        """
        if self._closed:
            return
        if self.context.run_dir is None:
            if self.no_run_text:
                self.status.setText(self.no_run_text)  # type: ignore[attr-defined]
            return
        run_dir = Path(self.context.run_dir)
        feed = self.context.live_weights
        if feed is None:
            self._start(run_dir, None)
            return
        if not self.isVisible():  # no copy, no load for a panel nobody looks at
            self._checkpoint_waiting = True
            return
        feed.request()  # a fresher snapshot at the engine's preview cadence
        snap = feed.latest()
        newest_shown = self._queued[1] if self._queued is not None and self._queued[1] is not None else -1
        if self._checkpoint_step > max(newest_shown, snap.step if snap is not None else -1):
            self._start(run_dir, None)  # a checkpoint newer than any snapshot (the run's end)
        elif snap is not None:
            if self._queued is None or self._queued[1] is None or self._queued[1] < snap.step:
                self._start(run_dir, snap)
        elif self._queued is None:
            if _has_checkpoint(run_dir):  # a resumed run: its checkpoint until the first snapshot comes
                self._start(run_dir, None)
            else:
                self.status.setText(self.waiting_text())  # type: ignore[attr-defined]

    def _start(self, run_dir: Path, snapshot: Any) -> None:
        if snapshot is not None:
            self._queued = (True, snapshot.step)
        else:  # the latest checkpoint: its step is known here only when the live run announced it
            self._queued = (False, self._checkpoint_step if self._checkpoint_step >= 0 else None)
        fn = self.load_job(run_dir, snapshot) if snapshot is not None else self.load_job(run_dir)
        live = snapshot is not None
        self.loader.load(lambda: (live, fn()))

    def _loaded(self, tagged: tuple[bool, Any]) -> None:
        live, result = tagged
        step = _step_of(result)
        self.weights_shown = (live, step)
        self.show_loaded(result)

    def _live_weights_arrived(self, step: int) -> None:
        if self._closed:
            return
        if self.isVisible():
            self.reload()
        else:
            self._checkpoint_waiting = True

    # -- panel protocol ----------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """A new checkpoint of the live run: load it now if the panel is shown, else when it is.

        With live weights a checkpoint is loaded only when it is newer than what the panel shows (the run's end).
        """
        if isinstance(event, CheckpointSaved):
            if self.context.live_weights is not None:
                self._checkpoint_step = max(self._checkpoint_step, event.step)
                if self.isVisible():
                    self.reload()  # loads the checkpoint only when it is newer than the live weights
                else:
                    self._checkpoint_waiting = True
                return
            if self.isVisible():
                self.reload()
            else:
                self._checkpoint_waiting = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._checkpoint_waiting or (self.context.live_weights is not None and self.weights_shown is None):
            self._checkpoint_waiting = False
            self.reload()

    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
        connection, self._feed_connection = self._feed_connection, None
        if connection is not None:
            QObject.disconnect(connection)  # False, quietly, when the feed was already deleted


def _has_checkpoint(run_dir: Path) -> bool:
    from genstudio.core.runs import RunFolder

    try:
        return RunFolder(run_dir).newest_complete_checkpoint() is not None
    except Exception:  # noqa: BLE001 - unreadable: the load itself says why
        return True


def _step_of(result: Any) -> int | None:
    """The step a panel's load result was taken at (its ``step`` field, or the second item of a tuple)."""
    step = getattr(result, "step", None)
    if step is None and isinstance(result, tuple) and len(result) > 1 and isinstance(result[1], int):
        step = result[1]
    if step is None and isinstance(result, tuple) and result and hasattr(result[0], "step"):
        step = result[0].step  # (data, worker, snapshot) of the GAN view
    return step if isinstance(step, int) else None
