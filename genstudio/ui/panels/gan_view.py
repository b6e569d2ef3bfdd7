"""The GAN view: what GAN Lab (Kahng et al., "GAN Lab: Understanding Complex
Deep Generative Models using Interactive Visual Experimentation", IEEE VIS
2018) shows, on our engine, for every model with the ``Adversarial``
capability (gan, cgan, lsgan, wgan-gp, dcgan).

On 2-D data: real points and generated points G(z) (from a fixed batch of z,
so the cloud moves rather than flickers) over the discriminator's output as a
heatmap (green: D says real, purple: D says fake; for lsgan and wgan-gp the
raw score, scaled to its range on the view), with the generator's gradient as
arrows: -d L_G / d x at each generated point, where G's loss (seen through
the current D) pushes it. A mode-coverage counter runs on ``8gaussians``.
On images (:mod:`.gan_image_view`): histograms of D(x) on validation
images and of D(G(z)) on a fixed batch of fakes, the run's D and G loss
curves side by side with the sandbox's steps after the checkpoint, and the
fakes D finds most and least real.

The panel loads its own copy of the model from the run's latest checkpoint
and turns it into a sandbox: Step D, Step G and Step both update that copy
(never the training thread's model), Play repeats steps on a timer whose
speed slider goes down to one step a second (slow motion), and Reset goes
back to the checkpoint. With "Draw data" the user paints 2-D points with the
mouse and the sandbox trains on them; "Save drawing…" writes them as a CSV
that the ``csv`` dataset trains on. A 2-D MLP step and the 64 x 64 heatmap
take a few milliseconds, so the sandbox runs on the UI thread; loading runs
on the thread pool. (A DCGAN step on 28 x 28 images with the 256 shown fakes
takes tens of milliseconds: Play stays usable, at a lower rate.)
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.capabilities import Conditional
from genstudio.core.data_types import Batch

from ..widgets import style_plot
from . import PanelContext, register_panel
from .gan_image_view import AdversarialImageView, LossHistory, read_loss_history
from .live import CheckpointLoader

HEATMAP_SIZE = 64  # D is evaluated on a HEATMAP_SIZE x HEATMAP_SIZE grid over the view
FAKES = 500  # generated points shown (fixed z)
IMAGE_FAKES = 128  # generated images scored by D (fixed z), and as many real ones
ARROWS = 150  # of which this many carry a gradient arrow
ARROW_FRACTION = 0.08  # the longest arrow spans this fraction of the view
BATCH = 256  # sandbox batch size
MAX_REAL = 2000  # real examples kept for the sandbox and the histograms
SPRAY = 12  # points added per click in draw mode
SPRAY_SD = 0.02  # their spread, as a fraction of the view
# Speed slider: (timer interval in ms, steps per tick); the first entries are slow motion.
SPEEDS = ((1000, 1), (500, 1), (250, 1), (120, 1), (60, 1), (30, 1), (16, 1), (16, 2), (16, 4), (16, 8))
# Purple (D: fake) -> white -> green (D: real), as in GAN Lab.
HEAT_COLOURS = pg.ColorMap([0.0, 0.5, 1.0], [(170, 110, 210), (250, 250, 250), (90, 180, 110)])


@dataclass
class GanViewData:
    model: Any
    step: int
    kind: str
    real: np.ndarray  # N x 2 points or N x C x H x W images
    labels: np.ndarray
    extent: tuple[float, float, float, float] | None
    dataset: str
    notes: list[str] = field(default_factory=list)
    losses: LossHistory = field(default_factory=LossHistory.empty)  # the run's logged d_loss / g_loss
    batch_size: int = BATCH  # the sandbox's batch: the run's own on images, BATCH on 2-D data


def prepare_gan_view(run_dir: str | Path, max_examples: int = MAX_REAL) -> GanViewData:
    """Load the run's latest checkpoint and up to ``max_examples`` of its data (off the UI thread)."""
    from genstudio.core.engine import load_run_model
    from genstudio.data.dataset import load_dataset

    model, spec, step = load_run_model(run_dir, device="cpu")
    info = model.data_info
    notes: list[str] = []
    try:
        ds = load_dataset(spec.run.dataset, spec.data)
        _, val = ds.split(spec.data.val_fraction, spec.data.seed)
        part = val if val is not None and len(val) >= 100 else ds
        b = part.get(slice(0, min(max_examples, len(part))))
        real, labels = b.x.numpy(), b.y.numpy()
    except Exception as e:  # noqa: BLE001 - without the data the view still shows G and D
        real = np.zeros((0, *info.shape), np.float32)
        labels = np.zeros(0, np.int64)
        notes.append(f"dataset not available ({e})")
    extent = tuple(info.extent) if info.extent is not None else None
    losses = read_loss_history(run_dir)
    # A 2-D step costs nothing at any batch size; an image step at the run's own batch is as cheap as training allows.
    batch = int(spec.run.batch_size) if info.kind == "image" else BATCH
    return GanViewData(model, step, info.kind, real, labels, extent, spec.run.dataset, notes, losses, batch)


def view_extent(real: np.ndarray, extent: tuple[float, float, float, float] | None, margin: float = 0.15) -> tuple[float, float, float, float]:
    """The square-ish region shown: the data's extent (or the points' box) widened by ``margin``."""
    if extent is None:
        if len(real):
            (x0, y0), (x1, y1) = real.min(0), real.max(0)
        else:
            x0, x1, y0, y1 = -1.0, 1.0, -1.0, 1.0
    else:
        x0, x1, y0, y1 = extent
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    return (x0 - margin * w, x1 + margin * w, y0 - margin * h, y1 + margin * h)


def heatmap_grid(extent: tuple[float, float, float, float], n: int = HEATMAP_SIZE) -> np.ndarray:
    """Centres of an n x n grid of cells over ``extent``, row-major from the bottom row: (n*n) x 2."""
    x0, x1, y0, y1 = extent
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def arrow_segments(points: np.ndarray, direction: np.ndarray, span: float, fraction: float = ARROW_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays of (start, end) pairs for ``connect='pairs'``; the longest arrow is ``fraction`` of ``span``."""
    norms = np.linalg.norm(direction, axis=1)
    top = norms.max() if len(norms) else 0.0
    scale = fraction * span / top if top > 0 else 0.0
    ends = points + direction * scale
    xs = np.stack([points[:, 0], ends[:, 0]], 1).ravel()
    ys = np.stack([points[:, 1], ends[:, 1]], 1).ravel()
    return xs, ys


def sandbox_notice(step: int, sandbox_steps: int) -> str:
    """The line that tells the user the buttons train a private copy, not the run."""
    done = f"; {sandbox_steps} sandbox steps so far" if sandbox_steps else ""
    return (
        f"Sandbox: Step D, Step G, Step both and Play train a private copy of this model, loaded from checkpoint "
        f"step {step}{done}. The training run, its files and its curves are not changed; "
        f"'Reset to checkpoint' throws the sandbox steps away."
    )


def raw_generator_output(model: Any, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G(z) from the generator D plays against: not the EMA copy a model may sample from (dcgan), which a step barely moves."""
    kw: dict[str, Any] = {} if labels is None else {"labels": labels}
    if "use_ema" in inspect.signature(model.decode).parameters:
        kw["use_ema"] = False
    return model.decode(z, **kw)


class GanViewPanel(QWidget):
    """The "GAN" tab: heatmap, points and arrows on 2-D data; D's view of real and fake images; a sandbox to step D or G."""

    data_ready = Signal()
    stepped = Signal(int)  # sandbox steps so far

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.data: GanViewData | None = None
        self.sandbox_steps = 0
        self.history: dict[str, list[float]] = {"step": [], "d_loss": [], "g_loss": []}
        self.drawn: list[np.ndarray] = []
        self.last_stats: dict[str, float] = {}
        self.last_step_ms = 0.0  # the last sandbox step with its redraw, shown beside the numbers
        self.heat: np.ndarray | None = None
        self.fakes: np.ndarray | None = None
        self.arrows: tuple[np.ndarray, np.ndarray] | None = None
        self.modes_text = ""
        self.extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
        self.hist_counts: tuple[np.ndarray, np.ndarray] | None = None
        self._closed = False
        self._rng = np.random.default_rng(0)
        self.loader = CheckpointLoader(self, "the GAN view")
        self.loader.loaded.connect(self._set_data)
        self.loader.failed.connect(lambda text, _tb: self.status.setText(text))

        self.status = QLabel("Loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.sandbox_label = QLabel("")
        self.sandbox_label.setWordWrap(True)
        # A tinted box, so the notice reads as a notice and not as one more status line.
        self.sandbox_label.setStyleSheet("QLabel { background: rgba(235, 100, 30, 40); border: 1px solid rgba(235, 100, 30, 140); border-radius: 3px; padding: 3px; }")
        self.reset_button = QPushButton("Reset to checkpoint")
        self.reset_button.setToolTip("Throw away the sandbox steps and load the run's latest checkpoint")
        self.reset_button.clicked.connect(self.reload)
        self.step_d = QPushButton("Step D")
        self.step_d.setToolTip("One discriminator update of the sandbox copy on a real batch against fresh fakes (the run is not touched)")
        self.step_g = QPushButton("Step G")
        self.step_g.setToolTip("One generator update of the sandbox copy through the current discriminator (the run is not touched)")
        self.step_both = QPushButton("Step both")
        self.step_both.setToolTip("One training step of the sandbox copy: the model's D updates, then one G update (the run is not touched)")
        self.play = QPushButton("Play")
        self.play.setCheckable(True)
        self.speed = QSlider(Qt.Orientation.Horizontal)
        self.speed.setRange(0, len(SPEEDS) - 1)
        self.speed.setValue(4)
        self.speed.setToolTip("Left: slow motion (one step a second); right: several steps per frame")
        self.speed_label = QLabel("")
        self.draw_box = QCheckBox("Draw data")
        self.draw_box.setToolTip("Click or drag on the plot to paint real points; the sandbox trains on them")
        self.clear_button = QPushButton("Clear drawing")
        self.save_button = QPushButton("Save drawing…")
        self.save_button.setToolTip("Write the drawn points as a CSV (x, y) that the 'csv' dataset trains on")
        for b in (self.step_d, self.step_g, self.step_both):
            b.setEnabled(False)
        self.step_d.clicked.connect(lambda: self.step("d"))
        self.step_g.clicked.connect(lambda: self.step("g"))
        self.step_both.clicked.connect(lambda: self.step("both"))
        self.play.toggled.connect(self._play_toggled)
        self.speed.valueChanged.connect(lambda _v: self._speed_changed())
        self.draw_box.toggled.connect(self._draw_toggled)
        self.clear_button.clicked.connect(self.clear_drawing)
        self.save_button.clicked.connect(self._save_dialog)

        # The 2-D view.
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        style_plot(self.plot)
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setLookupTable(HEAT_COLOURS.getLookupTable(0.0, 1.0, 256))
        self.real_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(30, 60, 140, 150))
        self.drawn_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(20, 20, 20, 200))
        self.fake_item = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(235, 100, 30, 220))
        self.arrow_item = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(20, 120, 60, 200, width=1.5))
        for item in (self.heat_item, self.real_item, self.drawn_item, self.fake_item, self.arrow_item):
            self.plot.addItem(item)
        self.plot.scene().sigMouseClicked.connect(self._scene_clicked)
        self.plot.scene().sigMouseMoved.connect(self._scene_moved)
        # D's view of images: histograms, loss curves side by side, most / least real samples.
        self.image_view = AdversarialImageView()
        self.hist = self.image_view.hist
        # The sandbox's losses.
        self.losses = pg.PlotWidget(title="Sandbox losses by sandbox step")
        self.losses.setMenuEnabled(False)
        self.losses.setMaximumHeight(170)
        style_plot(self.losses)
        self.losses.addLegend()
        self.d_curve = self.losses.plot(pen=pg.mkPen(30, 60, 140, width=2), name="d_loss", connect="finite")
        self.g_curve = self.losses.plot(pen=pg.mkPen(235, 100, 30, width=2), name="g_loss", connect="finite")
        self.readout = QLabel("")
        self.readout.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.reset_button)
        controls = QHBoxLayout()
        for w in (self.step_d, self.step_g, self.step_both, self.play, QLabel("speed"), self.speed, self.speed_label):
            controls.addWidget(w)
        controls.addStretch(1)
        drawing = QHBoxLayout()
        for w in (self.draw_box, self.clear_button, self.save_button):
            drawing.addWidget(w)
        drawing.addStretch(1)
        side = QVBoxLayout()
        side.addWidget(self.losses)
        side.addWidget(self.readout)
        side.addStretch(1)
        body = QHBoxLayout()
        body.addWidget(self.plot, 3)
        body.addWidget(self.image_view, 6)
        body.addLayout(side, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.sandbox_label)
        lay.addLayout(controls)
        lay.addLayout(drawing)
        lay.addLayout(body, 1)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        # (time, sandbox steps) at recent ticks while playing: the rate actually achieved, which
        # falls below the slider's target when a step costs more than the tick interval.
        self._ticks: list[tuple[float, int]] = []
        self._speed_changed()
        self.image_view.hide()
        self.reload()

    # -- loading ----------------------------------------------------------------------------------
    def reload(self) -> None:
        if self._closed or self.context.run_dir is None:
            return
        run_dir = self.context.run_dir
        self.loader.load(lambda: prepare_gan_view(run_dir))

    def _set_data(self, data: GanViewData) -> None:
        self.play.setChecked(False)
        self.data = data
        self.sandbox_steps = 0
        self.history = {"step": [], "d_loss": [], "g_loss": []}
        self.last_stats = {}
        points = data.kind == "points"
        self.plot.setVisible(points)
        self.image_view.setVisible(not points)
        # On images the sandbox's losses continue the run's curves in the image view.
        self.losses.setVisible(points)
        conditional = isinstance(data.model, Conditional)
        for w in (self.draw_box, self.clear_button, self.save_button):
            w.setVisible(points)
        self.draw_box.setEnabled(points and not conditional)
        if conditional:
            self.draw_box.setToolTip("Drawn points have no class labels, which a conditional GAN needs")
        for b in (self.step_d, self.step_g, self.step_both):
            b.setEnabled(len(data.real) > 0 or bool(self.drawn))
        if points:
            self.extent = view_extent(data.real, data.extent)
            self.real_item.setData(pos=data.real[:, :2])
            x0, x1, y0, y1 = self.extent
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.redraw()
        self.data_ready.emit()

    # -- the sandbox --------------------------------------------------------------------------------
    def training_points(self) -> tuple[np.ndarray, np.ndarray | None]:
        """What the sandbox trains on: the drawn points once there are some, else the run's data."""
        assert self.data is not None
        if self.drawn:
            return np.concatenate(self.drawn).astype(np.float32), None
        labels = self.data.labels if isinstance(self.data.model, Conditional) else None
        return self.data.real, labels

    def step(self, what: str = "both", count: int = 1) -> dict[str, float]:
        """Run ``count`` sandbox steps: ``d`` (one D update), ``g`` (one G update) or ``both`` (a training step)."""
        if self.data is None:
            return {}
        model = self.data.model
        real, labels = self.training_points()
        if not len(real):
            return {}
        stats: dict[str, torch.Tensor] = {}
        t0 = time.perf_counter()
        for _ in range(count):
            idx = self._rng.integers(0, len(real), min(self.data.batch_size, len(real)))
            y = torch.as_tensor(labels[idx]) if labels is not None else -torch.ones(len(idx), dtype=torch.long)
            x_model, y_model = model.prepare_batch(Batch(torch.as_tensor(real[idx]), y))
            if what in ("d", "both"):
                for _ in range(getattr(model.config, "d_steps", 1) if what == "both" else 1):
                    stats.update(model.discriminator_step(x_model, y_model))
            if what in ("g", "both"):
                stats.update(model.generator_step(len(idx), y_model))
            self.sandbox_steps += 1
        model.eval()
        # A D-only or G-only step leaves the other player's numbers as they were.
        self.last_stats.update({k: float(v) for k, v in stats.items()})
        for k in ("d_loss", "g_loss"):
            self.history[k].append(float(stats[k]) if k in stats else self.last_stats.get(k, float("nan")))
        self.history["step"].append(float(self.sandbox_steps))
        self.redraw()
        self.last_step_ms = (time.perf_counter() - t0) * 1000 / count
        self.readout.setText(self._readout_text())
        self.stepped.emit(self.sandbox_steps)
        return self.last_stats

    def _play_toggled(self, on: bool) -> None:
        self.play.setText("Pause" if on else "Play")
        self._ticks = []
        if on:
            self.timer.start(SPEEDS[self.speed.value()][0])
        else:
            self.timer.stop()
        self._show_rate()

    def target_rate(self) -> float:
        """Steps per second the speed slider asks for."""
        interval, per_tick = SPEEDS[self.speed.value()]
        return per_tick * 1000 / interval

    def achieved_rate(self) -> float | None:
        """Steps per second over the last two seconds of play (None before two ticks)."""
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
        if self.timer.isActive():
            self.timer.setInterval(SPEEDS[self.speed.value()][0])
            self._ticks = []  # a new target: measure afresh
        self._show_rate()

    def _tick(self) -> None:
        self.step("both", SPEEDS[self.speed.value()][1])
        now = time.perf_counter()
        self._ticks.append((now, self.sandbox_steps))
        while len(self._ticks) > 2 and now - self._ticks[0][0] > 2.0:
            self._ticks.pop(0)
        self._show_rate()

    # -- drawing -------------------------------------------------------------------------------------
    def _draw_toggled(self, on: bool) -> None:
        # While drawing, a drag paints instead of panning the view.
        self.plot.getPlotItem().vb.setMouseEnabled(not on, not on)

    def add_drawn_points(self, x: float, y: float, n: int = SPRAY) -> None:
        """Spray ``n`` points around (x, y), as a click in draw mode does."""
        x0, x1, y0, y1 = self.extent
        sd = SPRAY_SD * np.array([x1 - x0, y1 - y0])
        pts = np.array([x, y]) + sd * self._rng.standard_normal((n, 2))
        self.drawn.append(pts.astype(np.float32))
        self._show_drawn()

    def clear_drawing(self) -> None:
        self.drawn = []
        self._show_drawn()

    def _show_drawn(self) -> None:
        pts = np.concatenate(self.drawn) if self.drawn else np.zeros((0, 2), np.float32)
        self.drawn_item.setData(pos=pts)
        self.real_item.setVisible(not self.drawn)
        for b in (self.step_d, self.step_g, self.step_both):
            b.setEnabled(self.data is not None and (len(self.data.real) > 0 or bool(self.drawn)))
        self.readout.setText(self._readout_text())

    def save_drawing(self, path: str | Path) -> Path:
        if not self.drawn:
            raise ValueError("nothing drawn yet")
        out = Path(path)
        np.savetxt(out, np.concatenate(self.drawn), delimiter=",", header="x,y", comments="", fmt="%.6f")
        return out

    def _save_dialog(self) -> None:
        if not self.drawn:
            self.status.setText("Draw some points first (tick 'Draw data' and click on the plot).")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save drawn points", "drawn.csv", "CSV (*.csv)")
        if path:
            self.save_drawing(path)
            self.status.setText(f"Saved {sum(len(d) for d in self.drawn)} points to {path}; train on them with the 'csv' dataset.")

    def _scene_clicked(self, ev) -> None:
        if not self.draw_box.isChecked() or ev.button() != Qt.MouseButton.LeftButton or self.data is None:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.add_drawn_points(pos.x(), pos.y())

    def _scene_moved(self, scene_pos) -> None:
        if not self.draw_box.isChecked() or self.data is None:
            return
        if not QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        self.add_drawn_points(pos.x(), pos.y(), n=3)

    # -- drawing the model's state ------------------------------------------------------------------------
    def redraw(self) -> None:
        d = self.data
        if d is None:
            return
        model = d.model
        conditional = isinstance(model, Conditional)
        if d.kind == "points":
            z = model.prior_sample(FAKES, torch.Generator().manual_seed(0))
            labels = torch.arange(FAKES) % model.num_classes if conditional else None
            grid = heatmap_grid(self.extent)
            grid_labels = None
            if conditional:
                grid_labels = torch.zeros(len(grid), dtype=torch.long)  # D's view of class 0 (the heatmap is per class)
            with torch.no_grad():
                heat = model.discriminate(torch.as_tensor(grid), grid_labels).float().cpu().numpy()
            self.heat = heat.reshape(HEATMAP_SIZE, HEATMAP_SIZE)
            levels = (0.0, 1.0) if model.d_output_kind == "probability" else (float(heat.min()), float(heat.max()) + 1e-9)
            self.heat_item.setImage(self.heat, autoLevels=False, levels=levels)
            # After setImage: setRect scales by the image's size in pixels, unknown before the first image
            # (set earlier, one heatmap cell covered the whole view in a single colour).
            x0, x1, y0, y1 = self.extent
            self.heat_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            fakes, direction = model.generator_field(z, labels)
            self.fakes = fakes.cpu().numpy()
            self.fake_item.setData(pos=self.fakes)
            x0, x1, y0, y1 = self.extent
            self.arrows = arrow_segments(self.fakes[:ARROWS], direction[:ARROWS].cpu().numpy(), max(x1 - x0, y1 - y0))
            self.arrow_item.setData(*self.arrows)
            self.modes_text = self._modes()
        else:
            self._redraw_images(model, conditional)
        steps = np.asarray(self.history["step"], float)
        self.d_curve.setData(steps, np.asarray(self.history["d_loss"], float))
        self.g_curve.setData(steps, np.asarray(self.history["g_loss"], float))
        self.status.setText(self._status_text())
        self.readout.setText(self._readout_text())

    def _redraw_images(self, model: Any, conditional: bool) -> None:
        """D's outputs on one batch of real images and one of fakes from a fixed z (the raw generator D plays against)."""
        d = self.data
        assert d is not None
        z = model.prior_sample(IMAGE_FAKES, torch.Generator().manual_seed(0))
        labels = torch.arange(IMAGE_FAKES) % model.num_classes if conditional else None
        with torch.no_grad():
            fakes = raw_generator_output(model, z, labels)
            real = torch.as_tensor(d.real[:IMAGE_FAKES])
            real_labels = torch.as_tensor(d.labels[: len(real)]) if conditional else None
            d_real = model.discriminate(real, real_labels).float().cpu().numpy() if len(real) else np.zeros(0)
            d_fake = model.discriminate(fakes, labels).float().cpu().numpy()
        self.image_view.show_scores(model.d_output_kind, d_real, d_fake, real.numpy(), fakes.cpu().numpy())
        self.hist_counts = self.image_view.counts
        self.image_view.show_losses(d.losses, d.step, self.history)

    def _modes(self) -> str:
        d = self.data
        if d is None or d.dataset != "8gaussians" or self.drawn:
            return ""
        from genstudio.metrics.modes import mode_coverage

        with torch.no_grad():
            samples = d.model.sample(2500, torch.Generator().manual_seed(1))
        covered, quality, _ = mode_coverage(samples)
        return f"modes covered: {covered} of 8 ({quality:.0%} of samples within 3 sd of a mode)"

    def _status_text(self) -> str:
        d = self.data
        assert d is not None
        self.sandbox_label.setText(sandbox_notice(d.step, self.sandbox_steps))
        kind = "probability of real" if d.model.d_output_kind == "probability" else "raw score, scaled to its range"
        if d.kind != "points":
            text = f"checkpoint step {d.step} + {self.sandbox_steps} sandbox steps · D's {kind} on real images and on G(z)"
            return " · ".join([text, *d.notes])
        if isinstance(d.model, Conditional):
            kind += " for class 0; the points cycle through the classes"
        text = f"checkpoint step {d.step} + {self.sandbox_steps} sandbox steps · heatmap: D's {kind}"
        return " · ".join([text, *d.notes])

    def _readout_text(self) -> str:
        parts = [f"{k} {v:.3f}" for k, v in self.last_stats.items()]
        if self.last_step_ms:
            parts.append(f"one sandbox step with its redraw: {self.last_step_ms:.0f} ms")
        if self.modes_text:
            parts.append(self.modes_text)
        if self.drawn:
            parts.append(f"training on {sum(len(p) for p in self.drawn)} drawn points")
        return "\n".join(parts)

    # -- panel protocol ------------------------------------------------------------------------------------
    def on_event(self, event: object) -> None:
        from genstudio.core.events import CheckpointSaved

        # A new checkpoint replaces the sandbox, unless the user is playing with it right now.
        if isinstance(event, CheckpointSaved) and not self.play.isChecked() and self.sandbox_steps == 0:
            self.reload()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        # Playing spends CPU the training run needs: stop when the user looks elsewhere.
        super().hideEvent(event)
        self.play.setChecked(False)

    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
        self.timer.stop()
        self.data = None


register_panel("Adversarial", "GAN", GanViewPanel)
