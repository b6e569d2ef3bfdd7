"""The run's estimated time on the form: a few training steps measured off the UI thread.

Every change of the form restarts a short debounce; then the model is built
and a few steps timed on the thread pool (genstudio/core/estimate.py). A newer
request cancels the one running (between steps) and its result is dropped, so
the text always belongs to the settings on screen.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QObject, QTimer, Signal

from genstudio.core.device import configure_threads
from genstudio.core.estimate import Cancelled, StepTiming, measure_step

from .status_bar import format_duration
from .tasks import BackgroundCall

DEBOUNCE_MS = 700


def estimate_text(timing: StepTiming, steps: int, max_minutes: float) -> str:
    """"Estimated time: about 4:50 for 1,200 steps (0.24 s a step, measured here)"."""
    total = timing.run_seconds(steps, max_minutes)
    capped = max_minutes > 0 and timing.seconds_per_step * steps > max_minutes * 60
    rate = f"{timing.seconds_per_step:.2f} s a step" if timing.seconds_per_step >= 0.1 else f"{1 / timing.seconds_per_step:,.0f} steps/s"
    how = "measured here" if timing.measured_batch in (0, timing.batch_size) else f"measured here at batch {timing.measured_batch}, scaled to {timing.batch_size}"
    text = f"<b>Estimated time: about {format_duration(total)}</b> for {steps:,} steps ({rate}, {how})"
    if capped:
        done = int(max_minutes * 60 / timing.seconds_per_step)
        text += f"; max_minutes stops it at {max_minutes:g} min, near step {done:,}"
    return text + ". Previews and validation add a little."


def run_facts_text(meta: dict) -> str:
    """What an opened run took, from its meta.json: it replaces the estimate while the run is shown.

    "This run: 1,200 of 1,200 steps in 4:48 (0.24 s a step on cpu), completed." A measured
    estimate would describe the next run's settings, not the one on screen.
    """
    step, total = int(meta.get("step") or 0), int(meta.get("total_steps") or 0)
    wall = meta.get("wall_time_s")
    steps = f"{step:,} of {total:,} steps" if total else f"{step:,} steps"
    text = f"<b>This run:</b> {steps}"
    if isinstance(wall, (int, float)) and wall > 0:
        text += f" in {format_duration(wall)}"
        if step > 0:
            per = wall / step
            rate = f"{per:.2f} s a step" if per >= 0.1 else f"{1 / per:,.0f} steps/s"
            device = meta.get("device")
            text += f" ({rate}{' on ' + str(device) if device else ''})"
    status = meta.get("status")
    return text + (f", {status}." if status else ".")


def measure_as_run(spec: Any, dataset: Any, cancel: threading.Event) -> StepTiming:
    """Time the steps with the torch threads the run will train with (the studio's: one core left to the window).

    torch's default is every core; on a 2-core machine with other work running, 2 threads step about 3x
    slower than the 1 the run then uses, and the first launch's estimate read 15 s a step for a 0.6 s step.
    """
    configure_threads(spec.run.threads, gui=True)
    return measure_step(spec, dataset, cancel)


class StepEstimator(QObject):
    """Debounced, cancellable step-time measurements; ``estimated`` carries the text for the form."""

    estimated = Signal(str)

    def __init__(self, parent: QObject | None = None, debounce_ms: int = DEBOUNCE_MS):
        super().__init__(parent)
        self._call = BackgroundCall(self)
        self._call.done.connect(self._on_done)
        self._call.failed.connect(self._on_failed)
        self._timer = QTimer(self, singleShot=True, interval=debounce_ms)
        self._timer.timeout.connect(self._start)
        self._cancel: threading.Event | None = None
        self._ticket = -1
        self._want: tuple[Callable[[], Any], Any] | None = None
        self._spec: Any = None
        self.last_text = ""
        self.measurements = 0  # finished measurements (tests count them)

    def request(self, spec_factory: Callable[[], Any], dataset: Any) -> None:
        """Measure again soon: ``spec_factory`` builds the RunSpec from the form when the debounce ends."""
        self.cancel()
        self._want = (spec_factory, dataset)
        self._set("<i>Estimating the time of the run…</i>")
        self._timer.start()

    def cancel(self) -> bool:
        """Drop the pending and the running measurement (the running one stops at its next step).

        True when one was dropped; its "Estimating the time of the run…" goes with it (it stayed on the form for
        a whole run when Train was pressed during a measurement).
        """
        dropped = self.busy()
        self._timer.stop()
        if self._cancel is not None:
            self._cancel.set()
        self._ticket = -1
        if dropped:
            self._set("")
        return dropped

    def busy(self) -> bool:
        return self._timer.isActive() or self._ticket >= 0

    def _start(self) -> None:
        if self._want is None:
            return
        factory, dataset = self._want
        try:
            spec = factory()
        except Exception:  # noqa: BLE001 - a form that cannot build a spec shows its own errors
            self._set("")
            return
        cancel = threading.Event()
        self._cancel, self._spec = cancel, spec
        self._ticket = self._call.start(lambda: measure_as_run(spec, dataset, cancel))

    def _on_done(self, ticket: int, timing: object) -> None:
        if ticket != self._ticket:
            return
        self._ticket = -1
        self.measurements += 1
        rc = self._spec.run
        self._set(estimate_text(timing, rc.steps, rc.max_minutes))

    def _on_failed(self, ticket: int, exc: object, tb: str) -> None:
        if ticket != self._ticket:
            return
        self._ticket = -1
        if isinstance(exc, Cancelled):
            return
        self._set(f"No estimate: {exc}")

    def _set(self, text: str) -> None:
        self.last_text = text
        self.estimated.emit(text)
