"""The generation's background task: a :class:`GenerationStepper` advanced on its own thread, when asked.

Single steps, or playing at a speed. While the user's cursor is not on the
samples, the worker also computes the distribution the last drawn position of
the first sample came from (``follow``), so the tab's plot follows the drawing
without a forward pass on the UI thread. A dedicated thread, not the shared pool
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
from typing import Any, Callable

import numpy as np
import torch

from genstudio.models.autoregressive import inspect as ar

from ..jobs import JobState

#: While playing fast, frames reach the UI at most this often (throttled where they are produced).
FRAME_INTERVAL_S = 0.03
#: While playing fast, the followed distribution (one more forward pass) is computed at most this often.
FOLLOW_INTERVAL_S = 0.2


@dataclass
class Followed:
    """The distribution one drawn position of sample 0 was drawn from."""

    position: tuple[int, int, int]  # (c, i, j); audio: (0, 0, t)
    probs: np.ndarray
    mixture: dict[str, Any] | None = None  # PixelCNN++'s components (``mixture_at``), else None


@dataclass
class Frame:
    index: int  # panel steps done
    total: int
    data: torch.Tensor  # partial sample in data space
    drawn: torch.Tensor  # positions drawn so far
    positions: list  # the positions drawn by the last step
    finished: bool
    followed: Followed | None = None


class GenerationWorker:
    """Advances ``stepper`` in :meth:`run` (the job's thread) as the tab asks; reports a :class:`Frame` per shown step."""

    def __init__(self, stepper: ar.GenerationStepper, follow: Callable[[torch.Tensor, list], Followed] | None = None):
        self.stepper = stepper
        # (partial sample, positions just drawn) -> Followed; the tab sets it to None once the user hovers.
        self.follow = follow
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
        last_emit = last_follow = 0.0
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
                data = s.current()
                follow, followed = self.follow, None
                if follow is not None and positions and (done or not fast or now - last_follow >= FOLLOW_INTERVAL_S):
                    last_follow = now
                    followed = follow(data, positions)
                state.report(Frame(s.index, s.total, data, s.drawn.clone(), positions, done, followed))
            if done:
                self.finished = True
                return
            if playing and interval:
                with self.cond:
                    self.cond.wait(timeout=interval)  # wakes at once on stop or pause
