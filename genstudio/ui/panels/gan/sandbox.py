"""The GAN view's sandbox controls: Step D, Step G, Step both and Play drive a :class:`.worker.SandboxWorker`
that steps the panel's own copy of the model (never the training thread's) on its own thread; the panel draws
the snapshots it reports. A mixin of :class:`.panel.GanViewPanel`.

The UI thread never runs an optimiser step: a click queues steps, Play sets the
worker playing at the speed slider's rate, and the job's 30 ms poll hands the
newest snapshot to the panel. While playing, the panel asks for each snapshot
once drawing the last one has used its share of the UI thread (the curve
view's throttle by cost), so the worker computes none that would be dropped.
``step_on_gui_thread`` keeps the old path (steps
and snapshot inside the click or a 16 ms timer tick) for the latency benchmark
and for the test that shows a synchronous sandbox is caught.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np

from genstudio.core.capabilities import Conditional

from ..jobs import JobState
from .worker import SPEEDS, SandboxSnapshot, SandboxWorker, speed_of

#: The worker's thread (named, so a test or a debugger can find it).
THREAD_NAME = "genstudio-gan-sandbox"
#: Drawing the snapshots (their paints included) keeps the UI thread busy this fraction of the time at most:
#: the curve view's throttle by cost, with a larger share since this view is what the user watches. On a busy
#: 2-core machine a DCGAN view (histograms, three image strips, two loss plots) takes 100-200 ms to draw.
DRAW_BUSY_FRACTION = 0.2
#: Draw costs kept for :meth:`Sandbox.draw_costs_ms`.
DRAW_COSTS_KEPT = 1000


class Sandbox:
    """Mixin (before QWidget): stepping the players through the worker and playing at a measured rate."""

    #: The old synchronous path (benchmarks/ui_latency.py's "before" case only): steps run on the UI thread.
    step_on_gui_thread = False

    data: Any
    drawn: list
    worker: SandboxWorker | None
    sandbox_steps: int

    def training_points(self) -> tuple[np.ndarray, np.ndarray | None]:
        """What the sandbox trains on: the drawn points once there are some, else the run's data."""
        assert self.data is not None
        if self.drawn:
            return np.concatenate(self.drawn).astype(np.float32), None
        labels = self.data.labels if isinstance(self.data.model, Conditional) else None
        return self.data.real, labels

    def _send_training_points(self) -> None:
        if self.worker is not None:
            real, labels = self.training_points()
            self.worker.set_training_points(real, labels, bool(self.drawn))

    def step(self, what: str = "both", count: int = 1) -> None:
        """Ask for ``count`` sandbox steps: ``d`` (one D update), ``g`` (one G update) or ``both`` (a training step).

        They run on the worker's thread; the panel shows them when its snapshot arrives (see :meth:`idle`).
        """
        if self.worker is None or not len(self.training_points()[0]):
            return
        if self.step_on_gui_thread:
            self._step_here(what, count)
            return
        self._ensure_running()
        self.worker.request(what, count)

    def idle(self) -> bool:
        """No step queued or running, not playing, and the panel shows the sandbox's latest state."""
        w = self.worker
        return w is None or (w.idle() and not self.play.isChecked() and self.sandbox_steps == w.steps)

    # -- drawing the worker's snapshots, throttled by their cost ------------------------------------------------
    def _snapshot_arrived(self, snap: SandboxSnapshot) -> None:
        """Draw the snapshot the job's poll brought, then ask the worker for the next one when the budget allows.

        While playing the worker makes a snapshot only when asked, so none is computed and then dropped.
        """
        if self.data is None:
            return
        self._draw_started = time.monotonic()
        self.show_snapshot(snap)
        # The paints this drawing asked for run before a zero timer fires: its end measures draw + paint.
        self._draw_measure.start(0)

    def _draw_measured(self) -> None:
        cost = time.monotonic() - self._draw_started
        self.draw_costs_ms().append(cost * 1000)
        self._ask_timer.start(round(1000 * cost * (1 / DRAW_BUSY_FRACTION - 1)))

    def draw_costs_ms(self) -> deque:
        """The UI thread's time for each of the last snapshots drawn (drawing and its paints), in ms: what the
        latency benchmark reports beside the event loop's lateness."""
        costs = self.__dict__.get("_draw_costs")
        if costs is None:
            costs = self.__dict__["_draw_costs"] = deque(maxlen=DRAW_COSTS_KEPT)
        return costs

    def _ask_for_snapshot(self) -> None:
        if self.worker is not None:
            self.worker.request_snapshot()

    # -- the worker's thread -------------------------------------------------------------------------------
    def _ensure_running(self) -> None:
        state: JobState | None = self._sandbox_state
        if state is None or state.wait(0):  # not started, or ended (by a failure): start its loop again
            self._sandbox_state = self.sandbox_job.start(self.worker.run, thread_name=THREAD_NAME)

    def _stop_worker(self, wait_s: float = 0.0) -> None:
        """Stop the worker's loop before its next step; with ``wait_s``, wait for the step in progress to end."""
        self.timer.stop()
        if self.worker is not None:
            self.worker.stop()
        self.sandbox_job.cancel()  # snapshots the stopped worker still reports are dropped
        self._ask_timer.stop()
        state, self._sandbox_state = self._sandbox_state, None
        if state is not None and wait_s > 0:
            state.wait(wait_s)
            thread = self.worker.thread if self.worker is not None else None
            if thread is not None and thread is not threading.current_thread():
                thread.join(wait_s)  # it ends just after its function returned

    def worker_thread_alive(self) -> bool:
        """Whether this panel's sandbox thread still runs."""
        return self.worker is not None and self.worker.thread is not None and self.worker.thread.is_alive()

    def _sandbox_failed(self, exc: object, tb: str) -> None:
        # Never swallowed: the panel says what broke, the traceback is in the tooltip.
        self.play.setChecked(False)
        self.status.setText(f"The sandbox stopped: {type(exc).__name__}: {exc}. 'Reset to checkpoint' starts it again from the run's weights.")
        self.status.setToolTip(tb)

    # -- the old synchronous path (benchmark only) -----------------------------------------------------------
    def _step_here(self, what: str, count: int) -> None:
        assert self.worker is not None
        self.worker.advance(what, count)
        self.show_snapshot(self.worker.snapshot())

    def _tick(self) -> None:
        self._step_here("both", SPEEDS[self.speed.value()][1])

    # -- play and speed ------------------------------------------------------------------------------------------
    def _play_toggled(self, on: bool) -> None:
        self.play.setText("Pause" if on else "Play")
        self._ticks = []
        if self.worker is None:
            if on:
                self.play.setChecked(False)
            return
        interval_s, per_tick = speed_of(self.speed.value())
        if self.step_on_gui_thread:
            if on:
                self.timer.start(round(interval_s * 1000))
            else:
                self.timer.stop()
        else:
            if on:
                self._ensure_running()
                self.worker.request_snapshot()  # whatever happened to the last one asked for
            self.worker.set_playing(on, interval_s, per_tick)
        self._show_rate()

    def target_rate(self) -> float:
        """Steps per second the speed slider asks for."""
        interval, per_tick = SPEEDS[self.speed.value()]
        return per_tick * 1000 / interval

    def achieved_rate(self) -> float | None:
        """Steps per second over the last two seconds of play (None before two snapshots)."""
        if len(self._ticks) < 2 or self._ticks[-1][0] <= self._ticks[0][0]:
            return None
        (t0, s0), (t1, s1) = self._ticks[0], self._ticks[-1]
        return (s1 - s0) / (t1 - t0)

    def _show_rate(self) -> None:
        rate = self.target_rate()
        text = f"{rate:.0f} step/s" if rate < 60 else f"up to {rate:.0f} steps/s"
        achieved = self.achieved_rate()
        self.speed_label.setText(text if achieved is None else f"{text} (achieved {achieved:.0f})")

    def _speed_changed(self) -> None:
        interval_s, per_tick = speed_of(self.speed.value())
        if self.play.isChecked():
            self._ticks = []  # a new target: measure afresh
            if self.step_on_gui_thread:
                self.timer.setInterval(round(interval_s * 1000))
            elif self.worker is not None:
                self.worker.set_playing(True, interval_s, per_tick)
        self._show_rate()

    def _note_progress(self, snap: SandboxSnapshot) -> None:
        """Record the (time, steps) of a snapshot shown while playing: the achieved rate."""
        if not self.play.isChecked():
            return
        self._ticks.append((snap.time, snap.steps))
        while len(self._ticks) > 2 and snap.time - self._ticks[0][0] > 2.0:
            self._ticks.pop(0)
        self._show_rate()
