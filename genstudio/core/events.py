"""Events the engine yields, and the thread-safe token that steers it.

The engine is a generator of these events; the CLI prints them, the studio
turns them into Qt signals. The control token is the only way in: the UI
thread sets flags, the training thread reads them between steps (a queued
call to a busy worker would never run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunStarted:
    run_dir: str
    config: dict[str, Any]
    start_step: int
    total_steps: int
    device: str
    threads: int
    capabilities: list[str]
    metric_groups: dict[str, list[str]]
    data_info: dict[str, Any]


@dataclass
class Metrics:
    step: int
    values: dict[str, float]
    steps_per_s: float
    elapsed_s: float
    eta_s: float | None = None
    split: str = "train"  # "train" or "val"


@dataclass
class Preview:
    """A sample grid from the fixed preview seed.

    ``image`` is uint8 H x W x C for image and audio models (audio is drawn
    as waveforms); ``points`` is float32 N x 2 for 2-D models.
    """

    step: int
    image: np.ndarray | None = None
    points: np.ndarray | None = None
    path: str | None = None


@dataclass
class LiveWeights:
    """A CPU copy of the model's whole state dict at ``step`` (EMA copies included), asked for by a panel.

    Produced only on request (:meth:`RunControl.request_weights`), at most once
    per preview cadence, by rank 0: the studio's lab panels look at the model
    while it learns without waiting for a checkpoint file.
    """

    step: int
    weights: dict[str, Any]


@dataclass
class CheckpointSaved:
    step: int
    path: str


@dataclass
class Notice:
    """A warning or information line for the user (e.g. an alarm, a skipped file)."""

    message: str
    level: str = "warning"


@dataclass
class Paused:
    step: int
    paused: bool


@dataclass
class Finished:
    """The last event: status is completed, stopped, diverged or failed."""

    status: str
    step: int
    message: str = ""
    traceback: str = ""
    term: str | None = None  # the loss term that went non-finite, for 'diverged'


Event = RunStarted | Metrics | Preview | LiveWeights | CheckpointSaved | Notice | Paused | Finished


@dataclass
class RunControl:
    """Thread-safe flags read by the engine between steps."""

    _stop: threading.Event = field(default_factory=threading.Event)
    _resume: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _single_steps: int = 0
    _save_now: bool = False
    _preview_now: bool = False
    _weights_wanted: bool = False

    def __post_init__(self) -> None:
        self._resume.set()  # not paused

    # -- called from any thread (the UI) -----------------------------------
    def stop(self) -> None:
        self._stop.set()
        self._resume.set()  # wake a paused loop so it can see the stop

    def pause(self) -> None:
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    def step_once(self, n: int = 1) -> None:
        """While paused, let exactly ``n`` more training steps run."""
        with self._lock:
            self._single_steps += n
        self._resume.clear()

    def request_checkpoint(self) -> None:
        with self._lock:
            self._save_now = True

    def request_preview(self) -> None:
        with self._lock:
            self._preview_now = True

    def request_weights(self) -> None:
        """Ask for one LiveWeights event (served at the preview cadence; nothing is copied unless asked)."""
        with self._lock:
            self._weights_wanted = True

    # -- read by the engine ------------------------------------------------
    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def take_single_step(self) -> bool:
        with self._lock:
            if self._single_steps > 0:
                self._single_steps -= 1
                return True
            return False

    def has_single_steps(self) -> bool:
        with self._lock:
            return self._single_steps > 0

    def take_save_request(self) -> bool:
        with self._lock:
            s, self._save_now = self._save_now, False
            return s

    def take_preview_request(self) -> bool:
        with self._lock:
            s, self._preview_now = self._preview_now, False
            return s

    def weights_requested(self) -> bool:
        with self._lock:
            return self._weights_wanted

    def take_weights_request(self) -> bool:
        with self._lock:
            s, self._weights_wanted = self._weights_wanted, False
            return s

    def wait(self, timeout: float) -> None:
        """Sleep while paused, at most ``timeout`` seconds (wakes on resume or stop)."""
        self._resume.wait(timeout)
