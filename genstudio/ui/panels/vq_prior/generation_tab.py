"""The generation tab: the code grid is drawn position by position (step, play, speed), with the VQ-VAE's
decode of the grid so far beside it and the distribution over the K codes the last position was drawn from.

The drawing runs on its own thread through the autoregressive panel's :class:`GenerationWorker` (a paused
run waits as long as the user likes without holding a pool thread); decoding happens there too, so the UI
thread only paints.

Like the Autoregressive panel's Generation tab, it plays by itself the first time it is on screen with a
model, so the grids fill in instead of waiting grey for Step or Play."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget

from ...images import tile_grid
from ...widgets import ImageView, plot_widget, titled
from ..autoregressive.generation_worker import Frame, GenerationWorker
from ..autoregressive.playback import StepPlayback, class_labels
from ..autoregressive_math import SPEED_STEPS
from ..controls import tool_row
from ..jobs import PanelJob
from .pictures import CELL, code_captions, code_colours, code_grid_picture

#: Pixels between the code grids of several samples in one picture.
GAP = 4


@dataclass
class CodeFrame:
    """What one step shows: the code maps so far, their decodes, and the last draw's distribution."""

    codes: np.ndarray  # N x h x w
    drawn: np.ndarray  # h x w bool
    decoded: np.ndarray  # N x C x H x W in [0, 1]
    probs: np.ndarray | None  # N x K, None before the first draw
    position: tuple[int, int] | None


class CodeStepper:
    """One generation run of ``model.generate_code_steps``, advanced one position per :meth:`step` (the worker's thread)."""

    def __init__(self, model: Any, n: int, seed: int, labels: torch.Tensor | None, temperature: float):
        self.model = model
        h, w = model.grid
        self.steps = model.generate_code_steps(n, torch.Generator().manual_seed(seed), labels=labels, temperature=temperature)
        self.total = h * w
        self.index = 0
        self.finished = False
        self.drawn = torch.zeros(h, w, dtype=torch.bool)
        self._codes = torch.zeros(n, h, w, dtype=torch.long)
        self._probs: torch.Tensor | None = None
        self._position: tuple[int, int] | None = None

    def step(self) -> list:
        s = next(self.steps)
        self.index, self._codes, self._probs, self._position = s.index, s.codes, s.probs, s.position
        self.drawn = s.drawn.cpu()
        self.finished = s.index >= s.total
        return [s.position]

    def current(self) -> CodeFrame:
        with torch.no_grad():
            decoded = self.model.decode_partial(self._codes, self.drawn).float().cpu().numpy()
        probs = None if self._probs is None else self._probs.float().cpu().numpy()
        return CodeFrame(self._codes.cpu().numpy(), self.drawn.numpy().copy(), decoded, probs, self._position)


def grid_columns(n: int) -> int:
    """Columns of the tiled grids and decodes: as square as the count allows (4 grids: 2 x 2)."""
    return int(np.ceil(np.sqrt(n)))


def grids_picture(codes: np.ndarray, drawn: np.ndarray, num_codes: int, current: tuple[int, int] | None) -> tuple[np.ndarray, list]:
    """The code maps of all samples tiled (:func:`grid_columns` across), and captions numbering their drawn cells."""
    n, h, w = codes.shape
    ncols = grid_columns(n)
    nrows = int(np.ceil(n / ncols))
    cell_h, cell_w = h * CELL, w * CELL
    pic = np.full((nrows * cell_h + (nrows - 1) * GAP, ncols * cell_w + (ncols - 1) * GAP, 3), 20, np.uint8)
    captions: list = []
    for k in range(n):
        r, c = divmod(k, ncols)
        x0, y0 = c * (cell_w + GAP), r * (cell_h + GAP)
        pic[y0 : y0 + cell_h, x0 : x0 + cell_w] = code_grid_picture(codes[k], drawn, num_codes, current)
        if n * h * w <= 200:  # numbers stay readable only on a few small grids
            captions += code_captions(codes[k], drawn, origin=(x0, y0))
    return pic, captions


class GenerationTab(StepPlayback, QWidget):
    """Draw code grids position by position and watch their decodes form."""

    frame_shown = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.task: GenerationWorker | None = None
        self.frame: Frame | None = None
        self._autoplay_pending = False  # set by the first model; spent by the first showing with it
        self.job = PanelJob(self, failure=None)
        self.job.progress.connect(self._on_frame)
        self.job.failed.connect(lambda exc, _tb: self.progress_label.setText(f"generation failed: {exc}"))
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 8)
        self.n_spin.setValue(4)
        self.n_spin.setToolTip("Code grids drawn together")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the uniforms every draw inverts: the same seed draws the same grids")
        self.class_label = QLabel("class")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class label of a class-conditional prior")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.1, 3.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(1.0)
        self.temperature.setToolTip("Divides the logits: below 1 the prior picks its likeliest codes, above 1 it spreads out")
        self.new_button = QPushButton("New run")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.step_button = QPushButton("Step")
        self.step_button.setToolTip("Draw the next code position")
        self.speed_slider = QSlider(Qt.Orientation.Horizontal)
        self.speed_slider.setRange(0, SPEED_STEPS)
        self.speed_slider.setValue(SPEED_STEPS // 3)
        self.speed_label = QLabel("")
        self.speed_label.setMinimumWidth(90)
        self.progress_label = QLabel("press Step or Play")
        self.progress_label.setWordWrap(True)
        self.grid_view = ImageView(placeholder="Press Step or Play: the code grids fill in here, one code per step")
        self.decoded_view = ImageView(placeholder="the VQ-VAE's decode of each grid so far")
        self.prob_plot = plot_widget("p(code | codes before it) at the last position, first grid")
        self.prob_plot.setMouseEnabled(False, False)
        self.prob_plot.setLabel("bottom", "code")
        self.prob_plot.setMinimumHeight(150)
        self.bars: pg.BarGraphItem | None = None

        controls = tool_row("grids", self.n_spin, "seed", self.seed_spin, self.class_label, self.class_combo,
                            "temperature", self.temperature)
        play = QHBoxLayout()
        for w in (self.new_button, self.play_button, self.step_button):
            play.addWidget(w)
        play.addWidget(QLabel("speed"))
        play.addWidget(self.speed_slider, 1)
        play.addWidget(self.speed_label)
        views = QHBoxLayout()
        views.addWidget(titled("code grids (colour and number: the code; grey: not drawn yet; red: just drawn)", self.grid_view, wrap=True), 1)
        views.addWidget(titled("decoded by the frozen VQ-VAE (cells not drawn: the codebook's mean vector)", self.decoded_view, wrap=True), 1)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addLayout(play)
        lay.addWidget(self.progress_label)
        lay.addLayout(views, 3)
        lay.addWidget(self.prob_plot, 1)
        self.new_button.clicked.connect(self.new_run)
        self.step_button.clicked.connect(self.step)
        self.play_button.toggled.connect(self._on_play)
        self.speed_slider.valueChanged.connect(self._speed_changed)
        for w in (self.n_spin, self.seed_spin):
            w.valueChanged.connect(lambda _v: self.reset())
        self.temperature.valueChanged.connect(lambda _v: self.reset())
        self.class_combo.currentIndexChanged.connect(lambda _i: self.reset())
        self._speed_changed(self.speed_slider.value())
        self.setEnabled(False)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        if first:
            self._autoplay_pending = True
        conditional = bool(getattr(model, "conditional", False))
        self.class_label.setVisible(conditional)
        self.class_combo.setVisible(conditional)
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        if conditional:
            names = model.data_info.class_names
            self.class_combo.addItem("one class per grid", "cycle")
            self.class_combo.addItem("unconditional", "none")
            for k in range(model.num_classes):
                self.class_combo.addItem(f"{k}: {names[k]}" if k < len(names) else str(k), k)
        self.class_combo.blockSignals(False)
        self.setEnabled(True)
        if first or self.frame is None:
            self.reset()
        self._autoplay()

    def labels(self) -> torch.Tensor | None:
        if self.model is None or not getattr(self.model, "conditional", False):
            return None
        return class_labels(self.class_combo.currentData(), self.n_spin.value(), self.model.num_classes)

    # -- running --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current run (stopping its thread); the next Step or Play starts a fresh one."""
        self._stop_playing()
        if self.model is None:
            return
        h, w = self.model.grid
        n = self.n_spin.value()
        blank = np.zeros((n, h, w), np.int64)
        pic, _ = grids_picture(blank, np.zeros((h, w), bool), self.model.num_codes, None)
        self.grid_view.set_array(pic)
        self.decoded_view.set_array(None)
        self.prob_plot.clear()
        self.bars = None
        # Before the first draw the axes already span the codes and the probabilities (an empty plot read 0.1..0.9
        # along "code" at 1366x768).
        k = self.model.num_codes
        self.prob_plot.setXRange(-0.6, k - 0.4, padding=0)
        self.prob_plot.setYRange(0, 1, padding=0)
        self.prob_plot.setTitle("p(code | codes before it) at the last position, first grid: drawn from the first step")
        self.progress_label.setText(f"press Step or Play: {h * w} positions ({h} x {w} codes of {self.model.num_codes}) per grid")

    def new_run(self) -> None:
        self.reset()
        self._ensure_task()

    def _ensure_task(self) -> GenerationWorker | None:
        if self.model is None:
            return None
        if self.task is not None:
            return None if self.task.finished else self.task
        stepper = CodeStepper(self.model, self.n_spin.value(), self.seed_spin.value(), self.labels(), self.temperature.value())
        self.task = GenerationWorker(stepper)  # type: ignore[arg-type]  (duck-typed: step, finished, index, total, current, drawn)
        self._job_state = self.job.start(self.task.run, thread_name="genstudio-vq-prior-generation")
        return self.task


    # -- frames -----------------------------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        self.frame = frame
        data: CodeFrame = frame.data  # type: ignore[assignment]
        pic, captions = grids_picture(data.codes, data.drawn, self.model.num_codes, data.position)
        self.grid_view.set_array(pic, captions)
        u8 = (np.clip(data.decoded, 0, 1) * 255 + 0.5).astype(np.uint8)
        self.decoded_view.set_array(tile_grid(u8, ncols=grid_columns(len(u8)), pad=1, pad_value=80))
        if data.probs is not None and data.position is not None:
            self._show_probs(data.probs[0], int(data.codes[0][data.position]))
        i, j = data.position if data.position is not None else (0, 0)
        state = "finished" if frame.finished else "Step or Play for the next"
        self.progress_label.setText(f"{frame.index} of {frame.total} positions · drew row {i}, column {j} · {state}")
        if frame.finished:  # the button said "Pause" over a finished run
            self.play_button.blockSignals(True)
            self.play_button.setChecked(False)
            self.play_button.setText("Play")
            self.play_button.blockSignals(False)
        self.frame_shown.emit()

    def _show_probs(self, probs: np.ndarray, chosen: int) -> None:
        k = len(probs)
        colours = code_colours(k)
        brushes = [pg.mkBrush(*colours[c], 255 if c == chosen else 110) for c in range(k)]
        self.prob_plot.clear()
        self.bars = pg.BarGraphItem(x=np.arange(k), height=probs, width=0.85, brushes=brushes)
        self.prob_plot.addItem(self.bars)
        self.prob_plot.setXRange(-0.6, k - 0.4, padding=0)
        self.prob_plot.setYRange(0, max(float(probs.max()) * 1.1, 1e-3), padding=0)
        self.prob_plot.setTitle(f"p(code | codes before it) at the last position, first grid: drew code {chosen} (p = {probs[chosen]:.2f})")
