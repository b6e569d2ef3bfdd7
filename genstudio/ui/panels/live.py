"""The base of every lab panel that looks inside the run's model, and the loader it uses.

A panel (diffusion, autoregressive, latent, flow, GAN) shows its own copy of
the model, loaded from the run's latest checkpoint together with whatever its
views need (validation examples, an encoded dataset, a density grid through
every layer). :class:`CheckpointPanel` owns that life cycle once for all of
them: the load runs off the UI thread, the newest request wins, a live run's
new checkpoint is loaded at once when the panel is shown and only noted while
it is hidden (loading competes with training for the CPU), and a closed panel
receives nothing more. A panel defines :meth:`CheckpointPanel.load_job` (the
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
    """A lab panel showing the run's model, (re)loaded from its latest checkpoint in the background.

    A subclass builds its widgets (including ``self.status``, a QLabel), then
    calls :meth:`reload`; it defines :meth:`load_job` and :meth:`show_loaded`,
    and may override :meth:`failure_text`. ``self.loader.busy`` follows the
    load (see :meth:`use_reload_button`).
    """

    #: The status line's text when the panel has no run folder (empty: the status is left alone).
    no_run_text = ""

    def __init__(self, context: PanelContext, what: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self._closed = False
        self._checkpoint_waiting = False
        self.loader = CheckpointLoader(self, what, describe=self.failure_text)
        self.loader.loaded.connect(self.show_loaded)
        self.loader.failed.connect(self.show_failure)

    # -- what a panel defines ---------------------------------------------------------------
    def load_job(self, run_dir: Path) -> Callable[[], Any]:
        """The load to run off the UI thread (read any control it needs here, on the UI thread)."""
        raise NotImplementedError

    def show_loaded(self, result: Any) -> None:
        """Show what :meth:`load_job`'s function returned (UI thread)."""
        raise NotImplementedError

    def failure_text(self, exc: object) -> str:
        return load_failure_text(exc, self.loader.what)

    def show_failure(self, text: str, tb: str) -> None:
        self.status.setText(text)  # type: ignore[attr-defined]
        self.status.setToolTip(tb)  # type: ignore[attr-defined]

    # -- loading ---------------------------------------------------------------------------------
    def use_reload_button(self, button: QAbstractButton) -> None:
        """``button`` reloads the checkpoint and is disabled while a load runs."""
        button.clicked.connect(self.reload)
        self.loader.busy.connect(lambda busy: button.setEnabled(not busy))

    def reload(self) -> None:
        """Load the run's latest checkpoint off the UI thread (a later call supersedes an earlier one)."""
        if self._closed:
            return
        if self.context.run_dir is None:
            if self.no_run_text:
                self.status.setText(self.no_run_text)  # type: ignore[attr-defined]
            return
        self.loader.load(self.load_job(Path(self.context.run_dir)))

    # -- panel protocol ----------------------------------------------------------------------------
    def on_event(self, event: Any) -> None:
        """A new checkpoint of the live run: load it now if the panel is shown, else when it is."""
        if isinstance(event, CheckpointSaved):
            if self.isVisible():
                self.reload()
            else:
                self._checkpoint_waiting = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._checkpoint_waiting:
            self._checkpoint_waiting = False
            self.reload()

    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
