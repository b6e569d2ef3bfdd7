"""The bridge between the engine's generator and the UI thread.

One ``QThread`` iterates ``engine.train(...)``. Control goes the other way
only through the thread-safe :class:`RunControl` (a queued call to a busy
worker would never run). Events are coalesced where they are produced
(Orange's habit): the worker appends them to a lock-protected list and a UI
timer drains it every 50 ms, so the window redraws at most ~20 times a
second however fast the loop runs.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from genstudio.core.events import (
    CheckpointSaved,
    Finished,
    LiveWeights,
    Metrics,
    Notice,
    Paused,
    Preview,
    RunControl,
    RunStarted,
)

from . import gui_thread_gc

DRAIN_INTERVAL_MS = 50


@dataclass
class StartFailed:
    """The engine refused the run before it began (bad config, missing data) or crashed outside the loop."""

    message: str
    traceback: str = ""
    expected: bool = True  # a ConfigError / DataError: the message is enough


class EventBuffer:
    """Events produced on the training thread, taken in batches by the UI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Any] = []

    def put(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)

    def take(self) -> list[Any]:
        with self._lock:
            items, self._items = self._items, []
        return items


def run_engine(spec: Any, out_dir: Path, control: RunControl, resume: bool, sink: EventBuffer) -> None:
    """The worker's whole job; plain Python, so it is testable without a thread."""
    from genstudio.core import engine
    from genstudio.core.config import ConfigError
    from genstudio.metrics.quality_job import training_jobs  # the studio plugs the metrics into the engine

    try:
        from genstudio.data.dataset import DataError
    except ImportError:  # pragma: no cover
        DataError = ConfigError  # noqa: N806

    try:
        for event in engine.train(spec, out_dir, control, resume=resume, gui=True, jobs=training_jobs()):
            sink.put(event)
    except (ConfigError, DataError, ValueError) as e:
        sink.put(StartFailed(str(e), traceback.format_exc(), expected=True))
    except BaseException as e:  # noqa: BLE001 - reported in a dialog, never lost on a thread
        sink.put(StartFailed(f"{type(e).__name__}: {e}", traceback.format_exc(), expected=False))


class TrainingWorker(QObject):
    """Lives on the training thread; no parent (it is moved there)."""

    done = Signal()

    def __init__(self, spec: Any, out_dir: Path, control: RunControl, resume: bool, sink: EventBuffer):
        super().__init__()
        self.spec, self.out_dir, self.control, self.resume, self.sink = spec, out_dir, control, resume, sink

    @Slot()
    def run(self) -> None:
        try:
            run_engine(self.spec, self.out_dir, self.control, self.resume, self.sink)
        finally:
            self.done.emit()


class LiveWeightsFeed(QObject):
    """The newest weights snapshot of the live run, for the lab panels (newest wins; nothing copied unasked).

    A visible panel calls :meth:`request`; the engine answers with one
    LiveWeights event at its preview cadence; ``arrived(step)`` tells every
    panel, and each reads :meth:`latest` when it is shown. Only the newest
    snapshot is kept (one state dict in memory, however many arrive).
    """

    arrived = Signal(int)  # the snapshot's step

    def __init__(self, control: RunControl, parent: QObject | None = None):
        super().__init__(parent)
        self._control = control
        self._latest: LiveWeights | None = None

    def request(self) -> None:
        """Ask the training thread for a fresh snapshot (one flag; several requests before it is served are one)."""
        self._control.request_weights()

    def latest(self) -> LiveWeights | None:
        return self._latest

    def put(self, snapshot: LiveWeights) -> None:
        if self._latest is None or snapshot.step >= self._latest.step:
            self._latest = snapshot
            self.arrived.emit(snapshot.step)


class TrainingSession(QObject):
    """One training run on its own thread; signals arrive on the UI thread, coalesced.

    ``metrics`` carries a list of Metrics events (all of them, for the
    curves); ``preview`` only the newest preview of each 50 ms batch;
    ``weights`` (a :class:`LiveWeightsFeed`) the newest weights snapshot.
    """

    started = Signal(object)  # RunStarted
    metrics = Signal(list)  # list[Metrics]
    preview = Signal(object)  # Preview
    checkpoint = Signal(object)  # CheckpointSaved
    notice = Signal(object)  # Notice
    paused = Signal(bool)
    finished = Signal(object)  # Finished
    failed_to_start = Signal(object)  # StartFailed
    ended = Signal()  # the thread has stopped; the session can be dropped

    def __init__(self, spec: Any, out_dir: str | Path, resume: bool = False, parent: QObject | None = None):
        super().__init__(parent)
        self.spec = spec
        self.out_dir = Path(out_dir)
        self.resume = resume
        self.control = RunControl()
        self.buffer = EventBuffer()
        self.weights = LiveWeightsFeed(self.control, self)
        self.run_started: RunStarted | None = None
        self.result: Finished | StartFailed | None = None
        self.step = 0
        self.is_paused = False
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._drain = QTimer(self, interval=DRAIN_INTERVAL_MS)
        self._drain.timeout.connect(self.drain)

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        gui_thread_gc.ensure_installed()  # the training thread must never collect the window's cycles
        thread = QThread()
        thread.setObjectName("genstudio-training")
        worker = TrainingWorker(self.spec, self.out_dir, self.control, self.resume, self.buffer)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # Direct: quit must reach the thread even while the UI thread is blocked in wait().
        worker.done.connect(thread.quit, Qt.ConnectionType.DirectConnection)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        self._drain.start()
        thread.start()

    def is_running(self) -> bool:
        return self._thread is not None

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the thread ends (used when the application quits)."""
        if self._thread is None:
            return True
        ok = self._thread.wait(timeout_ms)
        if ok:
            self._on_thread_finished()
        return ok

    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self.drain()
        self._drain.stop()
        # Both objects are dropped only now that the thread has returned, so Qt never
        # sees a QThread destroyed while running.
        self._thread.deleteLater()
        self._worker.deleteLater()
        self._thread = self._worker = None
        self.ended.emit()

    # -- control (any time, from the UI thread) ------------------------------------------
    def stop(self) -> None:
        self.control.stop()

    def pause(self) -> None:
        self.control.pause()
        self.is_paused = True
        self.paused.emit(True)

    def resume_training(self) -> None:
        self.control.resume()
        self.is_paused = False
        self.paused.emit(False)

    def step_once(self, n: int = 1) -> None:
        """GAN Lab's step: pause (if running) and let exactly ``n`` steps run."""
        self.control.step_once(n)
        if not self.is_paused:
            self.is_paused = True
            self.paused.emit(True)

    def save_checkpoint(self) -> None:
        self.control.request_checkpoint()

    # -- events ---------------------------------------------------------------------------
    def drain(self) -> None:
        events = self.buffer.take()
        if not events:
            return
        metrics: list[Metrics] = []
        latest_preview: Preview | None = None
        latest_weights: LiveWeights | None = None
        for ev in events:
            if isinstance(ev, Metrics):
                metrics.append(ev)
                self.step = max(self.step, ev.step)
            elif isinstance(ev, Preview):
                latest_preview = ev
            elif isinstance(ev, LiveWeights):
                latest_weights = ev  # coalesced: only the newest snapshot of a batch is kept
            elif isinstance(ev, RunStarted):
                self.run_started = ev
                self.step = ev.start_step
                self.started.emit(ev)
            elif isinstance(ev, CheckpointSaved):
                self.checkpoint.emit(ev)
            elif isinstance(ev, Notice):
                self.notice.emit(ev)
            elif isinstance(ev, Paused):
                self.step = max(self.step, ev.step)
                if ev.paused != self.is_paused:
                    self.is_paused = ev.paused
                    self.paused.emit(ev.paused)
            elif isinstance(ev, (Finished, StartFailed)):
                # Flush what came before, so the last curve points and grid are shown first.
                if metrics:
                    self.metrics.emit(metrics)
                    metrics = []
                if latest_preview is not None:
                    self.preview.emit(latest_preview)
                    latest_preview = None
                if latest_weights is not None:
                    self.weights.put(latest_weights)
                    latest_weights = None
                self.result = ev
                if isinstance(ev, Finished):
                    self.step = max(self.step, ev.step)
                    self.finished.emit(ev)
                else:
                    self.failed_to_start.emit(ev)
        if metrics:
            self.metrics.emit(metrics)
        if latest_preview is not None:
            self.preview.emit(latest_preview)
        if latest_weights is not None:
            self.weights.put(latest_weights)
