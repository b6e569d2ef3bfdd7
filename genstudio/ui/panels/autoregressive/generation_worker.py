"""The generation's background task: a :class:`GenerationStepper` advanced on its own thread, when asked.

Single steps, or playing at a speed. A dedicated thread, not the shared pool
(:class:`..jobs.PanelJob` with ``thread_name``): a paused run waits for as
long as the user likes and must not hold a pool thread the panel's other
computations need. Control goes through a condition variable (never a
queued call to the busy thread): ``request`` adds steps, ``set_playing``
runs freely, ``stop`` ends it before the next step. Frames go to the tab
through the job's state, throttled here, where they are produced.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from genstudio.models.autoregressive import inspect as ar

from ..jobs import JobState

#: While playing fast, frames reach the UI at most this often (throttled where they are produced).
FRAME_INTERVAL_S = 0.03


@dataclass
class Frame:
    index: int  # panel steps done
    total: int
    data: torch.Tensor  # partial sample in data space
    drawn: torch.Tensor  # positions drawn so far
    positions: list  # the positions drawn by the last step
    finished: bool


class GenerationWorker:
    """Advances ``stepper`` in :meth:`run` (the job's thread) as the tab asks; reports a :class:`Frame` per shown step."""

    def __init__(self, stepper: ar.GenerationStepper):
        self.stepper = stepper
        self.cond = threading.Condition()
        self.budget = 0
        self.playing = False
        self.interval: float | None = 0.05
        self.stopped = False
        self.finished = False

    def request(self, steps: int = 1) -> None:
        with self.cond:
            self.budget += steps
            self.cond.notify_all()

    def set_playing(self, playing: bool, interval: float | None) -> None:
        with self.cond:
            self.playing, self.interval = playing, interval
            self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def run(self, state: JobState) -> None:
        try:
            self._run(state)
        except Exception:
            self.finished = True
            raise  # the job shows it in the tab

    def _run(self, state: JobState) -> None:
        last_emit = 0.0
        while True:
            with self.cond:
                while not (self.stopped or self.playing or self.budget > 0):
                    self.cond.wait()
                if self.stopped:
                    return
                playing, interval = self.playing, self.interval
                if not playing:
                    self.budget -= 1
            positions = self.stepper.step()
            done = self.stepper.finished
            now = time.perf_counter()
            fast = playing and (interval is None or interval < FRAME_INTERVAL_S)
            if done or not fast or now - last_emit >= FRAME_INTERVAL_S:
                last_emit = now
                s = self.stepper
                state.report(Frame(s.index, s.total, s.current(), s.drawn.clone(), positions, done))
            if done:
                self.finished = True
                return
            if playing and interval:
                with self.cond:
                    self.cond.wait(timeout=interval)  # wakes at once on stop or pause
