"""The GAN sandbox's stepping, off the UI thread: a :class:`SandboxWorker` owns the sandbox's model while it
steps and hands the panel :class:`SandboxSnapshot` objects (G's samples, D's heatmap, the gradient arrows,
D's scores and the latest losses) that the panel draws at the display rate.

Every other training in the studio runs off the UI thread; the sandbox did not:
Play ran up to 8 optimiser steps of D and G inside each 16 ms timer tick, so the
window's responsiveness depended on the model's size. Now the worker runs on a
dedicated thread (:class:`..jobs.PanelJob` with ``thread_name``, as the
autoregressive generation does: a paused sandbox waits for as long as the user
likes and must not hold a pool thread the other panels need). Control goes
through a condition variable, never a queued call to the busy thread:
:meth:`SandboxWorker.request` queues single steps, :meth:`SandboxWorker.set_playing`
runs ticks at the slider's rate, :meth:`SandboxWorker.stop` ends the loop before
the next step. Snapshots go through the job's state (only the newest unread one
is kept) and are throttled here, where they are made.

No Qt here: the same :meth:`SandboxWorker.advance` and
:meth:`SandboxWorker.snapshot` also serve the panel's old synchronous path,
kept only for the latency benchmark (see ``GanViewPanel.step_on_gui_thread``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from genstudio.core.capabilities import Conditional
from genstudio.core.data_types import Batch

from ..gan_math import HEATMAP_SIZE, ScoresView, arrow_segments, heatmap_grid, scores_view, view_extent
from .diagnostics import model_diagnostics
from .prepare import GanViewData, raw_generator_output

if TYPE_CHECKING:
    from ..jobs import JobState

FAKES = 500  # generated points shown (fixed z)
IMAGE_FAKES = 128  # generated images scored by D (fixed z), and as many real ones
ARROWS = 150  # of which this many carry a gradient arrow
MODE_SAMPLES = 2500  # samples the mode-coverage counter looks at

#: While playing fast, snapshots are made at most this often (the UI reads them every 30 ms).
FRAME_INTERVAL_S = 0.03
#: ... and take at most this share of the worker's time: a DCGAN snapshot (128 fakes and 128 real
#: images through D) costs more than a frame, and the sandbox should spend its time stepping.
SNAPSHOT_SHARE = 0.5

# Speed slider: (tick interval in ms, steps per tick); the first entries are slow motion.
SPEEDS = ((1000, 1), (500, 1), (250, 1), (120, 1), (60, 1), (30, 1), (16, 1), (16, 2), (16, 4), (16, 8))


@dataclass
class SandboxSnapshot:
    """What the panel draws, computed from the sandbox's model by whoever owns it at the time."""

    steps: int  # sandbox steps done when it was taken
    time: float  # time.perf_counter() when it was taken (the panel's achieved rate)
    stats: dict[str, float]  # the latest value of each statistic (d_loss, g_loss, d_real, d_fake, ...)
    step_ms: float  # the last sandbox step's cost (its snapshot not included)
    snapshot_ms: float = 0.0  # the cost of the snapshot before this one
    kind: str = "points"
    # On 2-D data.
    heat: np.ndarray | None = None  # HEATMAP_SIZE x HEATMAP_SIZE, D's output over the view
    levels: tuple[float, float] = (0.0, 1.0)
    fakes: np.ndarray | None = None  # FAKES x 2, G(z) for a fixed z
    arrows: tuple[np.ndarray, np.ndarray] | None = None  # for connect="pairs"
    modes_text: str = ""
    # On images.
    d_real: np.ndarray | None = None
    d_fake: np.ndarray | None = None
    real_images: np.ndarray | None = None
    fake_images: np.ndarray | None = None
    scores: ScoresView | None = None  # what the image view draws of them, made ready here
    # What the model's own view draws (wgan: the critic's weights; sgan: the classifier's accuracy), see model_views.py.
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Play:
    playing: bool = False
    interval_s: float = 0.06
    per_tick: int = 1


@dataclass
class _History:
    """One entry per :meth:`SandboxWorker.advance` call (per click, or per tick while playing), as before."""

    step: list[float] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)


class SandboxWorker:
    """The sandbox's model and its stepping; :meth:`run` is the loop of the worker's thread.

    Control methods (``request``, ``set_playing``, ``set_training_points``,
    ``stop``) and readers (``history_since``, ``idle``) are safe from any
    thread. ``advance`` and ``snapshot`` touch the model: only the thread that
    owns it calls them (the worker's, or the UI's in the old synchronous path).
    """

    def __init__(self, data: GanViewData, seed: int = 0):
        self.data = data
        self.model = data.model
        self.extent = view_extent(data.real, data.extent) if data.kind == "points" else (-1.0, 1.0, -1.0, 1.0)
        self.conditional = isinstance(self.model, Conditional)
        self._rng = np.random.default_rng(seed)
        self.cond = threading.Condition()
        self._queue: deque[tuple[str, int]] = deque()
        self._play = _Play()
        self._stopped = False
        self._busy = False  # a step or snapshot is in progress on the worker's thread
        self._real, self._labels = data.real, (data.labels if self.conditional else None)
        self._drawn = False
        self._history = _History()
        self.steps = 0
        self.touched = False  # any step asked for (a new checkpoint then leaves the sandbox alone)
        self.stats: dict[str, float] = {}
        self.step_ms = 0.0
        self._snapshot_ms = 0.0
        self.thread: threading.Thread | None = None  # the thread running :meth:`run`, once started
        self._snapshot_wanted = True  # while playing, the panel asks for each snapshot when it can draw it

    # -- control, from any thread ---------------------------------------------------------------------
    def request(self, what: str = "both", count: int = 1) -> None:
        """Queue ``count`` steps: ``d`` (one D update), ``g`` (one G update) or ``both`` (a training step)."""
        with self.cond:
            self._queue.append((what, count))
            self.touched = True
            self.cond.notify_all()

    def set_playing(self, playing: bool, interval_s: float, per_tick: int) -> None:
        with self.cond:
            self._play = _Play(playing, interval_s, per_tick)
            self.touched = self.touched or playing
            self.cond.notify_all()

    def set_training_points(self, real: np.ndarray, labels: np.ndarray | None, drawn: bool) -> None:
        """What the next steps train on: the drawn points once there are some, else the run's data."""
        with self.cond:
            self._real, self._labels, self._drawn = real, labels, drawn
            self.cond.notify_all()

    def request_snapshot(self) -> None:
        """The panel can draw again: the next step (while playing) is followed by a snapshot."""
        with self.cond:
            self._snapshot_wanted = True

    def stop(self) -> None:
        with self.cond:
            self._stopped = True
            self._queue.clear()
            self.cond.notify_all()

    # -- reading, from any thread ---------------------------------------------------------------------
    def history_since(self, n: int) -> tuple[list[float], list[float], list[float]]:
        """The history entries from the ``n``-th on: (sandbox step, d_loss, g_loss)."""
        with self.cond:
            h = self._history
            return h.step[n:], h.d_loss[n:], h.g_loss[n:]

    def _progress(self) -> tuple[int, int]:
        """(steps done, history entries): a snapshot is owed to the panel when either moved."""
        with self.cond:
            return self.steps, len(self._history.step)

    def idle(self) -> bool:
        """Nothing queued, not playing and no step in progress."""
        with self.cond:
            return not (self._queue or self._play.playing or self._busy)

    # -- the work (the owning thread only) --------------------------------------------------------------
    def advance(self, what: str, count: int) -> dict[str, float]:
        """Run ``count`` sandbox steps of the kind ``what`` and record them; returns the latest statistics."""
        real, labels = self.training_points()
        for _ in range(count):
            self.one_step(what, real, labels)
        self.record()
        return self.stats

    def training_points(self) -> tuple[np.ndarray, np.ndarray | None]:
        with self.cond:
            return self._real, self._labels

    def one_step(self, what: str, real: np.ndarray, labels: np.ndarray | None) -> None:
        """One sandbox step: ``d`` (one D update), ``g`` (one G update) or ``both`` (the model's D updates, then G)."""
        if not len(real):
            return
        model = self.model
        t0 = time.perf_counter()
        idx = self._rng.integers(0, len(real), min(self.data.batch_size, len(real)))
        y = torch.as_tensor(labels[idx]) if labels is not None else -torch.ones(len(idx), dtype=torch.long)
        x_model, y_model = model.prepare_batch(Batch(torch.as_tensor(real[idx]), y))
        stats: dict[str, torch.Tensor] = {}
        if what in ("d", "both"):
            for _ in range(getattr(model.config, "d_steps", 1) if what == "both" else 1):
                stats.update(model.discriminator_step(x_model, y_model))
        if what in ("g", "both"):
            stats.update(model.generator_step(len(idx), y_model))
        model.eval()
        self.steps += 1
        self.step_ms = (time.perf_counter() - t0) * 1000
        # A D-only or G-only step leaves the other player's numbers as they were.
        self.stats.update({k: float(v) for k, v in stats.items()})

    def record(self) -> None:
        """One history entry for the steps since the last one (a click, or a tick while playing, as before:
        at 500 steps/s one entry per step would grow the loss curves faster than they can be drawn)."""
        with self.cond:
            h = self._history
            if h.step and h.step[-1] == self.steps:
                return
            # A player not stepped yet has no number (a G-only first step leaves d_loss unknown).
            h.d_loss.append(self.stats.get("d_loss", float("nan")))
            h.g_loss.append(self.stats.get("g_loss", float("nan")))
            h.step.append(float(self.steps))

    def snapshot(self) -> SandboxSnapshot:
        """Everything the panel draws, from the model as it is now."""
        t0 = time.perf_counter()
        snap = SandboxSnapshot(self.steps, t0, dict(self.stats), self.step_ms, self._snapshot_ms, self.data.kind)
        if self.data.kind == "points":
            self._points_view(snap)
        else:
            self._images_view(snap)
        snap.diagnostics = model_diagnostics(self.model, self.data)
        self._snapshot_ms = (time.perf_counter() - t0) * 1000
        return snap

    def _points_view(self, snap: SandboxSnapshot) -> None:
        model = self.model
        z = model.prior_sample(FAKES, torch.Generator().manual_seed(0))
        labels = torch.arange(FAKES) % model.num_classes if self.conditional else None
        grid = heatmap_grid(self.extent)
        # D's view of class 0 for a conditional model (the heatmap is per class).
        grid_labels = torch.zeros(len(grid), dtype=torch.long) if self.conditional else None
        with torch.no_grad():
            heat = model.discriminate(torch.as_tensor(grid), grid_labels).float().cpu().numpy()
        snap.heat = heat.reshape(HEATMAP_SIZE, HEATMAP_SIZE)
        snap.levels = (0.0, 1.0) if model.d_output_kind == "probability" else (float(heat.min()), float(heat.max()) + 1e-9)
        fakes, direction = model.generator_field(z, labels)
        snap.fakes = fakes.cpu().numpy()
        x0, x1, y0, y1 = self.extent
        snap.arrows = arrow_segments(snap.fakes[:ARROWS], direction[:ARROWS].cpu().numpy(), max(x1 - x0, y1 - y0))
        with self.cond:
            drawn = self._drawn
        snap.modes_text = self._modes() if self.data.dataset == "8gaussians" and not drawn else ""

    def _modes(self) -> str:
        from genstudio.metrics.modes import mode_coverage

        with torch.no_grad():
            samples = self.model.sample(MODE_SAMPLES, torch.Generator().manual_seed(1))
        covered, quality, _ = mode_coverage(samples)
        return f"modes covered: {covered} of 8 ({quality:.0%} of samples within 3 sd of a mode)"

    def _images_view(self, snap: SandboxSnapshot) -> None:
        """D's outputs on one batch of real images and one of fakes from a fixed z (the raw generator D plays against)."""
        model, d = self.model, self.data
        z = model.prior_sample(IMAGE_FAKES, torch.Generator().manual_seed(0))
        labels = torch.arange(IMAGE_FAKES) % model.num_classes if self.conditional else None
        with torch.no_grad():
            fakes = raw_generator_output(model, z, labels)
            real = torch.as_tensor(d.real[:IMAGE_FAKES])
            real_labels = torch.as_tensor(d.labels[: len(real)]) if self.conditional else None
            snap.d_real = model.discriminate(real, real_labels).float().cpu().numpy() if len(real) else np.zeros(0)
            snap.d_fake = model.discriminate(fakes, labels).float().cpu().numpy()
        snap.real_images, snap.fake_images = real.numpy(), fakes.cpu().numpy()
        # The histograms, the ranking and the strips' pictures here too: the UI thread only draws them.
        snap.scores = scores_view(model.d_output_kind, snap.d_real, snap.d_fake, snap.real_images, snap.fake_images)

    # -- the worker's thread ------------------------------------------------------------------------------
    def run(self, state: JobState) -> None:
        """Step as asked until :meth:`stop`; report a snapshot after single steps and at the frame rate while playing.

        An exception ends the loop and reaches the panel through the job (shown in its status line).
        """
        self.thread = threading.current_thread()
        try:
            self._run(state)
        finally:
            with self.cond:
                self._busy = False
                self._queue.clear()

    def _report(self, state: JobState) -> None:
        with self.cond:
            self._snapshot_wanted = False
        state.report(self.snapshot())

    def _run(self, state: JobState) -> None:
        last_snapshot = 0.0
        next_tick = time.perf_counter()
        reported = self._progress()  # in the last snapshot reported (the panel already shows the first)
        while True:
            with self.cond:
                waiting = not (self._stopped or self._queue or self._play.playing)
            if waiting and reported != self._progress():
                # Paused after a throttled tick: the last steps (and their history entry) are shown before it waits.
                reported = self._progress()
                self._report(state)
            with self.cond:
                while not (self._stopped or self._queue or self._play.playing):
                    self._busy = False
                    self.cond.wait()
                if self._stopped:
                    return
                self._busy = True
                play = self._play
                single = bool(self._queue)
                what, count = self._queue.popleft() if single else ("both", play.per_tick)
            real, labels = self.training_points()
            for i in range(count):
                self.one_step(what, real, labels)
                with self.cond:
                    more = i < count - 1 or bool(self._queue) or self._play.playing
                    # Stop, pause or a new speed ends a tick between two steps, not after all of them
                    # (8 DCGAN steps on a busy 2-core machine take seconds).
                    cut = self._stopped or (not single and self._play != play)
                    wanted = self._snapshot_wanted
                now = time.perf_counter()
                gap = max(FRAME_INTERVAL_S, self._snapshot_ms / 1000 / SNAPSHOT_SHARE)
                # A single step is shown at once; while playing (or with steps queued) a snapshot when the panel
                # asked for one, at most one a frame and at most SNAPSHOT_SHARE of the worker's time.
                if not cut and (not more or (wanted and now - last_snapshot >= gap)):
                    if i == count - 1:
                        self.record()
                    last_snapshot, reported = now, self._progress()
                    self._report(state)
                if cut:
                    break
            self.record()
            if single:
                continue
            # Playing: the next tick is one interval after this one (or now, when a step took longer).
            next_tick = max(next_tick + play.interval_s, time.perf_counter())
            with self.cond:
                while not self._stopped and not self._queue and self._play == play:
                    left = next_tick - time.perf_counter()
                    if left <= 0:
                        break
                    self.cond.wait(timeout=left)  # wakes at once on stop, pause, a speed change or a click
                if self._play != play:
                    next_tick = time.perf_counter()


def speed_of(index: int) -> tuple[float, int]:
    """(tick interval in seconds, steps per tick) for the speed slider's position."""
    interval_ms, per_tick = SPEEDS[index]
    return interval_ms / 1000, per_tick
