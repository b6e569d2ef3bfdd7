"""The reverse-process tab: run a sampler once, cache every step, scrub it.

x_t, the predicted noise eps_hat and the predicted clean sample x0_hat (DDPM
eq. 15) side by side; on 2-D data the particle cloud, a few trajectories and
the learned field -eps_hat(x, t) as arrows. The chain is recorded off the UI
thread (:func:`..diffusion_frames.record_chain`, stoppable between network
evaluations); scrubbing then only looks frames up. The sampler's controls
are in :mod:`.sampler_controls`, the export in :mod:`.chain_export`.

A blank tab teaches nothing: until its first chain the tab says what the
reverse process is and what it waits for, and the Diffusion tab's own view
(``auto_sample``) records a first chain by itself with the default controls as
soon as it has a model and is on screen (once: later weights are sampled when
the user presses Run sampler, since a chain competes with training for the CPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget

from ...widgets import ElidedLabel, TopImageView, caption, plot_widget, titled
from ..diffusion_frames import Chain, ChainInterrupted, ChainTooLarge, record_chain
from ..diffusion_math import arrow_segments, trajectory_polylines, view_range
from ..jobs import JobState, PanelJob
from .chain_export import ChainExport
from .sampler_controls import SamplerControls

#: Trajectories drawn on 2-D data.
TRAJECTORIES = 8
SPEEDS_FPS = (2, 5, 10, 25, 50)
#: What the tab says before it has a model.
NO_MODEL_TEXT = (
    "The reverse process needs a trained network: it starts from pure noise x_T and removes, step by step, "
    "the noise the network predicts, until a sample is left. There is no model yet: a first chain is sampled "
    "here by itself as soon as the run's first weights arrive (press Train, or open a run)."
)
#: What it says once the model is there and no chain has been recorded.
READY_TEXT = "Press Run sampler to record a chain, then scrub it: x_t, the predicted noise eps_hat and the predicted clean sample x0_hat, step by step."


class ReverseView(SamplerControls, ChainExport, QWidget):
    """Run a sampler once, cache every step, scrub it: x_t, eps_hat and x0_hat side by side."""

    visited_changed = Signal(list)
    t_changed = Signal(int)
    chain_ready = Signal()

    def __init__(self, parent: QWidget | None = None, auto_sample: bool = False, placeholder: str = NO_MODEL_TEXT, ready_text: str = READY_TEXT):
        super().__init__(parent)
        self.ready_text = ready_text  # the placeholder once the model is there
        self.model: Any = None
        self.chain: Chain | None = None
        self.auto_sample = auto_sample  # record a first chain by itself once the model is there and the view is shown
        self._auto_started = False
        self._auto_job = False  # the running job is the automatic first chain
        self.run_button = QPushButton("Run sampler")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        # Long (the chain's options, an export's path): it elides, full text in the tooltip, rather than widen every tab.
        self.info_label = ElidedLabel("")
        self.job = PanelJob(self, self.run_button, self.info_label, failure=None)
        self.job.progress.connect(self._on_progress)
        self.job.done.connect(self._on_done)
        self.job.failed.connect(self._on_failed)
        sampler_row, batch_row = self._build_sampler_rows([self.run_button, self.stop_button, self.progress])

        # the views
        self.xt_view = TopImageView(placeholder="Run the sampler to see x_t")
        self.eps_view = TopImageView(placeholder="eps_hat")
        self.x0_view = TopImageView(placeholder="x0_hat")
        images = QWidget()
        row = QHBoxLayout(images)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(titled("x_t (input of the step)", self.xt_view))
        row.addWidget(titled("eps_hat (predicted noise)", self.eps_view))
        row.addWidget(titled("x0_hat (predicted clean sample)", self.x0_view))

        self.plot = plot_widget("particles x_t (blue), x0_hat (orange), trajectories, field -eps_hat(x, t)")
        self.plot.setAspectLocked(True)
        self.field_item = pg.PlotDataItem(pen=pg.mkPen(120, 120, 120, 200, width=1), connect="pairs")
        self.x0_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(245, 150, 50, 110))
        self.particles = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(40, 90, 210, 190))
        self.trajectories = pg.PlotDataItem(pen=pg.mkPen(200, 40, 60, 220, width=1.5), connect="finite")
        self.show_field = QCheckBox("field")
        self.show_field.setChecked(True)
        self.show_field.setToolTip("Arrows of -eps_hat(x, t), the learned score direction, at the frame's t")
        for item in (self.field_item, self.x0_item, self.particles, self.trajectories):
            self.plot.addItem(item)
        self.placeholder = caption(placeholder)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setMargin(24)
        self.stack = QStackedWidget()
        self.stack.addWidget(images)
        self.stack.addWidget(self.plot)
        self.stack.addWidget(self.placeholder)  # until the first chain
        self.stack.setCurrentWidget(self.placeholder)

        # scrubbing
        self.back_button = QPushButton("◀")
        self.back_button.setToolTip("Previous step")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.forward_button = QPushButton("▶")
        self.forward_button.setToolTip("Next step")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Step of the cached reverse chain")
        self.speed_combo = QComboBox()
        for fps in SPEEDS_FPS:
            self.speed_combo.addItem(f"{fps} fps", fps)
        self.speed_combo.setCurrentIndex(3)
        # Its text changes length with every frame: it must not move the row's buttons while scrubbing.
        self.frame_label = ElidedLabel("no chain yet")
        self.frame_label.setMinimumWidth(self.frame_label.fontMetrics().horizontalAdvance("frame 1000 · step 1000 of 1000 · t = 999"))
        scrub = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.forward_button):
            w.setMaximumWidth(70)
            scrub.addWidget(w)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.speed_combo)
        export = self._build_export_row([self.frame_label, self.show_field])

        lay = QVBoxLayout(self)
        lay.addLayout(sampler_row)
        lay.addLayout(batch_row)
        lay.addWidget(self.info_label)
        lay.addWidget(self.stack, 1)
        lay.addLayout(scrub)
        lay.addLayout(export)

        self.timer = QTimer(self)
        self.timer.timeout.connect(self._tick)
        self.run_button.clicked.connect(self.run_sampler)
        self.stop_button.clicked.connect(self.stop_sampler)
        self.slider.valueChanged.connect(self.show_frame)
        self.back_button.clicked.connect(lambda: self.slider.setValue(self.slider.value() - 1))
        self.forward_button.clicked.connect(lambda: self.slider.setValue(self.slider.value() + 1))
        self.play_button.toggled.connect(self._on_play)
        self.speed_combo.currentIndexChanged.connect(lambda _: self._on_play(self.play_button.isChecked()))
        self.show_field.toggled.connect(lambda _: self.show_frame(self.slider.value()))
        self.sampler_combo.currentTextChanged.connect(self._sampler_changed)
        for w in (self.steps_spin, self.spacing_combo, self.sampler_combo):
            signal = w.valueChanged if isinstance(w, QSpinBox) else w.currentTextChanged
            signal.connect(lambda *_: self.visited_changed.emit(self.planned_timesteps()))
        self._set_scrub_enabled(False)
        self.setEnabled(False)

    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        self.is_image = model.data_info.kind == "image"
        if self.chain is not None:
            self.stack.setCurrentIndex(0 if self.is_image else 1)
        self.show_field.setVisible(not self.is_image)
        if first:
            self._fill_sampler_controls(model)
            if self.chain is None and not self.job.busy():
                self.placeholder.setText(self.ready_text)
        self.setEnabled(True)
        self._maybe_auto_sample()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self._maybe_auto_sample()

    def _maybe_auto_sample(self) -> None:
        """The first chain, without a click: once, when there is a model, no chain, and the view is on screen."""
        if not self.auto_sample or self._auto_started or self.model is None or self.chain is not None or self.job.busy() or not self.isVisible():
            return
        self._auto_started = True
        self.run_sampler()
        self._auto_job = True
        self.run_button.setEnabled(True)  # the user's own run supersedes the automatic one
        self.placeholder.setText("Sampling a first chain from the model with the controls above (the views appear when it is done)…")

    # -- running the sampler -------------------------------------------------------------
    def run_sampler(self) -> None:
        """Start recording a chain with the chosen options, replacing one in progress."""
        if self.model is None:
            return
        self.stop_sampler()
        self._auto_job = False
        model = self.model
        kwargs = {"n": self.n_spin.value(), "seed": self.seed_spin.value(), "options": self.sampler_options()}

        def record(state: JobState) -> Chain:
            return record_chain(model, should_stop=state.stop_requested, progress=lambda done, total: state.report((done, total)), **kwargs)

        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.job.start(record, "sampling…")

    def stop_sampler(self) -> None:
        """Interrupt the chain being recorded (it stops before its next network evaluation); the shown chain stays."""
        if self.job.busy():
            self.job.cancel()  # whatever the stopped run still reports is dropped
            self._reset_progress(0)
            self.info_label.setText("sampling stopped; the previous chain is kept")
            if self.chain is None:
                self.placeholder.setText(self.ready_text)
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def busy(self) -> bool:
        return self.job.busy()

    def _reset_progress(self, value: int) -> None:
        self.stop_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(value)

    def _on_progress(self, done_total: tuple[int, int]) -> None:
        done, total = done_total
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.info_label.setText(f"sampling… step {done} of {total}")

    def _on_failed(self, exc: object, _tb: str) -> None:
        self._reset_progress(0)
        if self.chain is None:
            self.placeholder.setText(self.ready_text)
        if isinstance(exc, ChainInterrupted):
            self.info_label.setText("sampling stopped; the previous chain is kept")
        elif isinstance(exc, ChainTooLarge):
            self.info_label.setText(str(exc).splitlines()[0])
        else:
            self.info_label.setText(f"sampling failed: {exc}".splitlines()[0])

    def _on_done(self, chain: Chain) -> None:
        self._reset_progress(1)
        auto, self._auto_job = self._auto_job, False
        self.set_chain(chain)
        if auto:
            self.info_label.setText(f"{self.info_label.text()} · sampled by itself from the model as it was; Run sampler samples the newest weights")

    def set_chain(self, chain: Chain) -> None:
        """Show a recorded chain (from the sampler task, or built directly by tests and benchmarks)."""
        self.chain = chain
        self.stack.setCurrentIndex(0 if chain.kind == "image" else 1)
        opts = ", ".join(f"{k} {v}" for k, v in chain.options.items() if k != "labels")
        self.info_label.setText(f"{chain.num_frames - 1} steps, {chain.nfe} network evaluations (NFE), seed {chain.seed}; {opts}")
        if chain.kind == "points":
            xr, yr = view_range(chain.extent, np.concatenate([chain.x_t[0], chain.x_t[-1]]))
            self.plot.setRange(xRange=xr, yRange=yr)
            k = min(TRAJECTORIES, chain.x_t.shape[1])
            self._traj_idx = np.linspace(0, chain.x_t.shape[1] - 1, k).astype(int)
        self._set_scrub_enabled(True)
        self.slider.blockSignals(True)
        self.slider.setRange(0, chain.num_frames - 1)
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.gif_stride.setValue(max(1, chain.num_frames // 100))
        self.visited_changed.emit(list(chain.visited))
        self.show_frame(0)
        self.chain_ready.emit()


    def _set_scrub_enabled(self, on: bool) -> None:
        for w in (self.back_button, self.play_button, self.forward_button, self.slider, self.speed_combo):
            w.setEnabled(on)
        self._set_export_enabled(on)

    # -- scrubbing --------------------------------------------------------------------------
    def show_frame(self, i: int) -> None:
        """Show cached frame ``i``: a lookup and an image upload, no network."""
        chain = self.chain
        if chain is None:
            return
        i = max(0, min(int(i), chain.num_frames - 1))
        t = chain.t[i]
        if chain.kind == "image":
            self.xt_view.set_array(chain.x_t[i])
            self.eps_view.set_array(chain.eps[i])
            self.x0_view.set_array(chain.x0[i])
        else:
            self.particles.setData(pos=chain.x_t[i])
            self.x0_item.setData(pos=chain.x0[i])
            idx = self._traj_idx
            path = chain.x_t[: i + 1, idx]  # frames x k x 2
            seg = trajectory_polylines(path)
            self.trajectories.setData(seg[:, 0], seg[:, 1])
            if chain.field is not None and self.show_field.isChecked():
                xs, ys = arrow_segments(chain.field_points, chain.field[i])
                self.field_item.setData(xs, ys)
            else:
                self.field_item.setData([], [])
        step_of = f"step {i + 1} of {chain.num_frames - 1}" if t >= 0 else "finished sample"
        level = f"t = {t}" if t >= 0 else "t = -1 (clean)"
        self.frame_label.setText(f"frame {i} · {step_of} · {level} · NFE so far {min(i + 1, chain.nfe) if t >= 0 else chain.nfe}")
        self.t_changed.emit(t)

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing and self.chain is not None:
            if self.slider.value() >= self.chain.num_frames - 1:
                self.slider.setValue(0)
            self.timer.start(int(1000 / self.speed_combo.currentData()))
        else:
            self.timer.stop()

    def _tick(self) -> None:
        if self.chain is None or self.slider.value() >= self.chain.num_frames - 1:
            self.play_button.setChecked(False)
            return
        self.slider.setValue(self.slider.value() + 1)
