"""The "GAN" tab: heatmap, points and arrows on 2-D data, D's view of real and fake images, and the sandbox's
controls; loads the model from the run's latest checkpoint and redraws its state (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from genstudio.core.capabilities import Conditional

from ...widgets import style_plot
from .. import PanelContext, register_panel
from ..gan_math import sandbox_notice
from ..jobs import JobState, PanelJob
from ..live import CheckpointPanel
from .drawing import DataDrawing
from .image_view import AdversarialImageView
from .model_views import ModelDiagnosticsView
from .prepare import GanViewData, prepare_gan_view
from .sandbox import Sandbox
from .worker import SPEEDS, SandboxSnapshot, SandboxWorker
# Purple (D: fake) -> white -> green (D: real), as in GAN Lab.
HEAT_COLOURS = pg.ColorMap([0.0, 0.5, 1.0], [(170, 110, 210), (250, 250, 250), (90, 180, 110)])


class GanViewPanel(Sandbox, DataDrawing, CheckpointPanel):
    """The "GAN" tab: heatmap, points and arrows on 2-D data; D's view of real and fake images; a sandbox to step D or G."""

    data_ready = Signal()
    stepped = Signal(int)  # sandbox steps so far

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the GAN view", parent)
        self.data: GanViewData | None = None
        self.worker: SandboxWorker | None = None  # owns the sandbox's model while it steps
        self._sandbox_state: JobState | None = None
        self.sandbox_steps = 0
        self.history: dict[str, list[float]] = {"step": [], "d_loss": [], "g_loss": []}
        self.drawn: list[np.ndarray] = []
        self.last_stats: dict[str, float] = {}
        self.last_step_ms = 0.0  # the last sandbox step, shown beside the numbers
        self.last_snapshot_ms = 0.0  # and the cost of computing what the view draws
        self.heat: np.ndarray | None = None
        self.fakes: np.ndarray | None = None
        self.arrows: tuple[np.ndarray, np.ndarray] | None = None
        self.modes_text = ""
        self.extent: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
        self.hist_counts: tuple[np.ndarray, np.ndarray] | None = None
        self._rng = np.random.default_rng(0)

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
        self.model_view = ModelDiagnosticsView()  # wgan's critic weights, sgan's accuracy; hidden for other models

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
        side.addWidget(self.model_view, 4)
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
        self._lay, self._body, self._side = lay, body, side
        # The sandbox steps on its own thread; its snapshots arrive through this job on the UI thread.
        self.sandbox_job = PanelJob(self, failure=None)
        self.sandbox_job.progress.connect(self._snapshot_arrived)
        self.sandbox_job.failed.connect(self._sandbox_failed)
        self._draw_started = 0.0  # time.monotonic() when the last snapshot's drawing began (see sandbox.py)
        self._ask_timer = QTimer(self)
        self._ask_timer.setSingleShot(True)
        self._ask_timer.timeout.connect(self._ask_for_snapshot)
        self._draw_measure = QTimer(self)
        self._draw_measure.setSingleShot(True)
        self._draw_measure.timeout.connect(self._draw_measured)
        self.timer = QTimer(self)  # only for the old synchronous path (step_on_gui_thread)
        self.timer.timeout.connect(self._tick)
        # (time, sandbox steps) of recent snapshots while playing: the rate actually achieved, which
        # falls below the slider's target when a step costs more than the tick interval.
        self._ticks: list[tuple[float, int]] = []
        self._speed_changed()
        self.image_view.hide()
        self.reload()

    # -- loading ----------------------------------------------------------------------------------
    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], tuple[GanViewData, SandboxWorker, SandboxSnapshot]]:
        def load() -> tuple[GanViewData, SandboxWorker, SandboxSnapshot]:
            # Off the UI thread: the model, its worker, and the first picture of it.
            data = prepare_gan_view(run_dir, snapshot=snapshot)
            worker = SandboxWorker(data)
            return data, worker, worker.snapshot()

        return load

    def show_loaded(self, loaded: tuple[GanViewData, SandboxWorker, SandboxSnapshot]) -> None:
        data, worker, first = loaded
        self.play.setChecked(False)
        self._stop_worker()  # the old copy's thread ends after its current step; its snapshots are dropped
        self.data, self.worker = data, worker
        self.sandbox_steps = 0
        self.history = {"step": [], "d_loss": [], "g_loss": []}
        self.last_stats = {}
        self.last_step_ms = self.last_snapshot_ms = 0.0
        points = data.kind == "points"
        self.plot.setVisible(points)
        self.image_view.setVisible(not points)
        # On images the sandbox's losses continue the run's curves in the image view. On points the plot
        # appears with the first sandbox step: before it, it was empty axes with a legend.
        self.losses.setVisible(False)
        # On images the readout is a line under the view (the side column would hold nothing else for most
        # models: an empty band of ~160 px at 1366x768); on points it sits under the sandbox's loss plot.
        if points:
            self._side.insertWidget(1, self.readout)
        else:
            self._lay.addWidget(self.readout)
        conditional = isinstance(data.model, Conditional)
        for w in (self.draw_box, self.clear_button, self.save_button):
            w.setVisible(points)
        self.draw_box.setEnabled(points and not conditional)
        if conditional:
            self.draw_box.setToolTip("Drawn points have no class labels, which a conditional GAN needs")
        for b in (self.step_d, self.step_g, self.step_both):
            b.setEnabled(len(data.real) > 0 or bool(self.drawn))
        if points:
            self.extent = worker.extent
            self.real_item.setData(pos=data.real[:, :2])
            x0, x1, y0, y1 = self.extent
            self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
        self.model_view.set_validation(data.validation)
        self._send_training_points()  # points drawn before the load train the new copy too
        self.show_snapshot(first)
        self.data_ready.emit()

    def show_snapshot(self, snap: SandboxSnapshot) -> None:
        """Draw the sandbox's state as the worker last saw it (UI thread; no model is touched here)."""
        d = self.data
        if d is None:
            return
        if snap.kind == "points":
            self.heat = snap.heat
            self.heat_item.setImage(self.heat, autoLevels=False, levels=snap.levels)
            # After setImage: setRect scales by the image's size in pixels, unknown before the first image
            # (set earlier, one heatmap cell covered the whole view in a single colour).
            x0, x1, y0, y1 = self.extent
            self.heat_item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            self.fakes = snap.fakes
            self.fake_item.setData(pos=self.fakes)
            self.arrows = snap.arrows
            self.arrow_item.setData(*self.arrows)
            self.modes_text = snap.modes_text
        self.last_stats = dict(snap.stats)
        self.model_view.show_diagnostics(snap.diagnostics, d.step + snap.steps)
        # The side column takes room only when it shows something (a model view, or the points' loss plot).
        self._body.setStretchFactor(self._side, 2 if snap.kind == "points" or not self.model_view.isHidden() else 0)
        self.last_step_ms, self.last_snapshot_ms = snap.step_ms, snap.snapshot_ms
        stepped = snap.steps != self.sandbox_steps
        self.sandbox_steps = snap.steps
        if self.worker is not None:
            steps, d_loss, g_loss = self.worker.history_since(len(self.history["step"]))
            self.history["step"] += steps
            self.history["d_loss"] += d_loss
            self.history["g_loss"] += g_loss
        if snap.kind != "points":
            if snap.scores is not None:  # computed with the snapshot, off the UI thread
                self.image_view.show_view(snap.scores)
            else:
                self.image_view.show_scores(d.model.d_output_kind, snap.d_real, snap.d_fake, snap.real_images, snap.fake_images)
            self.hist_counts = self.image_view.counts
            self.image_view.show_losses(d.losses, d.step, self.history)
        if snap.kind == "points":  # on images the image view draws the sandbox's losses; this plot is hidden
            steps = np.asarray(self.history["step"], float)
            self.d_curve.setData(steps, np.asarray(self.history["d_loss"], float))
            self.g_curve.setData(steps, np.asarray(self.history["g_loss"], float))
            self.losses.setVisible(len(steps) > 0)
        self.status.setText(self._status_text())
        self.status.setToolTip("")
        self.readout.setText(self._readout_text())
        self._note_progress(snap)
        if stepped:
            self.stepped.emit(self.sandbox_steps)

    def _status_text(self) -> str:
        d = self.data
        assert d is not None
        self.sandbox_label.setText(sandbox_notice(d.step, self.sandbox_steps))
        kind = "probability of real" if d.model.d_output_kind == "probability" else "raw score, scaled to its range"
        if d.kind != "points":
            text = f"{self.weights_text(d.step)} + {self.sandbox_steps} sandbox steps · D's {kind} on real images and on G(z)"
            return " · ".join([text, *d.notes])
        if isinstance(d.model, Conditional):
            kind += " for class 0; the points cycle through the classes"
        text = f"{self.weights_text(d.step)} + {self.sandbox_steps} sandbox steps · heatmap: D's {kind}"
        return " · ".join([text, *d.notes])

    def _readout_text(self) -> str:
        points = self.data is None or self.data.kind == "points"
        if not points and not self.sandbox_steps:
            return "Step D, Step G, Step both or Play train the sandbox: its losses and the time of a step show here."
        parts = [f"{k} {v:.3f}" for k, v in self.last_stats.items()]
        if self.last_step_ms:
            where = "on the UI thread" if self.step_on_gui_thread else "in the background"
            parts.append(f"one sandbox step {where}: {self.last_step_ms:.0f} ms; the view's snapshot: {self.last_snapshot_ms:.0f} ms")
        if self.modes_text:
            parts.append(self.modes_text)
        if self.drawn:
            parts.append(f"training on {sum(len(p) for p in self.drawn)} drawn points")
        return "\n".join(parts) if points else " · ".join(parts)  # images: a line under the view

    # -- panel protocol ------------------------------------------------------------------------------------
    def on_event(self, event: object) -> None:
        # A new checkpoint replaces the sandbox (when shown), unless the user has stepped or played it.
        if not self.play.isChecked() and not (self.worker is not None and self.worker.touched):
            super().on_event(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        # Playing spends CPU the training run needs: stop when the user looks elsewhere.
        super().hideEvent(event)
        self.play.setChecked(False)

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the sandbox's thread (waiting for the step in progress) and any load; idempotent."""
        super().shutdown()
        self._stop_worker(wait_s=10.0)
        self.data = None


register_panel("Adversarial", "GAN", GanViewPanel)
