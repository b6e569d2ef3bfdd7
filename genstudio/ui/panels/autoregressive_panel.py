"""The Autoregressive panel: watch p(x) = prod_d p(x_d | x_<d) at work, position by position.

What it shows (PixelRNN / PixelCNN, van den Oord et al. 2016; Gated PixelCNN,
van den Oord et al. 2016; MADE, Germain et al. 2015; WaveNet, van den Oord
et al. 2016):

- **Generation**: the sample fills in, in the model's order (a pixel, a
  row for the Row LSTM, or a chunk of audio samples per step), with play /
  pause, single steps and a speed slider. A worker thread draws; the UI only
  paints, and Stop or a new run interrupts it between two steps.
- **Distribution**: hovering a pixel (or a time of a waveform) plots the
  model's distribution of that position given the positions before it: 256
  bars for softmax outputs and mu-law audio, p(0) and p(1) for binarised
  images.
- **Receptive field**: |d logits / d input| of one output from the live
  weights, summed over a few inputs: the PixelCNN blind spot is the blue
  wedge of earlier pixels with zero gradient, which the Gated PixelCNN does
  not have. For WaveNet, the dilation stack with the samples that reach the
  output, and the same gradient measured.
- **Completion**: hide part of validation images (presets, or a rectangle
  dragged with the mouse) and let ``complete`` fill it; originals, masked
  inputs and several completions side by side.
- **MADE masks**: each layer's connectivity mask and their product, which
  in generation order is strictly lower-triangular.
- The status line: the generation order, the exact NLL on a validation
  batch (``model.evaluate``), and the sampling speed with and without the
  model's cache, measured on request.

Capability: registered for ``Autoregressive``. The panel loads its own copy
of the model from the run's latest checkpoint and reloads it on
``CheckpointSaved``; the training thread's model is never touched.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.models.autoregressive import inspect as ar

from ..images import tile_grid
from ..tasks import BackgroundCall
from ..widgets import ImageView, plot_widget, titled
from . import PanelContext, register_panel
from .live import CheckpointLoader, ReloadOnCheckpoint

#: Validation examples loaded for completion, the receptive field's base image and the NLL.
EXAMPLES = 64
NLL_BATCH = 256
#: The slider's speeds, steps per second; the last position means as fast as the model goes.
SPEED_STEPS = 40
MIN_SPEED, MAX_SPEED = 1.0, 2000.0
#: While playing fast, frames reach the UI at most this often (throttled where they are produced).
FRAME_INTERVAL_S = 0.03


def speed_of(slider_value: int) -> float | None:
    """Steps per second for a slider position (log scale), None for the last (as fast as possible)."""
    if slider_value >= SPEED_STEPS:
        return None
    f = slider_value / (SPEED_STEPS - 1)
    return MIN_SPEED * (MAX_SPEED / MIN_SPEED) ** f


def grid_cell(x: float, y: float, n: int, ncols: int, h: int, w: int, pad: int = 1) -> tuple[int, int, int] | None:
    """(example, row, column) under image coordinates (x, y) of a :func:`tile_grid` picture, or None on padding."""
    if x < 0 or y < 0:
        return None
    col, jx = divmod(int(x) - pad, w + pad)
    row, iy = divmod(int(y) - pad, h + pad)
    if jx < 0 or iy < 0 or jx >= w or iy >= h or col >= ncols:
        return None
    k = row * ncols + col
    return (k, iy, jx) if 0 <= k < n else None


def cell_origin(k: int, ncols: int, h: int, w: int, pad: int = 1) -> tuple[int, int]:
    """Top-left image pixel (x, y) of example ``k`` in a :func:`tile_grid` picture."""
    r, c = divmod(k, ncols)
    return pad + c * (w + pad), pad + r * (h + pad)


def _row(*items: QWidget | str) -> QHBoxLayout:
    lay = QHBoxLayout()
    for it in items:
        lay.addWidget(QLabel(it) if isinstance(it, str) else it)
    lay.addStretch(1)
    return lay


# -- an image grid that knows its cells ------------------------------------------------------------


class PixelGridView(ImageView):
    """A tiled grid of small images; reports the (example, row, column) under the mouse and outlines cells.

    Dragging with the left button reports a rectangle of pixels inside one example.
    """

    hovered = Signal(int, int, int)
    clicked = Signal(int, int, int)
    dragged = Signal(int, int, int, int, int)  # example, top, left, bottom (exclusive), right (exclusive)

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent, placeholder)
        self.setMouseTracking(True)
        self.geometry_: tuple[int, int, int, int] | None = None  # n, ncols, h, w
        self.outlines: list[tuple[int, int, int, int, int, QColor]] = []  # k, i, j, rows, cols, colour
        self._press: tuple[int, int, int] | None = None

    def set_grid(self, pictures: np.ndarray, ncols: int) -> None:
        """``pictures``: N x H x W x 3 uint8."""
        n, h, w = pictures.shape[:3]
        self.geometry_ = (n, ncols, h, w)
        self.set_array(tile_grid(pictures.transpose(0, 3, 1, 2), ncols, pad=1, pad_value=128))

    def set_outlines(self, outlines: list[tuple[int, int, int, int, int, QColor]]) -> None:
        self.outlines = outlines
        self.update()

    def cell_at(self, pos: QPointF) -> tuple[int, int, int] | None:
        if self.geometry_ is None or not self.has_image():
            return None
        rect = self.target_rect()
        scale = rect.width() / self.image().width()
        x, y = (pos.x() - rect.x()) / scale, (pos.y() - rect.y()) / scale
        return grid_cell(x, y, *self.geometry_)

    def widget_point(self, k: int, i: float, j: float) -> QPointF:
        """Widget coordinates of pixel (i, j) (fractions allowed) of example ``k``."""
        n, ncols, h, w = self.geometry_
        x0, y0 = cell_origin(k, ncols, h, w)
        rect = self.target_rect()
        scale = rect.width() / self.image().width()
        return QPointF(rect.x() + (x0 + j) * scale, rect.y() + (y0 + i) * scale)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        cell = self.cell_at(event.position())
        if cell is not None:
            self.hovered.emit(*cell)
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        cell = self.cell_at(event.position())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self._press = cell
            self.clicked.emit(*cell)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        start, self._press = self._press, None
        end = self.cell_at(event.position())
        if start is not None and end is not None and end[0] == start[0] and end[1:] != start[1:]:
            (k, i0, j0), (_, i1, j1) = start, end
            self.dragged.emit(k, min(i0, i1), min(j0, j1), max(i0, i1) + 1, max(j0, j1) + 1)
        super().mouseReleaseEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self.outlines or self.geometry_ is None or not self.has_image():
            return
        p = QPainter(self)
        for k, i, j, rows, cols, colour in self.outlines:
            pen = QPen(colour)
            pen.setWidth(2)
            p.setPen(pen)
            a, b = self.widget_point(k, i, j), self.widget_point(k, i + rows, j + cols)
            p.drawRect(QRectF(a, b))


# -- generation on a worker thread ---------------------------------------------------------------


@dataclass
class Frame:
    index: int  # panel steps done
    total: int
    data: torch.Tensor  # partial sample in data space
    drawn: torch.Tensor  # positions drawn so far
    positions: list  # the positions drawn by the last step
    finished: bool


class _GenSignals(QObject):
    frame = Signal(int, object)  # ticket, Frame
    failed = Signal(int, str)


class GenerationWorker:
    """Advances a :class:`GenerationStepper` on its own thread when asked: single steps, or playing at a speed.

    A dedicated thread, not the shared pool: a paused run waits for as long
    as the user likes and must not hold a pool thread the panel's other
    computations need. Control goes through a condition variable (never a
    queued call to the busy thread): ``request`` adds steps, ``set_playing``
    runs freely, ``stop`` ends it before the next step.
    """

    def __init__(self, ticket: int, stepper: ar.GenerationStepper, signals: _GenSignals):
        self.ticket, self.stepper, self.signals = ticket, stepper, signals
        self.cond = threading.Condition()
        self.budget = 0
        self.playing = False
        self.interval: float | None = 0.05
        self.stopped = False
        self.finished = False
        self.thread = threading.Thread(target=self.run, name="genstudio-ar-generation", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def request(self, steps: int = 1) -> None:
        with self.cond:
            self.budget += steps
            self.cond.notify_all()

    def set_playing(self, playing: bool, interval: float | None) -> None:
        with self.cond:
            self.playing, self.interval = playing, interval
            self.cond.notify_all()

    def stop(self, wait_s: float = 0.0) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        if wait_s > 0 and self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(wait_s)

    def run(self) -> None:
        try:
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
                    frame = Frame(self.stepper.index, self.stepper.total, self.stepper.current(),
                                  self.stepper.drawn.clone(), positions, done)
                    self._emit(self.signals.frame, self.ticket, frame)
                if done:
                    self.finished = True
                    return
                if playing and interval:
                    with self.cond:
                        self.cond.wait(timeout=interval)  # wakes at once on stop or pause
        except Exception as e:  # shown in the panel, never lost in the thread
            self.finished = True
            self._emit(self.signals.failed, self.ticket, f"generation failed: {e}\n{traceback.format_exc(limit=4)}")

    @staticmethod
    def _emit(signal, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the panel was closed meanwhile


# -- loading -------------------------------------------------------------------------------------


@dataclass
class Loaded:
    model: Any
    step: int
    examples: torch.Tensor  # validation examples, data space
    labels: torch.Tensor
    nll: dict[str, float] | None
    note: str = ""


def load_for_inspection(run_dir: str | Path, n_examples: int = EXAMPLES, nll_batch: int = NLL_BATCH) -> Loaded:
    """The run's model (own copy, CPU) at its latest checkpoint, validation examples, and the exact NLL of a batch."""
    from genstudio.core.engine import load_run_model
    from genstudio.data.dataset import load_dataset

    model, spec, step = load_run_model(run_dir, device="cpu")
    model.eval()
    try:
        ds = load_dataset(spec.run.dataset, spec.data)
    except Exception as e:  # noqa: BLE001 - generation and the masks still work without the data
        shape = (1, *model.data_info.shape)
        return Loaded(model, step, torch.zeros(shape), -torch.ones(1, dtype=torch.long), None, f"dataset not available ({e})")
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    part = val if val is not None and len(val) > 0 else ds
    batch = part.get(slice(0, min(max(n_examples, nll_batch), len(part))))
    labels = batch.y if getattr(model, "conditional", False) else None
    nll = ar.validation_nll(model, batch.x, labels)
    return Loaded(model, step, batch.x[:n_examples], batch.y[:n_examples], nll)


def _conditional(model: Any) -> bool:
    return bool(getattr(model, "conditional", False)) and getattr(model, "num_classes", 0) > 0


# -- the generation tab -----------------------------------------------------------------------------


class GenerationTab(QWidget):
    """Draw samples step by step; hover a position to see its distribution."""

    frame_shown = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.task: GenerationWorker | None = None
        self.frame: Frame | None = None
        self._ticket = 0
        self._signals = _GenSignals(self)
        self._signals.frame.connect(self._on_frame)
        self._signals.failed.connect(self._on_failed)
        self.hover: tuple[int, int, int] | None = None
        self.distribution: np.ndarray | None = None

        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 64)
        self.n_spin.setToolTip("Samples drawn together (one batch)")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the uniforms every draw inverts: the same seed gives the same samples")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class label of a conditional model")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_label = QLabel("class")
        self.unit_combo = QComboBox()
        self.unit_combo.setToolTip("What one step draws: a pixel (all its channels), or a whole row")
        self.unit_label = QLabel("step")
        self.chunk_spin = QSpinBox()
        self.chunk_spin.setRange(1, 4096)
        self.chunk_spin.setToolTip("Audio samples drawn per step")
        self.chunk_label = QLabel("samples per step")
        self.channel_combo = QComboBox()
        self.channel_combo.addItems(["R", "G", "B"])
        self.channel_combo.setToolTip("Colour channel whose distribution the cursor shows (each channel is drawn given the ones before it)")
        self.channel_label = QLabel("hover channel")
        self.cached_check = QCheckBox("use the cache")
        self.cached_check.setChecked(True)
        self.cached_check.setToolTip("Exact faster path: the row cache (PixelCNN family) or Fast WaveNet's queues")
        self.new_button = QPushButton("New run")
        self.new_button.setToolTip("Start a fresh generation with these settings (stops the current one)")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("Draw the next position(s)")
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, SPEED_STEPS)
        self.speed_slider.setValue(SPEED_STEPS // 2)
        self.speed_slider.setToolTip("Steps per second while playing (rightmost: as fast as the model goes)")
        self.speed_label = QLabel("")
        self.speed_label.setMinimumWidth(90)
        self.export_button = QPushButton("Export .wav…")
        self.export_button.setToolTip("Write the generated waveforms as 16-bit PCM at the model's sample rate")
        self.progress_label = QLabel("press Step or Play")

        self.image_view = PixelGridView(placeholder="Press Step or Play: the samples fill in here in the model's order")
        self.image_view.setMinimumSize(280, 280)
        self.wave_plot = plot_widget("generated waveforms (hover a time to see its distribution)")
        self.wave_plot.setLabel("bottom", "time (samples)")
        self.wave_plot.getPlotItem().hideAxis("left")
        self.wave_curves: list[pg.PlotDataItem] = []
        self.wave_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(220, 90, 40, width=1))
        self.wave_plot.addItem(self.wave_cursor)
        self.dist_plot = plot_widget("distribution of the position under the cursor")
        self.dist_plot.setMouseEnabled(False, False)
        self.dist_bars = pg.BarGraphItem(x=[0], height=[0], width=0.9, brush=pg.mkBrush(70, 130, 200))
        self.dist_plot.addItem(self.dist_bars)
        self.value_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(220, 60, 60, width=2))
        self.dist_plot.addItem(self.value_line)
        self.value_line.hide()
        self.dist_label = QLabel("hover a pixel of the samples")
        self.dist_label.setWordWrap(True)

        controls = QHBoxLayout()
        for w in (QLabel("n"), self.n_spin, QLabel("seed"), self.seed_spin, self.class_label, self.class_combo,
                  self.unit_label, self.unit_combo, self.chunk_label, self.chunk_spin, self.channel_label, self.channel_combo,
                  self.cached_check):
            controls.addWidget(w)
        controls.addStretch(1)
        play = QHBoxLayout()
        for w in (self.new_button, self.play_button, self.step_button):
            play.addWidget(w)
        play.addWidget(QLabel("speed"))
        play.addWidget(self.speed_slider, 1)
        play.addWidget(self.speed_label)
        play.addWidget(self.export_button)
        left = QWidget()
        left_lay = QVBoxLayout(left)
        left_lay.setContentsMargins(0, 0, 0, 0)
        left_lay.addWidget(self.image_view, 1)
        left_lay.addWidget(self.wave_plot, 1)
        right = QWidget()
        right_lay = QVBoxLayout(right)
        right_lay.setContentsMargins(0, 0, 0, 0)
        right_lay.addWidget(self.dist_plot, 1)
        right_lay.addWidget(self.dist_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addLayout(play)
        lay.addWidget(self.progress_label)
        lay.addWidget(split, 1)

        self.new_button.clicked.connect(self.new_run)
        self.step_button.clicked.connect(self.step)
        self.play_button.toggled.connect(self._on_play)
        self.speed_slider.valueChanged.connect(self._speed_changed)
        self.export_button.clicked.connect(self._export_dialog)
        self.image_view.hovered.connect(lambda k, i, j: self.show_distribution(k, i, j, self.channel()))
        self.image_view.clicked.connect(lambda k, i, j: self.show_distribution(k, i, j, self.channel()))
        self.channel_combo.currentIndexChanged.connect(self._channel_changed)
        self.wave_proxy = pg.SignalProxy(self.wave_plot.scene().sigMouseMoved, rateLimit=30, slot=self._wave_moved)
        for w in (self.n_spin, self.seed_spin, self.chunk_spin):
            w.valueChanged.connect(lambda _v: self.reset())
        for w in (self.class_combo, self.unit_combo):
            w.currentIndexChanged.connect(lambda _i: self.reset())
        self.cached_check.toggled.connect(lambda _c: self.reset())
        self._speed_changed(self.speed_slider.value())
        self.setEnabled(False)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        self.audio = ar.is_audio(model)
        self.image_view.setVisible(not self.audio)
        self.wave_plot.setVisible(self.audio)
        self.export_button.setVisible(self.audio)
        for w in (self.unit_label, self.unit_combo):
            w.setVisible(not self.audio)
        for w in (self.chunk_label, self.chunk_spin):
            w.setVisible(self.audio)
        self.cached_check.setVisible(ar.has_cache(model))
        for w in (self.channel_label, self.channel_combo):
            w.setVisible(not self.audio and model.colours == 3)
        conditional = _conditional(model)
        for w in (self.class_label, self.class_combo):
            w.setVisible(conditional)
        widgets = (self.n_spin, self.chunk_spin, self.class_combo, self.unit_combo)
        for w in widgets:
            w.blockSignals(True)
        if first:
            self.n_spin.setValue(4 if self.audio else 16)
            self.chunk_spin.setValue(max(1, getattr(model, "length", 1) // 128))
        self.unit_combo.clear()
        self.unit_combo.addItem("pixel", "pixel")
        if not self.audio and ar.is_raster(model):
            self.unit_combo.addItem("row", "row")
        self.unit_combo.setCurrentIndex(max(0, self.unit_combo.findData(ar.default_unit(model))))
        self.class_combo.clear()
        if conditional:
            names = model.data_info.class_names
            self.class_combo.addItem("one class per sample", "cycle")
            self.class_combo.addItem("unconditional", "none")
            for k in range(model.num_classes):
                self.class_combo.addItem(f"{k}: {names[k]}" if k < len(names) else str(k), k)
        for w in widgets:
            w.blockSignals(False)
        self.setEnabled(True)
        if first or self.frame is None:
            self.reset()
        # A reloaded checkpoint leaves the run on screen (it keeps the weights it started with);
        # the next New run, and the distributions under the cursor, use the new weights.

    def labels(self) -> torch.Tensor | None:
        """The labels the run samples with (None: unconditional)."""
        if self.model is None or not _conditional(self.model):
            return None
        choice = self.class_combo.currentData()
        n = self.n_spin.value()
        if choice == "none" or choice is None:
            return None
        if choice == "cycle":
            return torch.arange(n) % self.model.num_classes
        return torch.full((n,), int(choice), dtype=torch.long)

    # -- running --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current run (stopping its thread); the next Step or Play starts a fresh one."""
        self._stop_task()
        self.frame = None
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.setText("Play")
        self.play_button.blockSignals(False)
        if self.model is None:
            return
        self.stepper = None
        self._show_blank()

    def new_run(self) -> None:
        self.reset()
        self._ensure_task()

    def _make_stepper(self) -> ar.GenerationStepper:
        unit = "pixel" if self.audio else (self.unit_combo.currentData() or "pixel")
        chunk = self.chunk_spin.value() if self.audio else 1
        return ar.GenerationStepper(self.model, self.n_spin.value(), self.seed_spin.value(), unit=unit, chunk=chunk,
                                    labels=self.labels(), cached=self.cached_check.isChecked() or not ar.has_cache(self.model))

    def _ensure_task(self) -> GenerationWorker | None:
        if self.model is None:
            return None
        if self.task is not None and not self.task.finished:
            return self.task
        if self.task is not None and self.task.finished:
            return None  # finished: New run starts again
        self._ticket += 1
        self.stepper = self._make_stepper()
        self.task = GenerationWorker(self._ticket, self.stepper, self._signals)
        self.progress_label.setText(f"0 of {self.stepper.total} steps · next: {self._describe(self.stepper.next_positions())}")
        self.task.start()
        return self.task

    def step(self) -> None:
        task = self._ensure_task()
        if task is None:
            self.progress_label.setText("the run is finished: New run starts another")
            return
        if self.play_button.isChecked():
            self.play_button.setChecked(False)
        task.request(1)

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        task = self._ensure_task() if playing else self.task
        if task is None:
            if playing:
                self.play_button.setChecked(False)
                self.progress_label.setText("the run is finished: New run starts another")
            return
        speed = speed_of(self.speed_slider.value())
        task.set_playing(playing, None if speed is None else 1.0 / speed)

    def _speed_changed(self, value: int) -> None:
        speed = speed_of(value)
        self.speed_label.setText("max steps/s" if speed is None else f"{speed:.3g} steps/s")
        if self.task is not None and self.play_button.isChecked():
            self.task.set_playing(True, None if speed is None else 1.0 / speed)

    def _stop_task(self, wait_s: float = 0.0) -> None:
        if self.task is not None:
            self.task.stop(wait_s)
            self.task = None
            self._ticket += 1  # frames the stopped task still sends are dropped

    def busy(self) -> bool:
        return self.task is not None and not self.task.finished

    def shutdown(self) -> None:
        self._stop_task(wait_s=5.0)

    # -- frames -----------------------------------------------------------------------------------
    def _describe(self, positions: list) -> str:
        if not positions:
            return "—"
        if self.audio:
            ts = [p[2] for p in positions]
            return f"t = {ts[0]}" if len(ts) == 1 else f"t = {ts[0]}..{ts[-1]}"
        names = "RGB" if self.model.colours == 3 else ""
        first = positions[0]
        if len(positions) > self.model.colours:
            return f"row {first[1]}"
        chans = "".join(names[c] for c, _, _ in positions) if names else ""
        return f"pixel ({first[1]}, {first[2]})" + (f" {chans}" if chans else "")

    def _show_blank(self) -> None:
        m = self.model
        if self.audio:
            self._set_waves(torch.zeros(self.n_spin.value(), 1, m.length), 0)
        else:
            drawn = torch.zeros(m.colours, m.height, m.width, dtype=torch.bool)
            self._set_images(torch.zeros(self.n_spin.value(), m.colours, m.height, m.width), drawn, [])
        self.progress_label.setText("press Step or Play")

    def _ncols(self, n: int) -> int:
        """Columns of the sample grid: wider than tall, as the view is (10 samples: 5 x 2)."""
        rows = max(1, round(math.sqrt(n / 1.6)))
        return max(1, math.ceil(n / rows))

    def _set_images(self, data: torch.Tensor, drawn: torch.Tensor, positions: list) -> None:
        pictures = ar.generation_picture(data, drawn)
        self.image_view.set_grid(pictures, self._ncols(len(pictures)))
        outlines = []
        if positions:
            rows = {i for _, i, _ in positions}
            cols = [j for _, _, j in positions]
            i0, j0 = min(rows), min(cols)
            for k in range(len(pictures)):
                outlines.append((k, i0, j0, max(rows) - i0 + 1, max(cols) - j0 + 1, QColor(240, 70, 60)))
        self.image_view.set_outlines(outlines)

    def _set_waves(self, data: torch.Tensor, upto: int) -> None:
        a = data[:, 0].numpy()
        n = len(a)
        while len(self.wave_curves) < n:
            curve = self.wave_plot.plot(pen=pg.mkPen(pg.intColor(len(self.wave_curves), hues=8), width=1))
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.wave_curves.append(curve)
        for k, curve in enumerate(self.wave_curves):
            if k < n:
                curve.setData(np.arange(upto), a[k, :upto] - 2.2 * k)
                curve.show()
            else:
                curve.hide()
        self.wave_plot.setXRange(0, self.model.length, padding=0.01)
        self.wave_plot.setYRange(-2.2 * (n - 1) - 1.1, 1.1, padding=0.02)

    def _on_frame(self, ticket: int, frame: Frame) -> None:
        if ticket != self._ticket:
            return
        self.frame = frame
        if self.audio:
            upto = int(frame.drawn[0].sum())
            self._set_waves(frame.data, upto)
        else:
            self._set_images(frame.data, frame.drawn, frame.positions)
        state = "finished" if frame.finished else f"next: {self._describe(self.stepper.next_positions())}"
        self.progress_label.setText(f"{frame.index} of {frame.total} steps · drew {self._describe(frame.positions)} · {state}")
        if frame.finished:
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.setText("Play")
            self.play_button.blockSignals(False)
        if self.hover is not None:
            self.show_distribution(*self.hover, self.channel())
        self.frame_shown.emit()

    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket != self._ticket:
            return
        self.task = None
        self.play_button.setChecked(False)
        self.progress_label.setText(message.splitlines()[0])

    def _channel_changed(self, _index: int) -> None:
        if self.hover is not None:
            self.show_distribution(*self.hover, self.channel())

    def channel(self) -> int:
        return self.channel_combo.currentIndex() if self.model is not None and not self.audio and self.model.colours == 3 else 0

    def current_data(self) -> torch.Tensor | None:
        return None if self.frame is None else self.frame.data

    # -- the distribution under the cursor ------------------------------------------------------------
    def show_distribution(self, k: int, i: int, j: int, c: int = 0) -> np.ndarray | None:
        """Plot p(position | positions before it) for sample ``k`` of the current run (audio: i = 0, j = t)."""
        if self.model is None or self.frame is None or k >= len(self.frame.data):
            return None
        self.hover = (k, i, j)
        x = self.frame.data[k : k + 1]
        labels = self.labels()
        lab = None if labels is None else labels[k : k + 1]
        if self.audio:
            probs = ar.position_distribution(self.model, x, 0, 0, j)
        else:
            probs = ar.position_distribution(self.model, x, c, i, j, lab)
        self.distribution = probs
        drawn = bool(self.frame.drawn[0, j]) if self.audio else bool(self.frame.drawn[c, i, j])
        if len(probs) == 2:
            self.dist_bars.setOpts(x=np.array([0, 1]), height=probs, width=0.6)
            self.dist_plot.getAxis("bottom").setTicks([[(0, "0 (black)"), (1, "1 (white)")]])
            self.dist_plot.setXRange(-0.6, 1.6, padding=0)
            self.dist_plot.setYRange(0, 1.05, padding=0)
        else:
            self.dist_bars.setOpts(x=np.arange(256), height=probs, width=1.0)
            self.dist_plot.getAxis("bottom").setTicks(None)
            self.dist_plot.setXRange(-1, 256, padding=0)
            self.dist_plot.setYRange(0, float(probs.max()) * 1.1 + 1e-6, padding=0)
        value = None
        if drawn:
            if self.audio:
                from genstudio.models.autoregressive.wavenet import mu_law_encode

                value = int(mu_law_encode(x[:, :, j : j + 1])[0, 0])
            elif self.model.output_kind == "bernoulli":
                value = int(float(x[0, c, i, j]) > 0.5)
            else:
                value = int(round(float(x[0, c, i, j]) * 255))
            self.value_line.setValue(value)
            self.value_line.show()
        else:
            self.value_line.hide()
        if self.audio:
            where = f"sample {k}, t = {j}, given the {j} samples before it (mu-law levels 0..255)"
        else:
            ch = f", channel {'RGB'[c]}" if self.model.colours == 3 else ""
            where = f"sample {k}, pixel ({i}, {j}){ch}, given the pixels before it"
        mean = float((np.arange(len(probs)) * probs).sum())
        text = f"{where} · sum {probs.sum():.4f} · mean {mean:.3g}"
        text += f" · drawn: {value} (red line)" if value is not None else " · not drawn yet"
        self.dist_label.setText(text)
        self.dist_plot.setTitle(f"p(x | before) at {'t = ' + str(j) if self.audio else f'({i}, {j})'}")
        return probs

    def _wave_moved(self, args: tuple) -> None:
        if self.model is None or not self.audio or self.frame is None:
            return
        vb = self.wave_plot.getPlotItem().vb
        pos = vb.mapSceneToView(args[0])
        t = int(round(pos.x()))
        k = int(round(-pos.y() / 2.2))
        if 0 <= t < self.model.length and 0 <= k < len(self.frame.data):
            self.wave_cursor.setValue(t)
            self.show_distribution(k, 0, t)

    # -- audio export -------------------------------------------------------------------------------
    def export_wav(self, path: str | Path) -> Path:
        """Write the generated waveforms (drawn part; all of them one after another) as 16-bit PCM."""
        if self.frame is None or not self.audio:
            raise ValueError("generate a waveform first")
        upto = int(self.frame.drawn[0].sum())
        if upto == 0:
            raise ValueError("nothing generated yet: press Step or Play")
        from genstudio.data.audio import write_wav

        return write_wav(path, self.frame.data[:, 0, :upto], int(self.model.data_info.sample_rate) or 8000)

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export generated audio", "wavenet.wav", "WAV audio (*.wav)")
        if path:
            try:
                out = self.export_wav(path)
            except (ValueError, OSError) as e:
                self.progress_label.setText(f"could not export: {e}")
            else:
                self.progress_label.setText(f"wrote {out}")


# -- the receptive field tab ---------------------------------------------------------------------------


class ReceptiveFieldTab(QWidget):
    """Gradient receptive field of one output position, from the live weights."""

    computed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.rf: ar.ReceptiveField | None = None
        self.target: tuple[int, int, int] = (0, 0, 0)
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(lambda _t, exc, _tb: self.summary.setText(f"failed: {exc}"))
        self._ticket = 0

        self.mode_combo = QComboBox()
        self.mode_combo.addItem("gradient magnitude", "gradient")
        self.mode_combo.addItem("binary dependency", "binary")
        self.mode_combo.setToolTip("Heat of log |gradient|, or just which pixels the output depends on")
        self.trials_spin = QSpinBox()
        self.trials_spin.setRange(1, 16)
        self.trials_spin.setValue(3)
        self.trials_spin.setToolTip("Random inputs the gradient is summed over (a path dead on one input shows on another)")
        self.channel_combo = QComboBox()
        self.channel_label = QLabel("channel")
        self.example_spin = QSpinBox()
        self.example_spin.setToolTip("Validation example shown under the map (and used as the first input)")
        self.t_spin = QSpinBox()
        self.t_label = QLabel("output t")
        self.picker = PixelGridView(placeholder="the example: click a pixel to choose the output")
        self.picker.setMinimumSize(200, 200)
        self.map_view = ImageView(placeholder="receptive field")
        self.map_view.setMinimumSize(260, 260)
        self.legend = QLabel(
            "green: the output · heat / white: earlier pixels it depends on · <b>blue: earlier pixels it cannot see "
            "within reach (blind spot)</b> · red: later pixels that leak in (never, in a causal model) · dim: later pixels, "
            "and earlier ones beyond the kernels' reach"
        )
        self.legend.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.stack_plot = plot_widget("WaveNet dilation stack: the samples that reach output t (orange)")
        self.stack_plot.setLabel("bottom", "samples before t")
        self.stack_plot.setMouseEnabled(True, False)
        self.grad_plot = plot_widget("|d logits(t) / d x| from the live model (log10), and the receptive field")
        self.grad_plot.setLabel("bottom", "time (samples)")
        self.grad_curve = self.grad_plot.plot(pen=pg.mkPen(40, 110, 200, width=1.5))
        self.rf_region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(245, 150, 50, 50))
        self.grad_plot.addItem(self.rf_region)

        self.mode_label = QLabel("view")
        self.example_label = QLabel("example")
        controls = _row(self.mode_label, self.mode_combo, "inputs", self.trials_spin, self.channel_label, self.channel_combo,
                        self.example_label, self.example_spin, self.t_label, self.t_spin)
        self.images = QWidget()
        grid = QGridLayout(self.images)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(titled("pick the output pixel", self.picker, wrap=True), 0, 0)
        grid.addWidget(titled("its receptive field (gradients of the current weights)", self.map_view, wrap=True), 0, 1)
        grid.setColumnStretch(1, 2)
        self.audio_box = QWidget()
        audio_lay = QVBoxLayout(self.audio_box)
        audio_lay.setContentsMargins(0, 0, 0, 0)
        audio_lay.addWidget(self.stack_plot, 3)
        audio_lay.addWidget(self.grad_plot, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.images, 1)
        lay.addWidget(self.audio_box, 1)
        lay.addWidget(self.legend)
        lay.addWidget(self.summary)

        self.picker.clicked.connect(lambda _k, i, j: self.set_target(self.channel_combo.currentIndex(), i, j))
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._draw())
        self.trials_spin.valueChanged.connect(lambda _v: self.compute())
        self.channel_combo.currentIndexChanged.connect(lambda c: self.set_target(max(0, c), self.target[1], self.target[2]))
        self.example_spin.valueChanged.connect(lambda _v: self._example_changed())
        self.t_spin.valueChanged.connect(lambda t: self.set_target(0, 0, t))
        self.setEnabled(False)

    def set_model(self, model: Any, examples: torch.Tensor) -> None:
        first = self.model is None
        self.model, self.examples = model, examples
        self.audio = ar.is_audio(model)
        self.images.setVisible(not self.audio)
        self.audio_box.setVisible(self.audio)
        self.legend.setVisible(not self.audio)
        for w in (self.channel_label, self.channel_combo):
            w.setVisible(not self.audio and model.colours > 1)
        for w in (self.t_label, self.t_spin):
            w.setVisible(self.audio)
        for w in (self.mode_label, self.mode_combo, self.example_label, self.example_spin):
            w.setVisible(not self.audio)
        self.example_spin.blockSignals(True)
        self.example_spin.setRange(0, max(0, len(examples) - 1))
        self.example_spin.blockSignals(False)
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        if not self.audio:
            self.channel_combo.addItems(["R", "G", "B"][: model.colours] if model.colours == 3 else [str(c) for c in range(model.colours)])
        self.channel_combo.blockSignals(False)
        self.setEnabled(True)
        if self.audio:
            self.t_spin.blockSignals(True)
            self.t_spin.setRange(0, model.length - 1)
            if first:
                self.t_spin.setValue(min(model.length - 1, model.receptive_field + 64))
            self.t_spin.blockSignals(False)
            self._draw_stack()
            target = (0, 0, self.t_spin.value())
        else:
            target = (0, (2 * model.height) // 3, model.width // 2) if first else self.target
        self._example_changed(compute=False)
        self.set_target(*target)

    def _example_changed(self, compute: bool = True) -> None:
        if self.model is None or self.audio or self.examples is None:
            return
        x = self.examples[self.example_spin.value()][None]
        drawn = torch.ones(x.shape[1:], dtype=torch.bool)
        self.picker.set_grid(ar.generation_picture(x, drawn), 1)
        self._outline()
        if compute:
            self.compute()

    def _outline(self) -> None:
        _, i, j = self.target
        self.picker.set_outlines([(0, i, j, 1, 1, QColor(40, 200, 60))])

    def set_target(self, c: int, i: int, j: int) -> None:
        self.target = (c, i, j)
        self._outline()
        self.compute()

    def compute(self) -> None:
        if self.model is None:
            return
        model, (c, i, j), trials = self.model, self.target, self.trials_spin.value()
        inp = None
        if not self.audio and self.examples is not None and len(self.examples):
            x = self.examples[self.example_spin.value()][None]
            inp = model.net_input(model.targets(x))
        self.summary.setText("computing gradients…")
        self._ticket = self.call.start(lambda: ar.receptive_field(model, c, i, j, trials=trials, inp=inp))

    def _on_done(self, ticket: int, rf: ar.ReceptiveField) -> None:
        if ticket != self._ticket:
            return
        self.rf = rf
        self._draw()
        self.computed.emit()

    def _draw(self) -> None:
        rf = self.rf
        if rf is None or self.model is None:
            return
        text = rf.summary() + f" · summed over {rf.trials} input(s)"
        if self.audio:
            t = rf.target[2]
            g = rf.gradient[: t + 1]
            with np.errstate(divide="ignore"):
                lg = np.where(g > 0, np.log10(np.maximum(g, 1e-30)), np.nan)
            self.grad_curve.setData(np.arange(len(lg)), lg, connect="finite")
            self.rf_region.setRegion((max(0, t - self.model.receptive_field), t))
            self.grad_plot.setXRange(max(0, t - self.model.receptive_field - 32), t + 8, padding=0)
            text += f" · theory: the {self.model.receptive_field} samples before t"
        else:
            base = None
            if self.examples is not None and len(self.examples):
                base = self.examples[self.example_spin.value(), 0].numpy()
            self.map_view.set_array(ar.receptive_field_picture(rf, base, self.mode_combo.currentData()))
        self.summary.setText(text)

    def _draw_stack(self) -> None:
        m = self.model
        reach = ar.dilation_reach(list(m.dilations))
        span = max(reach[0]) + 8
        plot = self.stack_plot
        plot.clear()
        levels = len(reach)
        xs = np.arange(span + 1)
        grey = pg.mkBrush(150, 150, 150, 120)
        for lvl in range(levels):
            plot.addItem(pg.ScatterPlotItem(x=-xs, y=np.full(len(xs), lvl), size=3, pen=None, brush=grey))
        seg_x, seg_y = [], []
        for lvl in range(1, levels):
            for o in reach[lvl]:
                # level 1 is the first (shifted) convolution: taps 1 and 2 back; level l >= 2 is dilated layer l - 1
                taps = [o + 1, o + 2] if lvl == 1 else [o, o + m.dilations[lvl - 2]]
                for src in taps:
                    if src in reach[lvl - 1]:
                        seg_x += [-src, -o]
                        seg_y += [lvl - 1, lvl]
        plot.addItem(pg.PlotDataItem(np.array(seg_x, float), np.array(seg_y, float), connect="pairs", pen=pg.mkPen(245, 150, 50, 110, width=1)))
        for lvl, offs in enumerate(reach):
            o = np.array(offs, float)
            plot.addItem(pg.ScatterPlotItem(x=-o, y=np.full(len(o), lvl), size=5, pen=None, brush=pg.mkBrush(230, 120, 30)))
        names = ["input x", "causal conv"] + [f"d={d}" for d in m.dilations]  # the last layer's output is t's
        ticks = [(k, names[k]) for k in range(levels)]
        plot.getAxis("left").setTicks([ticks if levels <= 20 else ticks[::2]])
        plot.setXRange(-span, 1, padding=0.01)
        plot.setYRange(-0.5, levels - 0.5, padding=0)
        plot.setTitle(f"WaveNet dilation stack: output t sees the {len(reach[0])} samples before it (orange); "
                      f"receptive field = 2 + sum of dilations = {m.receptive_field}")


# -- the completion tab -----------------------------------------------------------------------------------


class CompletionTab(QWidget):
    """Hide part of validation images and let the model fill it, several times."""

    completed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.rect: tuple[int, int, int, int] | None = None
        self.result: torch.Tensor | None = None
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(self._on_failed)
        self._ticket = 0
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(ar.MASK_PRESETS))
        self.preset_combo.setToolTip("Which part to hide; or drag a rectangle over the first example")
        self.first_spin = QSpinBox()
        self.first_spin.setToolTip("First validation example")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 8)
        self.count_spin.setValue(4)
        self.count_spin.setToolTip("Examples to complete")
        self.per_spin = QSpinBox()
        self.per_spin.setRange(1, 8)
        self.per_spin.setValue(4)
        self.per_spin.setToolTip("Completions drawn for each example")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.run_button = QPushButton("Complete")
        self.editor = PixelGridView(placeholder="the masked examples: drag a rectangle to hide it")
        self.editor.setMinimumSize(160, 160)
        self.result_view = ImageView(placeholder="Press Complete: originals, masked inputs and completions appear here")
        self.message = QLabel("columns: original · masked (blue: hidden) · completions. Known pixels are kept exactly.")
        self.message.setWordWrap(True)
        controls = _row("hide", self.preset_combo, "examples from", self.first_spin, "count", self.count_spin,
                        "completions each", self.per_spin, "seed", self.seed_spin, self.run_button)
        views = QHBoxLayout()
        views.addWidget(titled("masked input (drag to draw a rectangle)", self.editor, wrap=True), 1)
        views.addWidget(titled("original · masked · completions", self.result_view, wrap=True), 3)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addLayout(views, 1)
        lay.addWidget(self.message)
        self.run_button.clicked.connect(self.run)
        self.editor.dragged.connect(self._dragged)
        for w in (self.first_spin, self.count_spin):
            w.valueChanged.connect(lambda _v: self._draw_editor())
        self.preset_combo.currentIndexChanged.connect(lambda _i: self._draw_editor())
        self.setEnabled(False)

    def set_model(self, model: Any, examples: torch.Tensor) -> None:
        self.model, self.examples = model, examples
        self.first_spin.setRange(0, max(0, len(examples) - 1))
        self.setEnabled(True)
        self._draw_editor()

    def mask(self) -> torch.Tensor:
        m = self.model
        return ar.completion_mask(self.preset_combo.currentText(), m.height, m.width, self.rect)

    def _batch(self) -> torch.Tensor:
        a = self.first_spin.value()
        return self.examples[a : a + self.count_spin.value()]

    def _draw_editor(self) -> None:
        if self.model is None or self.examples is None:
            return
        try:
            mask = self.mask()
        except ValueError as e:
            self.message.setText(str(e))
            return
        x = self._batch()
        self.editor.set_grid(ar.masked_picture(x, mask), 1 if len(x) == 1 else 2)

    def _dragged(self, _k: int, top: int, left: int, bottom: int, right: int) -> None:
        self.rect = (top, left, bottom, right)
        self.preset_combo.setCurrentText("rectangle")
        self._draw_editor()

    def run(self) -> None:
        if self.model is None or self.examples is None:
            return
        try:
            mask = self.mask()
        except ValueError as e:
            self.message.setText(str(e))
            return
        model, x, per, seed = self.model, self._batch(), self.per_spin.value(), self.seed_spin.value()
        self.run_button.setEnabled(False)
        hidden = int((mask == 0).sum())
        self.message.setText(f"completing {len(x)} examples x {per}: {hidden} hidden pixels each, drawn in the model's order…")
        self._pending = (x, mask, per)
        self._ticket = self.call.start(lambda: ar.complete_examples(model, x, mask, per, seed))

    def _on_failed(self, ticket: int, exc: object, tb: str) -> None:
        if ticket != self._ticket:
            return
        self.run_button.setEnabled(True)
        self.message.setText(f"completion failed: {exc}")

    def _on_done(self, ticket: int, out: torch.Tensor) -> None:
        if ticket != self._ticket:
            return
        self.run_button.setEnabled(True)
        x, mask, per = self._pending
        self.result = out
        ones = torch.ones(x.shape[1:], dtype=torch.bool)
        rows = []
        for k in range(len(x)):
            rows.append(ar.generation_picture(x[k : k + 1], ones))
            rows.append(ar.masked_picture(x[k : k + 1], mask))
            rows.append(ar.generation_picture(out[k * per : (k + 1) * per], ones))
        pictures = np.concatenate(rows)
        self.result_view.set_array(tile_grid(pictures.transpose(0, 3, 1, 2), per + 2, pad=1, pad_value=128))
        self.message.setText(f"{len(x)} examples · columns: original, masked (blue: hidden), {per} completions "
                             f"(seed {self.seed_spin.value()}). Known pixels are kept exactly.")
        self.completed.emit()


# -- MADE's masks -------------------------------------------------------------------------------------------


class MadeMasksTab(QWidget):
    """The per-layer masks and their product, the autoregressive triangle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.connectivity: ar.MADEConnectivity | None = None
        self.set_combo = QComboBox()
        self.set_combo.setToolTip("Mask set (connectivity-agnostic training cycles through several)")
        self.layers_box = QWidget()
        self.layers_lay = QHBoxLayout(self.layers_box)
        self.layers_lay.setContentsMargins(0, 0, 0, 0)
        self.product_view = ImageView(placeholder="product")
        self.order_view = ImageView(placeholder="order")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(titled("paths input → output, rows and columns in generation order (log scale; "
                                 "nonzero only below the diagonal)", self.product_view, wrap=True), 2)
        bottom.addWidget(titled("generation order of the pixels (dark: first)", self.order_view, wrap=True), 1)
        lay = QVBoxLayout(self)
        lay.addLayout(_row("mask set", self.set_combo))
        lay.addWidget(QLabel("Each layer's mask (white: weight kept), out x in, input layer first; units sorted by degree, "
                             "inputs and outputs in generation order:"))
        lay.addWidget(self.layers_box, 2)
        lay.addLayout(bottom, 3)
        lay.addWidget(self.summary)
        self.set_combo.currentIndexChanged.connect(lambda _i: self.draw())

    def set_model(self, model: Any) -> None:
        self.model = model
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for s in range(model.config.num_masks):
            self.set_combo.addItem(str(s), s)
        self.set_combo.blockSignals(False)
        self.draw()

    def draw(self) -> None:
        if self.model is None:
            return
        conn = ar.made_connectivity(self.model, max(0, self.set_combo.currentIndex()), sort_units=True)
        self.connectivity = conn
        while self.layers_lay.count():
            item = self.layers_lay.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for name, m in zip(conn.names, conn.layer_masks):
            view = ImageView(placeholder=name)
            view.setMinimumSize(100, 100)
            view.set_array(ar.mask_picture(m))
            self.layers_lay.addWidget(titled(name, view, wrap=True))
        self.product_view.set_array(ar.mask_picture(conn.in_order()))
        self.order_view.set_array(ar.order_picture(self.model))
        d = conn.paths.shape[0]
        reach = (conn.paths > 0).sum(1)
        ok = "strictly lower-triangular: every output sees only earlier inputs" if conn.is_autoregressive() else "NOT autoregressive: some output sees itself or a later input"
        self.summary.setText(f"{d} outputs · product {ok} · connected input→output pairs: {int((conn.paths > 0).sum())} "
                             f"of the {d * (d - 1) // 2} allowed · output with most inputs sees {int(reach.max())}")


# -- the panel ------------------------------------------------------------------------------------------------


class AutoregressivePanel(ReloadOnCheckpoint, QWidget):
    """The Autoregressive tab."""

    model_loaded = Signal()
    speed_measured = Signal()

    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model: Any = None
        self.loaded: Loaded | None = None
        self.speed: dict[str, float] = {}
        self._closed = False
        self.status = QLabel("loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.speed_button = QPushButton("Measure speed")
        self.speed_button.setToolTip("Time generation for about a second, with and without the model's cache")
        self.reload_button = QPushButton("Reload checkpoint")
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.speed_button)
        top.addWidget(self.reload_button)
        self.generation = GenerationTab()
        self.receptive = ReceptiveFieldTab()
        self.completion = CompletionTab()
        self.made = MadeMasksTab()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.generation, "Generation")
        self.tabs.addTab(self.receptive, "Receptive field")
        self.tabs.addTab(self.completion, "Completion")
        self.tabs.addTab(self.made, "MADE masks")
        self.tabs.setTabVisible(self.tabs.indexOf(self.made), False)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addWidget(self.tabs, 1)
        self.loader = CheckpointLoader(self, "the panel")
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(lambda text, _tb: self.status.setText(text))
        self.loader.busy.connect(lambda busy: self.reload_button.setEnabled(not busy))
        self.speed_call = BackgroundCall(self)
        self.speed_call.done.connect(self._on_speed)
        self.speed_call.failed.connect(lambda _t, exc, _tb: self._speed_failed(exc))
        self._speed_ticket = 0
        self.speed_button.clicked.connect(self.measure_speed)
        self.reload_button.clicked.connect(self.reload)
        self.speed_button.setEnabled(False)
        self.reload()

    def reload(self) -> None:
        if self._closed:
            return
        if self.ctx.run_dir is None:
            self.status.setText("no run folder: train or open a run to look inside its autoregressive model")
            return
        run_dir = Path(self.ctx.run_dir)
        self.loader.load(lambda: load_for_inspection(run_dir))

    def _on_loaded(self, loaded: Loaded) -> None:
        self.loaded = loaded
        model = loaded.model
        self.model = model
        self.speed = {}
        audio = ar.is_audio(model)
        self.generation.set_model(model)
        self.receptive.set_model(model, loaded.examples)
        self.tabs.setTabText(self.tabs.indexOf(self.receptive), "Dilation stack" if audio else "Receptive field")
        self.tabs.setTabVisible(self.tabs.indexOf(self.completion), not audio)
        if not audio:
            self.completion.set_model(model, loaded.examples)
        is_made = hasattr(model, "masks") and hasattr(model, "degrees")
        self.tabs.setTabVisible(self.tabs.indexOf(self.made), is_made)
        if is_made:
            self.made.set_model(model)
        self.speed_button.setEnabled(True)
        note = f" · {loaded.note}" if loaded.note else ""
        self.status.setText(f"{type(model).__name__} at checkpoint step {loaded.step}{note}")
        self._update_info()
        self.model_loaded.emit()

    def _update_info(self) -> None:
        model, loaded = self.model, self.loaded
        if model is None or loaded is None:
            return
        audio = ar.is_audio(model)
        parts = [f"order: {ar.describe_order(model)}"]
        if loaded.nll is not None:
            unit = "bits/sample" if audio else "bits/dim"
            what = "8-bit mu-law clips" if audio else ("binarised images" if getattr(model, "output_kind", "") == "bernoulli" else "8-bit images")
            per = "clip" if audio else "example"
            parts.append(f"NLL (exact) {loaded.nll['nll']:.2f} nats/{per} = {loaded.nll['bpd']:.4f} {unit} "
                         f"on {int(loaded.nll['n'])} validation examples ({what})")
        pos = "samples" if audio else "positions"
        if self.speed:
            text = f"sampling: {self.speed['cached']:.0f} {pos}/s"
            if "naive" in self.speed:
                text += (f" with the cache, {self.speed['naive']:.0f} {pos}/s without "
                         f"({self.speed['cached'] / max(self.speed['naive'], 1e-9):.1f}x)")
            parts.append(text + " (one sample, this machine, now)")
        else:
            parts.append("sampling speed: press Measure speed")
        self.info.setText("  ·  ".join(parts))

    def measure_speed(self) -> None:
        if self.model is None:
            return
        model = self.model
        cache = ar.has_cache(model)

        def work() -> dict[str, float]:
            out = {"cached": ar.sampling_speed(model, cached=True, budget_s=1.0)[0]}
            if cache:
                out["naive"] = ar.sampling_speed(model, cached=False, budget_s=1.0)[0]
            return out

        self.speed_button.setEnabled(False)
        self.info.setText(self.info.text().replace("sampling speed: press Measure speed", "sampling speed: measuring…"))
        self._speed_ticket = self.speed_call.start(work)

    def _on_speed(self, ticket: int, speed: dict) -> None:
        if ticket != self._speed_ticket or self._closed:
            return
        self.speed_button.setEnabled(True)
        self.speed = speed
        self._update_info()
        self.speed_measured.emit()

    def _speed_failed(self, exc: object) -> None:
        self.speed_button.setEnabled(True)
        self.info.setText(f"speed measurement failed: {exc}")

    # -- panel protocol ------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
        self.generation.shutdown()


def make_panel(ctx: PanelContext) -> AutoregressivePanel:
    return AutoregressivePanel(ctx)


register_panel("Autoregressive", "Autoregressive", make_panel)
