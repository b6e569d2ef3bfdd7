"""The generation tab: the sample fills in, in the model's order (a pixel, a row for the Row LSTM, or a
chunk of audio samples per step), with play / pause, single steps and a speed slider; hovering a
position plots its distribution given the positions before it. A worker thread draws
(:mod:`.generation_worker`); the UI only paints, and Stop or a new run interrupts it between two steps.

The first time the tab is shown with a model it plays by itself, and until the cursor is on the samples
the plot follows the drawing (the distribution each pixel of the first sample was just drawn from, with
the drawn value), so a newcomer meets the model painting rather than an empty canvas waiting for Play."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox, QSplitter, QVBoxLayout, QWidget

from genstudio.models.autoregressive import inspect as ar

from ...widgets import plot_widget
from ..autoregressive_math import SPEED_STEPS, describe_positions, fit_columns
from ..jobs import PanelJob
from .distribution_view import DistributionView
from .generation_worker import Followed, Frame, GenerationWorker
from .playback import StepPlayback, class_labels
from .mixture_view import has_mixture, overlay_of, show_mixture
from .pixel_grid import PixelGridView


def is_conditional(model: Any) -> bool:
    """A model that samples given a class label."""
    return bool(getattr(model, "conditional", False)) and getattr(model, "num_classes", 0) > 0


class GenerationTab(StepPlayback, QWidget):
    """Draw samples step by step; hover a position to see its distribution."""

    frame_shown = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.task: GenerationWorker | None = None
        self.frame: Frame | None = None
        self.job = PanelJob(self, failure=None)
        self.job.progress.connect(self._on_frame)
        self.job.failed.connect(self._on_failed)
        self.hover: tuple[int, int, int] | None = None
        self.distribution: np.ndarray | None = None
        self._autoplay_pending = False  # set by the first model; spent by the first showing with it

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

        self.image_view = PixelGridView(placeholder="The samples fill in here in the model's order")
        self.image_view.setMinimumSize(280, 280)
        self.image_view.installEventFilter(self)  # its shape decides the grid's columns
        self.wave_plot = plot_widget("generated waveforms (hover a time to see its distribution)")
        self.wave_plot.setLabel("bottom", "time (samples)")
        self.wave_plot.getPlotItem().hideAxis("left")
        self.wave_curves: list[pg.PlotDataItem] = []
        self.wave_cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(220, 90, 40, width=1))
        self.wave_plot.addItem(self.wave_cursor)
        self.dist_view = DistributionView()
        self.dist_label = self.dist_view.label

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
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.dist_view)
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
            w.valueChanged.connect(lambda _v: self._settings_changed())
        for w in (self.class_combo, self.unit_combo):
            w.currentIndexChanged.connect(lambda _i: self._settings_changed())
        self.cached_check.toggled.connect(lambda _c: self._settings_changed())
        self._speed_changed(self.speed_slider.value())
        self.setEnabled(False)

    # -- model ------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        if first:
            self._autoplay_pending = True
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
        conditional = is_conditional(model)
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
        self._autoplay()
        # A reloaded checkpoint leaves the run on screen (it keeps the weights it started with);
        # the next New run, and the distributions under the cursor, use the new weights.

    def labels(self) -> torch.Tensor | None:
        """The labels the run samples with (None: unconditional)."""
        if self.model is None or not is_conditional(self.model):
            return None
        return class_labels(self.class_combo.currentData(), self.n_spin.value(), self.model.num_classes)

    # -- running --------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current run (stopping its thread); the next Step or Play starts a fresh one."""
        self._stop_playing()
        if self.model is None:
            return
        self.stepper = None
        self._show_blank()

    def new_run(self) -> None:
        self.reset()
        self._ensure_task()

    def _settings_changed(self) -> None:
        """A new setting starts over; a run that was playing goes on playing with it."""
        playing = self.play_button.isChecked()
        self.reset()
        if playing and self.model is not None:
            self.play_button.setChecked(True)

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
        self.stepper = self._make_stepper()
        self.task = GenerationWorker(self.stepper, follow=None if self.hover is not None else self._follower())
        self.progress_label.setText(f"0 of {self.stepper.total} steps · next: {self._describe(self.stepper.next_positions())}")
        self._job_state = self.job.start(self.task.run, thread_name="genstudio-ar-generation")
        return self.task


    # -- frames -----------------------------------------------------------------------------------
    def _describe(self, positions: list) -> str:
        return describe_positions(positions, self.audio, getattr(self.model, "colours", 1))

    def _show_blank(self) -> None:
        m = self.model
        if self.audio:
            self._set_waves(torch.zeros(self.n_spin.value(), 1, m.length), 0)
        else:
            self._blank_images()
        self.progress_label.setText("press Step or Play")

    def _blank_images(self) -> None:
        m = self.model
        drawn = torch.zeros(m.colours, m.height, m.width, dtype=torch.bool)
        self._set_images(torch.zeros(self.n_spin.value(), m.colours, m.height, m.width), drawn, [])

    def _set_images(self, data: torch.Tensor, drawn: torch.Tensor, positions: list) -> None:
        pictures = ar.generation_picture(data, drawn)
        n, h, w = pictures.shape[:3]
        # As many columns as draw the samples largest in the view (6 x 3 for 16 in a square view left them 30 % smaller).
        self.image_view.set_grid(pictures, fit_columns(n, w, h, self.image_view.width(), self.image_view.height()))
        outlines = []
        if positions:
            rows = {i for _, i, _ in positions}
            cols = [j for _, _, j in positions]
            i0, j0 = min(rows), min(cols)
            for k in range(len(pictures)):
                outlines.append((k, i0, j0, max(rows) - i0 + 1, max(cols) - j0 + 1, QColor(240, 70, 60)))
        self.image_view.set_outlines(outlines)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt naming)
        if obj is self.image_view and event.type() == QEvent.Type.Resize:
            self._refit_grid()
        return super().eventFilter(obj, event)

    def _refit_grid(self) -> None:
        """The grid's columns follow the view's shape (window or splitter resized); the boxes on screen are kept."""
        if self.model is None or self.audio or not self.image_view.has_image():
            return
        outlines = list(self.image_view.outlines)
        if self.frame is not None:
            self._set_images(self.frame.data, self.frame.drawn, [])
        else:
            self._blank_images()
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

    def _on_frame(self, frame: Frame) -> None:
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
        elif frame.followed is not None:
            self._show_followed(frame.followed)
        self.frame_shown.emit()

    def _on_failed(self, exc: object, _tb: str) -> None:
        self.task = None
        self.play_button.setChecked(False)
        self.progress_label.setText(f"generation failed: {exc}".splitlines()[0])

    def _channel_changed(self, _index: int) -> None:
        if self.hover is not None:
            self.show_distribution(*self.hover, self.channel())

    def channel(self) -> int:
        return self.channel_combo.currentIndex() if self.model is not None and not self.audio and self.model.colours == 3 else 0

    def current_data(self) -> torch.Tensor | None:
        return None if self.frame is None else self.frame.data

    # -- the distribution under the cursor ------------------------------------------------------------
    def _follower(self):
        """The worker's function for the distribution of the last position drawn in sample 0 (its thread, its model)."""
        model, audio, channel = self.model, self.audio, self.channel()
        labels = self.labels()
        lab = None if labels is None else labels[:1]

        def follow(data: torch.Tensor, positions: list) -> Followed:
            c, i, j = ([p for p in positions if p[0] == channel] or positions)[-1]
            x = data[:1]
            if audio:
                return Followed((0, 0, j), ar.position_distribution(model, x, 0, 0, j))
            mixture = model.mixture_at(x, c, i, j) if has_mixture(model) else None
            return Followed((c, i, j), ar.position_distribution(model, x, c, i, j, lab), mixture)

        return follow

    def _show_followed(self, followed: Followed) -> None:
        c, i, j = followed.position
        self.distribution = followed.probs
        # Computed at most a few times a second while playing fast, so it can trail the newest pixel: a box marks it.
        if self.audio:
            self.wave_cursor.setValue(j)
            self._plot(followed.probs, 0, c, i, j, "followed while drawing (the cursor line); hover a time to see another")
        else:
            self.image_view.set_outlines(self.image_view.outlines + [(0, i, j, 1, 1, QColor(250, 200, 40))])
            self._plot(followed.probs, 0, c, i, j, "followed while drawing (yellow box); hover a pixel to see another")
        overlay = getattr(self.dist_view, "_mixture_overlay", None)
        if followed.mixture is not None:
            note = f" for channel {'RGB'[c]} (weights given the pixel's earlier channels)" if self.model.colours == 3 else ""
            overlay_of(self.dist_view).show(followed.mixture, note)
        elif overlay is not None:
            overlay.hide()

    def show_distribution(self, k: int, i: int, j: int, c: int = 0) -> np.ndarray | None:
        """Plot p(position | positions before it) for sample ``k`` of the current run (audio: i = 0, j = t)."""
        if self.model is None or self.frame is None or k >= len(self.frame.data):
            return None
        self.hover = (k, i, j)
        if self.task is not None:
            self.task.follow = None  # the cursor leads now: the worker stops computing the followed pixel
        x = self.frame.data[k : k + 1]
        labels = self.labels()
        lab = None if labels is None else labels[k : k + 1]
        if self.audio:
            probs = ar.position_distribution(self.model, x, 0, 0, j)
        else:
            probs = ar.position_distribution(self.model, x, c, i, j, lab)
        self.distribution = probs
        self._plot(probs, k, c, i, j, f"given the {j} samples before it" if self.audio else "given the pixels before it")
        show_mixture(self.dist_view, None if self.audio else self.model, x, c, i, j)  # PixelCNN++: the components
        return probs

    def _plot(self, probs: np.ndarray, k: int, c: int, i: int, j: int, given: str) -> None:
        x = self.frame.data[k : k + 1]
        drawn = bool(self.frame.drawn[0, j]) if self.audio else bool(self.frame.drawn[c, i, j])
        value = None
        if drawn:
            if self.audio:
                from genstudio.models.autoregressive.wavenet import mu_law_encode

                value = int(mu_law_encode(x[:, :, j : j + 1])[0, 0])
            elif self.model.output_kind == "bernoulli":
                value = int(float(x[0, c, i, j]) > 0.5)
            else:
                value = int(round(float(x[0, c, i, j]) * 255))
        if self.audio:
            where = f"sample {k}, t = {j}, {given} (mu-law levels 0..255)"
        else:
            ch = f", channel {'RGB'[c]}" if self.model.colours == 3 else ""
            where = f"sample {k}, pixel ({i}, {j}){ch}, {given}"
        self.dist_view.show_probs(probs, value, where, f"p(x | before) at {'t = ' + str(j) if self.audio else f'({i}, {j})'}")

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
