"""The diffusion panel: scrub the forward and the reverse process of any ``Denoiser`` model, timestep by timestep.

What it teaches (Ho et al. 2020, "Denoising Diffusion Probabilistic Models";
Song et al. 2021, "Denoising Diffusion Implicit Models"):

- **Forward process.** x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
  (DDPM eq. 4): one dataset example (or the whole 2-D cloud), one fixed
  noise draw, and a slider over t, with alpha_bar_t and the signal-to-noise
  ratio alpha_bar / (1 - alpha_bar) read out, and a strip of x_t at evenly
  spaced t.
- **Reverse process.** A sampler (DDPM ancestral or DDIM; annealed Langevin
  for score models) runs once for a fixed seed on the thread pool and every
  step is cached (:mod:`.diffusion_frames`); the slider, play/pause, frame
  step and speed then only look frames up, so scrubbing costs one image
  upload (measured in ``benchmarks/diffusion_scrub.py``). x_t, the predicted
  noise eps_hat and the predicted clean sample x0_hat (DDPM eq. 15) sit side
  by side. On 2-D data: the particle cloud, a few trajectories, and the
  learned field -eps_hat(x, t) (the score direction) as arrows at the
  frame's t.
- **Compare samplers.** Two chains from one seed scrubbed together by the
  fraction of their walk (DDPM with all T steps against DDIM 50, 20, 10).
- **NFE versus quality.** Deterministic DDIM from one x_T at several step
  counts: MMD^2 to the data and the distance to the finest run, against the
  number of network evaluations.
- **Guidance sweep** (conditional models): every class at several
  classifier-free guidance scales from the same noise.
- **Schedules.** beta_t, alpha_bar_t and log SNR, with the timesteps the
  chosen sampler visits marked, and the t of the forward and reverse views.
- **Markov chain.** The intuition behind the forward process: a small
  transition matrix applied again and again forgets where it started and
  converges to its stationary distribution, as q(x_t | x_0) forgets x_0
  and converges to N(0, I).

Capability: registered for ``Denoiser``. The panel loads its own copy of the
model from the run's latest checkpoint (reloading on ``CheckpointSaved``),
never the training thread's.
"""

from __future__ import annotations

import math
import threading
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.capabilities import Conditional
from genstudio.core.events import CheckpointSaved
from genstudio.core.video import MP4_HOW_TO_ENABLE, VideoError, find_video_writer

from ..tasks import BackgroundCall
from ..widgets import ImageView, plot_widget, titled
from . import PanelContext, register_panel
from .diffusion_frames import (
    Chain,
    ChainInterrupted,
    ChainTooLarge,
    GuidanceSweep,
    NFECurve,
    guidance_sweep,
    images_grid,
    nfe_versus_quality,
    noise_picture,
    parse_scales,
    record_chain,
    save_chain_gif,
    save_chain_mp4,
    save_frame_png,
)

#: Examples of the dataset offered to the forward view (images) / points of the 2-D cloud.
FORWARD_EXAMPLES = 64
FORWARD_POINTS = 1000
#: Images in the forward strip.
STRIP_LENGTH = 8
#: Data examples the NFE-versus-quality scores compare samples against.
REFERENCE_SIZE = 1000
#: Trajectories drawn on 2-D data.
TRAJECTORIES = 8
SPEEDS_FPS = (2, 5, 10, 25, 50)


def schedule_curves(schedule: Any) -> list[tuple[str, np.ndarray]]:
    """(title, values over t) for the schedule plots: beta, alpha-bar and log SNR, or sigma and log SNR for score models."""
    snr = np.asarray(schedule.snr, dtype=np.float64)
    log_snr = np.log(np.clip(snr, 1e-30, None))
    if hasattr(schedule, "alpha_bar"):
        return [("beta_t", np.asarray(schedule.betas, np.float64)), ("alpha-bar_t", np.asarray(schedule.alpha_bar, np.float64)), ("log SNR_t", log_snr)]
    return [("sigma_t", np.asarray(schedule.sigmas, np.float64)), ("log SNR_t = -2 log sigma_t", log_snr)]


def forward_readout(schedule: Any, t: int) -> str:
    """One line of the forward-process quantities at ``t``."""
    snr = float(schedule.snr[t])
    parts = [f"t = {t}"]
    if hasattr(schedule, "alpha_bar"):
        ab = float(schedule.alpha_bar[t])
        parts += [f"alpha-bar = {ab:.4g}", f"sqrt(alpha-bar) = {math.sqrt(ab):.3f}", f"sqrt(1 - alpha-bar) = {math.sqrt(1 - ab):.3f}"]
    else:
        parts.append(f"sigma = {float(schedule.sigmas[t]):.4g}")
    parts += [f"SNR = {snr:.4g}", f"log SNR = {math.log(max(snr, 1e-30)):.2f}"]
    return "  ·  ".join(parts)


def view_range(extent: tuple[float, float, float, float] | None, points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges covering the data's extent and the bulk (2nd to 98th percentile) of ``points``.

    A model that is still learning puts samples far off the data; they stay
    in view, with the data's box for scale.
    """
    finite = points[np.isfinite(points).all(1)] if len(points) else points
    boxes = []
    if extent is not None:
        boxes.append((extent[0], extent[1], extent[2], extent[3]))
    if len(finite):
        lo, hi = np.percentile(finite, [2, 98], axis=0)
        boxes.append((float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])))
    if not boxes:
        return (-1.0, 1.0), (-1.0, 1.0)
    b = np.array(boxes)
    return (float(b[:, 0].min()), float(b[:, 1].max())), (float(b[:, 2].min()), float(b[:, 3].max()))


def stationary_distribution(P: np.ndarray) -> np.ndarray | None:
    """pi with pi P = pi, sum 1 (left eigenvector for eigenvalue 1); None when it is not unique."""
    vals, vecs = np.linalg.eig(P.T)
    ones = np.flatnonzero(np.abs(vals - 1) < 1e-8)
    if len(ones) != 1:
        return None
    v = np.real(vecs[:, ones[0]])
    v = v / v.sum()
    return v if (v >= -1e-12).all() else None


# -- background sampling ---------------------------------------------------------------


class _ChainSignals(QObject):
    progress = Signal(int, int, int)  # ticket, done, total
    done = Signal(int, object)
    failed = Signal(int, str)


class _ChainTask(QRunnable):
    """Runs :func:`record_chain` on the thread pool; stops between network evaluations when ``stop`` is set."""

    def __init__(self, ticket: int, model: Any, kwargs: dict[str, Any], signals: _ChainSignals):
        super().__init__()
        self.ticket, self.model, self.kwargs, self.signals = ticket, model, kwargs, signals
        self.stop = threading.Event()
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            chain = record_chain(self.model, should_stop=self.stop.is_set, progress=self._progress, **self.kwargs)
        except ChainInterrupted:
            self._emit(self.signals.failed, self.ticket, "stopped")
        except ChainTooLarge as e:
            self._emit(self.signals.failed, self.ticket, str(e))
        except Exception as e:  # shown in the panel, never lost in the pool
            self._emit(self.signals.failed, self.ticket, f"sampling failed: {e}\n{traceback.format_exc(limit=3)}")
        else:
            self._emit(self.signals.done, self.ticket, chain)

    def _progress(self, done: int, total: int) -> None:
        self._emit(self.signals.progress, self.ticket, done, total)

    @staticmethod
    def _emit(signal, *args: Any) -> None:
        try:
            signal.emit(*args)
        except RuntimeError:
            pass  # the panel was closed meanwhile


class TopImageView(ImageView):
    """An ImageView that draws its image at the top, right under its title, instead of centred in the free height."""

    def target_rect(self):
        r = super().target_rect()
        r.moveTop(0)
        return r


# -- the forward process -----------------------------------------------------------------


class ForwardView(QWidget):
    """q(x_t | x_0) for one example (images) or the dataset cloud (points), with a fixed noise draw."""

    t_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.noise: torch.Tensor | None = None
        self.example_spin = QSpinBox()
        self.example_spin.setToolTip("Which dataset example to noise")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of the noise eps (fixed while t moves, so x_t changes smoothly)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Timestep t of the forward process")
        self.readout = QLabel("waiting for the model")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.x0_view = ImageView(placeholder="x_0")
        self.noise_view = ImageView(placeholder="eps")
        self.xt_view = ImageView(placeholder="x_t")
        self.strip_view = ImageView(placeholder="x_t at evenly spaced t")
        self.strip_view.setMinimumHeight(80)
        images = QWidget()
        grid = QGridLayout(images)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(titled("x_0 (data)", self.x0_view), 0, 0)
        grid.addWidget(titled("eps (the noise added)", self.noise_view), 0, 1)
        grid.addWidget(titled("x_t = sqrt(alpha-bar) x_0 + sqrt(1 - alpha-bar) eps", self.xt_view), 0, 2)
        self.strip_label = QLabel("x_t at t = …")
        grid.addWidget(self.strip_label, 1, 0, 1, 3)
        grid.addWidget(self.strip_view, 2, 0, 1, 3)
        grid.setRowStretch(0, 3)
        grid.setRowStretch(2, 1)

        self.plot = plot_widget("x_t of the data cloud (grey: x_0)")
        self.plot.setAspectLocked(True)
        self.cloud0 = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(150, 150, 150, 90))
        self.cloud = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(40, 90, 210, 170))
        self.plot.addItem(self.cloud0)
        self.plot.addItem(self.cloud)
        self.stack = QStackedWidget()
        self.stack.addWidget(images)
        self.stack.addWidget(self.plot)

        controls = QHBoxLayout()
        self.example_label = QLabel("example")
        controls.addWidget(self.example_label)
        controls.addWidget(self.example_spin)
        controls.addWidget(QLabel("noise seed"))
        controls.addWidget(self.seed_spin)
        controls.addWidget(QLabel("t"))
        controls.addWidget(self.slider, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.readout)
        lay.addWidget(self.stack, 1)
        self.setEnabled(False)
        self.slider.valueChanged.connect(self._on_t)
        self.example_spin.valueChanged.connect(lambda _: self._redraw_all())
        self.seed_spin.valueChanged.connect(lambda _: self._new_noise())

    def set_model(self, model: Any, examples: torch.Tensor) -> None:
        """``examples``: data-space images (N x C x H x W) or the points of the cloud (N x 2)."""
        first = self.model is None
        self.model, self.examples = model, examples
        self.is_image = model.data_info.kind == "image"
        T = model.schedule.num_timesteps
        self.slider.setRange(0, T - 1)
        if first:
            self.slider.setValue(T // 4)
        self.example_spin.setRange(0, max(0, len(examples) - 1))
        for w in (self.example_spin, self.example_label):
            w.setVisible(self.is_image)
        self.stack.setCurrentIndex(0 if self.is_image else 1)
        if not self.is_image:
            pts = examples.numpy()
            self.cloud0.setData(pos=pts)
            if model.data_info.extent:
                x0, x1, y0, y1 = model.data_info.extent
                self.plot.setRange(xRange=(x0, x1), yRange=(y0, y1))
        self.setEnabled(True)
        self._new_noise()

    def _new_noise(self) -> None:
        if self.model is None:
            return
        g = torch.Generator().manual_seed(self.seed_spin.value())
        shape = self.examples.shape[1:] if self.is_image else self.examples.shape
        latent = getattr(self.model, "noise_shape", None)  # latent diffusion: the noise is a latent vector
        if latent is not None:
            shape = tuple(latent) if self.is_image else (len(self.examples), *latent)
        self.noise = torch.randn(tuple(shape), generator=g)
        self._redraw_all()

    def _x0(self) -> torch.Tensor:
        return self.examples[self.example_spin.value()][None] if self.is_image else self.examples

    def _xt(self, t: int) -> torch.Tensor:
        x0 = self._x0()
        noise = self.noise[None] if self.is_image else self.noise
        with torch.no_grad():
            return self.model.q_sample(x0, torch.full((len(x0),), t, dtype=torch.long), noise).cpu()

    def _redraw_all(self) -> None:
        if self.model is None or self.noise is None:
            return
        if self.is_image:
            self.x0_view.set_array(images_grid(self._x0(), 1))
            self.noise_view.set_array(images_grid(noise_picture(self.noise[None]), 1))
            T = self.model.schedule.num_timesteps
            ts = [int(round(v)) for v in np.linspace(0, T - 1, STRIP_LENGTH)]
            strip = torch.cat([self._xt(t) for t in ts])
            self.strip_view.set_array(images_grid(strip, len(ts)))
            self.strip_label.setText("x_t at t = " + ", ".join(map(str, ts)))
        self._on_t(self.slider.value())

    def _on_t(self, t: int) -> None:
        if self.model is None or self.noise is None:
            return
        self.readout.setText(forward_readout(self.model.schedule, t))
        xt = self._xt(t)
        if self.is_image:
            self.xt_view.set_array(images_grid(xt, 1))
        else:
            self.cloud.setData(pos=xt.numpy())
        self.t_changed.emit(t)


# -- the reverse process ------------------------------------------------------------------


class ReverseView(QWidget):
    """Run a sampler once, cache every step, scrub it: x_t, eps_hat and x0_hat side by side."""

    visited_changed = Signal(list)
    t_changed = Signal(int)
    chain_ready = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.chain: Chain | None = None
        self._task: _ChainTask | None = None
        self._ticket = 0
        self._signals = _ChainSignals(self)
        self._signals.progress.connect(self._on_progress)
        self._signals.done.connect(self._on_done)
        self._signals.failed.connect(self._on_failed)

        # sampler settings
        self.sampler_combo = QComboBox()
        self.steps_spin = QSpinBox()
        self.steps_spin.setToolTip("Network evaluations (timesteps visited); DDPM uses all T by default")
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM eta: 0 deterministic, 1 as noisy as DDPM's posterior (DDIM eq. 16)")
        self.spacing_combo = QComboBox()
        self.spacing_combo.setToolTip("How the visited timesteps are chosen out of 0..T-1")
        self.variance_combo = QComboBox()
        self.variance_combo.setToolTip("DDPM reverse variance: beta (fixed large) or beta_tilde (the posterior's)")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 4096)
        self.n_spin.setToolTip("Samples in the batch")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of x_T and of every noise draw: the same seed gives the same chain")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class to sample (conditional models)")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(1.0)
        self.guidance_spin.setToolTip("Classifier-free guidance scale: 0 unconditional, 1 conditional, above 1 guided")
        self.langevin_spin = QSpinBox()
        self.langevin_spin.setRange(1, 10000)
        self.langevin_spin.setToolTip("Annealed Langevin steps at each noise level (score models)")
        self.step_size_spin = QDoubleSpinBox()
        self.step_size_spin.setDecimals(8)
        self.step_size_spin.setRange(1e-8, 1.0)
        self.step_size_spin.setSingleStep(1e-5)
        self.step_size_spin.setToolTip("Langevin step size epsilon at the smallest noise level (alpha_i = epsilon sigma_i^2 / sigma_L^2)")
        self.clip_check = QCheckBox("clip x0_hat")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clip the predicted clean image to the data range [-1, 1] at every step (images)")
        self.run_button = QPushButton("Run sampler")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.info_label = QLabel("")

        self._extra_options: dict[str, tuple[QLabel, QWidget]] = {}
        # Two rows, so the tab fits the training view's width: how to sample, then what and when.
        sampler_row, batch_row = QHBoxLayout(), QHBoxLayout()
        for row, label, w in (
            (sampler_row, "sampler", self.sampler_combo),
            (sampler_row, "steps", self.steps_spin),
            (sampler_row, "eta", self.eta_spin),
            (sampler_row, "spacing", self.spacing_combo),
            (sampler_row, "variance", self.variance_combo),
            (sampler_row, "steps per level", self.langevin_spin),
            (sampler_row, "step size", self.step_size_spin),
            (batch_row, "n", self.n_spin),
            (batch_row, "seed", self.seed_spin),
            (batch_row, "class", self.class_combo),
            (batch_row, "guidance", self.guidance_spin),
        ):
            lab = QLabel(label)
            row.addWidget(lab)
            row.addWidget(w)
            self._extra_options[label] = (lab, w)
        sampler_row.addWidget(self.clip_check)
        sampler_row.addStretch(1)
        for name in ("steps per level", "step size", "class", "guidance"):  # shown by set_model for models that take them
            for w in self._extra_options[name]:
                w.setVisible(False)
        batch_row.addWidget(self.run_button)
        batch_row.addWidget(self.stop_button)
        batch_row.addWidget(self.progress)
        batch_row.addStretch(1)

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
        self.stack = QStackedWidget()
        self.stack.addWidget(images)
        self.stack.addWidget(self.plot)

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
        self.frame_label = QLabel("no chain yet")
        self.gif_button = QPushButton("Export GIF…")
        self.png_button = QPushButton("Save frame PNG…")
        self.mp4_button = QPushButton("Export MP4…")
        self.video_writer = find_video_writer()
        self.mp4_button.setToolTip(
            f"Export the chain as an MP4 video (every k-th step, like the GIF; encoder: {self.video_writer.source})"
            if self.video_writer is not None
            else MP4_HOW_TO_ENABLE
        )
        self.gif_stride = QSpinBox()
        self.gif_stride.setRange(1, 1000)
        self.gif_stride.setPrefix("every ")
        self.gif_stride.setSuffix(" steps")
        self.gif_stride.setToolTip("Frames of the GIF and the MP4: every k-th step, always ending on the finished sample")
        scrub = QHBoxLayout()
        for w in (self.back_button, self.play_button, self.forward_button):
            w.setMaximumWidth(70)
            scrub.addWidget(w)
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.speed_combo)
        export = QHBoxLayout()
        export.addWidget(self.frame_label, 1)
        for w in (self.show_field, self.gif_stride, self.gif_button, self.mp4_button, self.png_button):
            export.addWidget(w)

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
        self.gif_button.clicked.connect(self._gif_dialog)
        self.png_button.clicked.connect(self._png_dialog)
        self.mp4_button.clicked.connect(self._mp4_dialog)
        self.sampler_combo.currentTextChanged.connect(self._sampler_changed)
        for w in (self.steps_spin, self.spacing_combo, self.sampler_combo):
            signal = w.valueChanged if isinstance(w, QSpinBox) else w.currentTextChanged
            signal.connect(lambda *_: self.visited_changed.emit(self.planned_timesteps()))
        self._set_scrub_enabled(False)
        self.setEnabled(False)

    # -- the model and its options -----------------------------------------------------
    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        self.is_image = model.data_info.kind == "image"
        self.stack.setCurrentIndex(0 if self.is_image else 1)
        self.show_field.setVisible(not self.is_image)
        if first:
            options = model.sample_options()
            choices = model.sample_choices() if hasattr(model, "sample_choices") else {}
            T = model.schedule.num_timesteps
            for name, combo in (("sampler", self.sampler_combo), ("spacing", self.spacing_combo), ("variance", self.variance_combo)):
                values = choices.get(name, ())
                combo.blockSignals(True)
                combo.clear()
                combo.addItems([str(v) for v in values])
                combo.blockSignals(False)
                label, widget = self._extra_options[name]
                label.setVisible(bool(values) and name in options)
                widget.setVisible(bool(values) and name in options)
            self.steps_spin.setRange(1, T)
            for name in ("steps", "eta"):
                label, widget = self._extra_options[name]
                label.setVisible(name in options)
                widget.setVisible(name in options)
            # DDIM 50 (or fewer) is the fast, near-full-quality default (DDIM paper, table 1).
            if "ddim" in choices.get("sampler", ()):
                self.sampler_combo.setCurrentText("ddim")
            self.steps_spin.setValue(min(50, T) if "steps" in options else 1)
            if "spacing" in options:
                self.spacing_combo.setCurrentText(str(options["spacing"]))
            if "variance" in options:
                self.variance_combo.setCurrentText(str(options["variance"]))
            self.eta_spin.setValue(float(options.get("eta", 0.0)))
            for name, key, widget in (("steps per level", "steps_per_level", self.langevin_spin), ("step size", "step_size", self.step_size_spin)):
                label, _ = self._extra_options[name]
                label.setVisible(key in options)
                widget.setVisible(key in options)
                if key in options:
                    widget.setValue(options[key])
            self.n_spin.setValue(16 if self.is_image else 500)
            conditional = isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0
            self.class_combo.clear()
            if conditional:
                names = model.data_info.class_names
                self.class_combo.addItem("unconditional", -1)
                for k in range(model.num_classes):
                    self.class_combo.addItem(f"{k}: {names[k]}" if k < len(names) else str(k), k)
                self.class_combo.setCurrentIndex(1)
            for name in ("class", "guidance"):
                label, widget = self._extra_options[name]
                label.setVisible(conditional)
                widget.setVisible(conditional)
            self.clip_check.setVisible(self.is_image and "clip_x0" in options)
            self.clip_check.setChecked(bool(options.get("clip_x0", True)))
            self._sampler_changed(self.sampler_combo.currentText())
        self.setEnabled(True)

    def _sampler_changed(self, sampler: str) -> None:
        self.eta_spin.setEnabled(sampler == "ddim")
        self.spacing_combo.setEnabled(True)
        self.variance_combo.setEnabled(sampler == "ddpm")
        if sampler == "ddpm" and self.model is not None and self.steps_spin.value() < self.model.schedule.num_timesteps and self.chain is None:
            self.steps_spin.setValue(self.model.schedule.num_timesteps)

    def sampler_options(self) -> dict[str, Any]:
        """The keyword arguments for ``denoise_steps`` chosen in the controls."""
        options = self.model.sample_options()
        out: dict[str, Any] = {}
        if "sampler" in options and self.sampler_combo.count():
            out["sampler"] = self.sampler_combo.currentText()
        if "steps" in options:
            out["steps"] = self.steps_spin.value()
        if "eta" in options and out.get("sampler") == "ddim":
            out["eta"] = self.eta_spin.value()
        if "spacing" in options and self.spacing_combo.count():
            out["spacing"] = self.spacing_combo.currentText()
        if "variance" in options and out.get("sampler") == "ddpm" and self.variance_combo.count():
            out["variance"] = self.variance_combo.currentText()
        if "clip_x0" in options and self.is_image:
            out["clip_x0"] = self.clip_check.isChecked()
        if "steps_per_level" in options:
            out["steps_per_level"] = self.langevin_spin.value()
        if "step_size" in options:
            out["step_size"] = self.step_size_spin.value()
        if self.class_combo.isVisibleTo(self) and self.class_combo.count():
            label = self.class_combo.currentData()
            if label is not None and label >= 0:
                out["labels"] = torch.full((self.n_spin.value(),), int(label), dtype=torch.long)
                out["guidance_scale"] = self.guidance_spin.value()
        return out

    def planned_timesteps(self) -> list[int]:
        """The timesteps the chosen sampler will visit (for the schedule plots)."""
        if self.model is None:
            return []
        planner = getattr(self.model, "visited_timesteps", None)
        if planner is not None:
            opts = {k: v for k, v in self.sampler_options().items() if k in ("sampler", "steps", "spacing")}
            try:
                return list(planner(**opts))
            except ValueError:
                return []
        from genstudio.models.diffusion.samplers import select_timesteps

        try:
            return select_timesteps(self.model.schedule.num_timesteps, self.steps_spin.value(), self.spacing_combo.currentText() or "trailing")
        except ValueError:
            return []

    # -- running the sampler -------------------------------------------------------------
    def run_sampler(self) -> None:
        """Start recording a chain with the chosen options, replacing one in progress."""
        if self.model is None:
            return
        self.stop_sampler()
        self._ticket += 1
        kwargs = {"n": self.n_spin.value(), "seed": self.seed_spin.value(), "options": self.sampler_options()}
        self._task = _ChainTask(self._ticket, self.model, kwargs, self._signals)
        self.run_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.info_label.setText("sampling…")
        QThreadPool.globalInstance().start(self._task)

    def stop_sampler(self) -> None:
        """Interrupt the chain being recorded (it stops before its next network evaluation); the shown chain stays."""
        if self._task is not None:
            self._task.stop.set()
            self._task = None
            self._ticket += 1  # whatever the stopped task still reports is dropped
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.info_label.setText("sampling stopped; the previous chain is kept")
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def busy(self) -> bool:
        return self._task is not None

    def _on_progress(self, ticket: int, done: int, total: int) -> None:
        if ticket != self._ticket:
            return
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.info_label.setText(f"sampling… step {done} of {total}")

    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket != self._ticket:
            return
        self._task = None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.info_label.setText("sampling stopped; the previous chain is kept" if message == "stopped" else message.splitlines()[0])

    def _on_done(self, ticket: int, chain: Chain) -> None:
        if ticket != self._ticket:
            return
        self._task = None
        self.run_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.set_chain(chain)

    def set_chain(self, chain: Chain) -> None:
        """Show a recorded chain (from the sampler task, or built directly by tests and benchmarks)."""
        self.chain = chain
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
        for w in (self.back_button, self.play_button, self.forward_button, self.slider, self.speed_combo, self.gif_button, self.png_button, self.gif_stride):
            w.setEnabled(on)
        # Without an encoder the button stays disabled; its tooltip says what to install.
        self.mp4_button.setEnabled(on and self.video_writer is not None)

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
            # One polyline per particle, separated by NaN (connect="finite").
            seg = np.concatenate([path.transpose(1, 0, 2), np.full((len(idx), 1, 2), np.nan, np.float32)], 1).reshape(-1, 2)
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

    # -- export ------------------------------------------------------------------------------
    def export_gif(self, path: str | Path, stride: int | None = None) -> int:
        """Write the cached chain as a GIF; returns its number of frames."""
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        fps = float(self.speed_combo.currentData())
        return save_chain_gif(self.chain, path, stride or self.gif_stride.value(), fps=fps)

    def export_mp4(self, path: str | Path, stride: int | None = None) -> int:
        """Write the cached chain as an MP4 through ffmpeg; returns its number of chain frames."""
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        if self.video_writer is None:
            raise VideoError(MP4_HOW_TO_ENABLE)
        fps = float(self.speed_combo.currentData())
        return save_chain_mp4(self.chain, path, stride or self.gif_stride.value(), fps=fps, writer=self.video_writer)

    def export_png(self, path: str | Path) -> Path:
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        return save_frame_png(self.chain, self.slider.value(), path)

    def _gif_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the chain as a GIF", "diffusion_chain.gif", "GIF (*.gif)")
        if path:
            try:
                n = self.export_gif(path)
                self.info_label.setText(f"wrote {n} frames to {path}")
            except OSError as e:
                self.info_label.setText(f"could not write '{path}': {e}")

    def _mp4_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export the chain as an MP4 video", "diffusion_chain.mp4", "MP4 video (*.mp4)")
        if path:
            try:
                n = self.export_mp4(path)
                self.info_label.setText(f"wrote {n} frames to {path}")
            except (OSError, VideoError) as e:
                self.info_label.setText(f"could not write '{path}': {e}")

    def _png_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save this frame as a PNG", f"diffusion_frame_{self.slider.value()}.png", "PNG (*.png)")
        if path:
            try:
                self.export_png(path)
                self.info_label.setText(f"wrote {path}")
            except OSError as e:
                self.info_label.setText(f"could not write '{path}': {e}")


def arrow_segments(points: np.ndarray, vectors: np.ndarray, cell_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (for ``connect='pairs'``) drawing an arrow per point; the longest arrow spans ``cell_fraction`` of a lattice cell.

    Lengths are scaled together, so the field's relative strength shows.
    """
    side = int(round(math.sqrt(len(points))))
    span = max(points[:, 0].max() - points[:, 0].min(), points[:, 1].max() - points[:, 1].min())
    cell = span / max(side - 1, 1)
    norms = np.linalg.norm(vectors, axis=1)
    scale = cell_fraction * cell / max(float(np.nanmax(norms)), 1e-12)
    v = vectors * scale
    tips = points + v
    # Two barbs, each a quarter of the arrow's length, at +-150 degrees from its direction.
    c, s = math.cos(math.radians(150)), math.sin(math.radians(150))
    left = tips + 0.3 * np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], 1)
    right = tips + 0.3 * np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1]], 1)
    segs = np.stack([points, tips, tips, left, tips, right], 1).reshape(-1, 2)
    return segs[:, 0], segs[:, 1]


# -- the schedule plots ---------------------------------------------------------------------


class ScheduleView(QWidget):
    """beta_t, alpha-bar_t and log SNR_t (or sigma_t for score models) with the visited timesteps marked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots: list[pg.PlotWidget] = []
        self.curves: list[tuple[str, np.ndarray]] = []
        self.marks: list[pg.ScatterPlotItem] = []
        self.lines: list[pg.InfiniteLine] = []
        self.visited: list[int] = []
        self.note = QLabel("")
        self.row = QHBoxLayout()
        lay = QVBoxLayout(self)
        lay.addLayout(self.row, 1)
        lay.addWidget(self.note)

    def set_schedule(self, schedule: Any) -> None:
        for p in self.plots:
            p.setParent(None)
            p.deleteLater()
        self.plots, self.marks, self.lines = [], [], []
        self.curves = schedule_curves(schedule)
        for title, values in self.curves:
            p = plot_widget(title)
            p.setLabel("bottom", "t")
            p.plot(np.arange(len(values)), values, pen=pg.mkPen(40, 110, 200, width=2))
            mark = pg.ScatterPlotItem(size=6, pen=None, brush=pg.mkBrush(220, 70, 40, 220))
            p.addItem(mark)
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(90, 170, 90, width=1.5))
            p.addItem(line)
            self.plots.append(p)
            self.marks.append(mark)
            self.lines.append(line)
            self.row.addWidget(p)
        self.set_visited(self.visited)

    def set_visited(self, timesteps: list[int]) -> None:
        self.visited = [t for t in timesteps if t >= 0]
        for (_, values), mark in zip(self.curves, self.marks):
            ts = np.array([t for t in self.visited if t < len(values)], dtype=int)
            mark.setData(ts, values[ts] if len(ts) else [])
        if self.visited:
            self.note.setText(
                f"red: the {len(set(self.visited))} timesteps the sampler visits ({self.visited[0]} … {self.visited[-1]}, "
                f"{len(self.visited)} network evaluations); green: the t shown"
            )

    def set_t(self, t: int) -> None:
        for line in self.lines:
            line.setValue(max(t, 0))


# -- comparing two samplers -------------------------------------------------------------------


class CompareView(QWidget):
    """Two reverse chains from the same seed, one above the other, scrubbed together by the fraction of the walk.

    The classic comparison: DDPM with all T steps against DDIM with 50, 20 or
    10 (DDIM paper, table 1): x0_hat sharpens much earlier in the DDIM chain.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.a = ReverseView()
        self.b = ReverseView()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setToolTip("How far through both chains (the same fraction of each walk)")
        self.fraction_label = QLabel("run both samplers, then scrub them together")
        self.run_both = QPushButton("Run both")
        self.run_both.setToolTip("Run both samplers from the same seed and n (those of the upper chain)")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Walk both chains together, from pure noise to the finished samples")
        # One slider drives both chains: their own scrub controls would only disagree with it, and the
        # images get the room. The lower chain takes n and the seed of the upper one.
        for view in (self.a, self.b):
            for w in (view.back_button, view.play_button, view.forward_button, view.slider, view.speed_combo):
                w.hide()
        for name in ("n", "seed"):
            for w in self.b._extra_options[name]:
                w.hide()
        bar = QHBoxLayout()
        bar.addWidget(self.run_both)
        bar.addWidget(self.play_button)
        bar.addWidget(QLabel("progress through both chains"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.fraction_label)
        lay = QVBoxLayout(self)
        lay.addWidget(self.a, 1)
        lay.addWidget(self.b, 1)
        lay.addLayout(bar)
        self.timer = QTimer(self)
        self.timer.setInterval(40)
        self.timer.timeout.connect(self._tick)
        self.slider.valueChanged.connect(self.show_fraction)
        self.run_both.clicked.connect(self.run)
        self.play_button.toggled.connect(self._on_play)
        self.setEnabled(False)

    def set_model(self, model: Any) -> None:
        first = self.a.model is None
        self.a.set_model(model)
        self.b.set_model(model)
        if first:
            T = model.schedule.num_timesteps
            if self.a.sampler_combo.findText("ddpm") >= 0:
                self.a.sampler_combo.setCurrentText("ddpm")
                self.a.steps_spin.setValue(T)
            for view in (self.a, self.b):
                view.n_spin.setValue(8 if view.is_image else 300)
        self.setEnabled(True)

    def run(self) -> None:
        self.b.seed_spin.setValue(self.a.seed_spin.value())
        self.b.n_spin.setValue(self.a.n_spin.value())
        self.a.run_sampler()
        self.b.run_sampler()

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.timer.start()
        else:
            self.timer.stop()

    def _tick(self) -> None:
        # 0.5% of the walk per 40 ms tick: any pair of chains plays in 8 s.
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.slider.setValue(min(self.slider.maximum(), self.slider.value() + 5))

    def show_fraction(self, value: int) -> None:
        f = value / self.slider.maximum()
        shown = []
        for view in (self.a, self.b):
            if view.chain is not None:
                i = int(round(f * (view.chain.num_frames - 1)))
                view.slider.setValue(i)
                shown.append(f"t = {view.chain.t[i]}")
        self.fraction_label.setText(f"{100 * f:.0f}% · " + " | ".join(shown) if shown else "run both samplers first")

    def shutdown(self) -> None:
        self.timer.stop()
        for view in (self.a, self.b):
            view.stop_sampler()
            view.timer.stop()


# -- the guidance sweep ---------------------------------------------------------------------------


class GuidanceSweepView(QWidget):
    """One grid of samples across guidance scales, every class, one seed (Ho & Salimans 2022, figure 1)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.sweep: GuidanceSweep | None = None
        self.scales_edit = QLineEdit("0, 1, 2, 4, 8")
        self.scales_edit.setToolTip("Guidance scales s, separated by commas: 0 unconditional, 1 conditional, above 1 guided")
        self.per_class = QSpinBox()
        self.per_class.setRange(1, 200)
        self.per_class.setValue(2)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 4000)
        self.steps_spin.setValue(20)
        self.steps_spin.setToolTip("DDIM steps per sample")
        self.run_button = QPushButton("Run sweep")
        self.message = QLabel("")
        controls = QHBoxLayout()
        for label, w in (("scales", self.scales_edit), ("per class", self.per_class), ("seed", self.seed_spin), ("DDIM steps", self.steps_spin)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        self.image_view = ImageView(placeholder="Run the sweep: one row per guidance scale, every class in each row")
        self.points_row = QWidget()
        self.points_layout = QHBoxLayout(self.points_row)
        self.points_layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.image_view)
        self.stack.addWidget(self.points_row)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.message)
        lay.addWidget(self.stack, 1)
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(lambda _t, exc, _tb: self._finish(f"sweep failed: {exc}"))
        self.run_button.clicked.connect(self.run)
        self._ticket = 0
        self.plots: list[pg.PlotWidget] = []

    def set_model(self, model: Any) -> None:
        self.model = model
        self.stack.setCurrentIndex(0 if model.data_info.kind == "image" else 1)
        self.steps_spin.setMaximum(model.schedule.num_timesteps)
        self.steps_spin.setValue(min(self.steps_spin.value(), model.schedule.num_timesteps))
        if model.data_info.kind != "image":
            self.per_class.setValue(max(self.per_class.value(), 100))

    def run(self) -> None:
        if self.model is None:
            return
        try:
            scales = parse_scales(self.scales_edit.text())
        except ValueError as e:
            self.message.setText(str(e))
            return
        model, per, seed = self.model, self.per_class.value(), self.seed_spin.value()
        options = {"sampler": "ddim", "steps": self.steps_spin.value()}
        self.run_button.setEnabled(False)
        self.message.setText(f"sampling {len(scales)} scales x {model.num_classes} classes x {per}…")
        self._ticket = self.call.start(lambda: guidance_sweep(model, scales, per, seed, options))

    def _finish(self, text: str) -> None:
        self.run_button.setEnabled(True)
        self.message.setText(text)

    def _on_done(self, ticket: int, sweep: GuidanceSweep) -> None:
        if ticket != self._ticket:
            return
        self.sweep = sweep
        self._finish(f"rows: guidance scale {', '.join(f'{s:g}' for s in sweep.scales)}; columns: classes 0..{self.model.num_classes - 1}; seed {self.seed_spin.value()}")
        if sweep.images is not None:
            row_h = (sweep.images.shape[0] - 1) / len(sweep.scales)
            captions = [(1, int(1 + i * row_h), 30, 10, f"s={s:g}") for i, s in enumerate(sweep.scales)]
            self.image_view.set_array(sweep.images, captions)
            return
        for p in self.plots:
            p.setParent(None)
            p.deleteLater()
        self.plots = []
        colours = [pg.intColor(k, hues=max(self.model.num_classes, 2), alpha=170) for k in range(self.model.num_classes)]
        brushes = [pg.mkBrush(colours[k]) for k in sweep.labels]
        for s, pts in zip(sweep.scales, sweep.points):
            p = plot_widget(f"s = {s:g}")
            p.setAspectLocked(True)
            p.addItem(pg.ScatterPlotItem(pos=pts, size=4, pen=None, brush=brushes))
            xr, yr = view_range(self.model.data_info.extent, pts)
            p.setRange(xRange=xr, yRange=yr)
            self.points_layout.addWidget(p)
            self.plots.append(p)


# -- NFE versus quality ----------------------------------------------------------------------------


class NFEQualityView(QWidget):
    """How sample quality falls as DDIM steps drop: one x_T, several step counts, two scores against NFE."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.reference: torch.Tensor | None = None
        self.curve: NFECurve | None = None
        self.steps_edit = QLineEdit("2, 5, 10, 20, 50, 100")
        self.steps_edit.setToolTip("DDIM step counts (network evaluations), separated by commas; the largest is the reference run")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(8, 4096)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.run_button = QPushButton("Run")
        self.message = QLabel("DDIM with eta 0 from one x_T at each step count. MMD² to the data (in pixel space for images) and "
                              "the RMS distance to the run with the most steps, against the number of network evaluations.")
        self.message.setWordWrap(True)
        controls = QHBoxLayout()
        for label, w in (("DDIM steps", self.steps_edit), ("n", self.n_spin), ("seed", self.seed_spin)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addWidget(self.run_button)
        controls.addStretch(1)
        self.mmd_plot = plot_widget("MMD² to the data")
        self.rms_plot = plot_widget("RMS distance to the finest run")
        for p in (self.mmd_plot, self.rms_plot):
            p.setLabel("bottom", "network evaluations (NFE)")
            p.setLogMode(x=True, y=False)
        self.mmd_curve = self.mmd_plot.plot(pen=pg.mkPen(40, 110, 200, width=2), symbol="o", symbolSize=7)
        self.rms_curve = self.rms_plot.plot(pen=pg.mkPen(220, 90, 40, width=2), symbol="o", symbolSize=7)
        plots = QHBoxLayout()
        plots.addWidget(self.mmd_plot)
        plots.addWidget(self.rms_plot)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.message)
        lay.addLayout(plots, 1)
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(lambda _t, exc, _tb: self._finish(f"failed: {exc}"))
        self.run_button.clicked.connect(self.run)
        self._ticket = 0

    def set_model(self, model: Any, reference: torch.Tensor) -> None:
        first = self.model is None
        self.model, self.reference = model, reference
        if first:
            T = model.schedule.num_timesteps
            counts = [c for c in (2, 5, 10, 20, 50, 100, 200, 1000) if c <= T]
            self.steps_edit.setText(", ".join(map(str, counts)))
            self.n_spin.setValue(64 if model.data_info.kind == "image" else 500)

    def run(self) -> None:
        if self.model is None:
            return
        try:
            counts = [int(v) for v in parse_scales(self.steps_edit.text())]
        except ValueError as e:
            self.message.setText(str(e).replace("guidance scale", "step count"))
            return
        model, ref, n, seed = self.model, self.reference, self.n_spin.value(), self.seed_spin.value()
        self.run_button.setEnabled(False)
        self.message.setText(f"sampling {len(counts)} runs of {n}…")
        self._ticket = self.call.start(lambda: nfe_versus_quality(model, ref, counts, n, seed))

    def _finish(self, text: str) -> None:
        self.run_button.setEnabled(True)
        self.message.setText(text)

    def _on_done(self, ticket: int, curve: NFECurve) -> None:
        if ticket != self._ticket:
            return
        self.curve = curve
        self.mmd_curve.setData(curve.nfe, curve.mmd2)
        self.rms_curve.setData(curve.nfe, curve.rms_to_finest)
        rows = ", ".join(f"{s}: MMD² {m:.4f}" for s, m in zip(curve.steps, curve.mmd2))
        self._finish(f"DDIM eta 0, seed {self.seed_spin.value()}, n {self.n_spin.value()} · {rows}")


# -- the Markov chain intuition -------------------------------------------------------------


class MarkovChainView(QWidget):
    """Edit a 3-state transition matrix and watch p_k = p_0 P^k converge to the stationary distribution."""

    DEFAULT = np.array([[0.9, 0.075, 0.025], [0.15, 0.8, 0.05], [0.25, 0.25, 0.5]])
    STEPS = 40

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        n = len(self.DEFAULT)
        self.table = QTableWidget(n, n)
        self.table.setHorizontalHeaderLabels([f"to {k}" for k in range(n)])
        self.table.setVerticalHeaderLabels([f"from {k}" for k in range(n)])
        self.table.setToolTip("Transition probabilities; each row is rescaled to sum to 1")
        self.table.setMaximumWidth(300)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(self.table.horizontalHeader().sizeHint().height() + n * 30 + 4)
        self.start_combo = QComboBox()
        for k in range(n):
            self.start_combo.addItem(f"start in state {k}", k)
        self.reset_button = QPushButton("Reset matrix")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.plot = plot_widget("p_k(state) = (p_0 P^k)(state); dashed: stationary pi")
        self.plot.setLabel("bottom", "step k")
        self.plot.addLegend()
        colours = [(40, 110, 200), (220, 90, 40), (60, 160, 80)]
        self.curves = [self.plot.plot(pen=pg.mkPen(c, width=2), name=f"state {k}") for k, c in enumerate(colours)]
        self.stationary_lines = [pg.InfiniteLine(angle=0, pen=pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine)) for c in colours]
        for line in self.stationary_lines:
            self.plot.addItem(line)
        left = QVBoxLayout()
        explain = QLabel(
            "The forward process is a Markov chain too: each step forgets a little of where it started, and "
            "q(x_t | x_0) converges to N(0, I) whatever x_0 was. Here a 3-state chain does the same."
        )
        explain.setWordWrap(True)
        explain.setMaximumWidth(300)
        left.addWidget(explain)
        left.addWidget(self.table)
        left.addWidget(self.start_combo)
        left.addWidget(self.reset_button)
        left.addWidget(self.result)
        left.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addWidget(self.plot, 1)
        self.reset_button.clicked.connect(self.reset)
        self.table.itemChanged.connect(lambda _: self.update_chain())
        self.start_combo.currentIndexChanged.connect(lambda _: self.update_chain())
        self.reset()

    def reset(self) -> None:
        self.set_matrix(self.DEFAULT)

    def set_matrix(self, P: np.ndarray) -> None:
        self.table.blockSignals(True)
        for i in range(P.shape[0]):
            for j in range(P.shape[1]):
                self.table.setItem(i, j, QTableWidgetItem(f"{P[i, j]:.3g}"))
        self.table.blockSignals(False)
        self.update_chain()

    def matrix(self) -> np.ndarray | None:
        """The edited matrix with rows normalised, or None (with the reason shown) when an entry is invalid."""
        n = self.table.rowCount()
        P = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                item = self.table.item(i, j)
                try:
                    P[i, j] = float(item.text()) if item is not None else 0.0
                except ValueError:
                    self.result.setText(f"entry ({i}, {j}) is not a number: '{item.text()}'")
                    return None
        if (P < 0).any():
            self.result.setText("probabilities cannot be negative")
            return None
        sums = P.sum(1, keepdims=True)
        if (sums <= 0).any():
            self.result.setText("every row needs a positive entry")
            return None
        return P / sums

    def update_chain(self) -> None:
        P = self.matrix()
        if P is None:
            return
        p = np.zeros(len(P))
        p[self.start_combo.currentData() or 0] = 1.0
        history = [p]
        for _ in range(self.STEPS):
            p = p @ P
            history.append(p)
        h = np.stack(history)
        for k, curve in enumerate(self.curves):
            curve.setData(np.arange(len(h)), h[:, k])
        pi = stationary_distribution(P)
        if pi is None:
            for line in self.stationary_lines:
                line.hide()
            self.result.setText("this chain has no unique stationary distribution (it is reducible): where it ends depends on where it starts")
            return
        for line, v in zip(self.stationary_lines, pi):
            line.setValue(float(v))
            line.show()
        tv = 0.5 * np.abs(h[-1] - pi).sum()
        self.result.setText(
            "stationary pi = (" + ", ".join(f"{v:.3f}" for v in pi) + f")\ntotal variation to pi after {self.STEPS} steps: {tv:.2e}"
        )


# -- the panel --------------------------------------------------------------------------------


def _load(run_dir: Path) -> tuple[Any, int, torch.Tensor, torch.Tensor]:
    """The run's model (own copy, CPU) at its latest checkpoint, the examples for the forward view, and reference data for scores."""
    from genstudio.core.engine import load_run_model
    from genstudio.data.dataset import load_dataset

    from ..images import pick_examples

    model, spec, step = load_run_model(run_dir, device="cpu")
    ds = load_dataset(spec.run.dataset, spec.data)
    if model.data_info.kind == "image":
        idx = pick_examples(ds.y.numpy(), FORWARD_EXAMPLES, seed=0)
        examples = ds.get(torch.as_tensor(idx)).x.float()
    else:
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(ds), generator=g)[:FORWARD_POINTS]
        examples = ds.get(idx).x.float()
    g = torch.Generator().manual_seed(1)
    reference = ds.get(torch.randperm(len(ds), generator=g)[:REFERENCE_SIZE]).x.float()
    return model, step, examples, reference


class DiffusionPanel(QWidget):
    """The Diffusion tab: forward process, reverse process, schedules, Markov chain."""

    model_loaded = Signal()

    def __init__(self, ctx: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.model: Any = None
        self.step: int | None = None
        self.status = QLabel("loading the model from the run's latest checkpoint…")
        self.forward = ForwardView()
        self.reverse = ReverseView()
        self.compare = CompareView()
        self.schedule_view = ScheduleView()
        self.sweep = GuidanceSweepView()
        self.nfe_view = NFEQualityView()
        self.markov = MarkovChainView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.forward, "Forward process")
        self.tabs.addTab(self.reverse, "Reverse process")
        self.tabs.addTab(self.compare, "Compare samplers")
        self.tabs.addTab(self.schedule_view, "Schedule")
        self.tabs.addTab(self.sweep, "Guidance sweep")
        self.tabs.addTab(self.nfe_view, "NFE vs quality")
        self.tabs.addTab(self.markov, "Markov chain")
        self.tabs.setTabVisible(self.tabs.indexOf(self.sweep), False)
        self.tabs.setTabVisible(self.tabs.indexOf(self.nfe_view), False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)
        self.loader = BackgroundCall(self)
        self.loader.done.connect(self._on_loaded)
        self.loader.failed.connect(self._on_load_failed)
        self._load_ticket = 0
        self.reverse.visited_changed.connect(self.schedule_view.set_visited)
        self.reverse.t_changed.connect(self.schedule_view.set_t)
        self.forward.t_changed.connect(self.schedule_view.set_t)
        self.reload()

    def reload(self) -> None:
        """Load (again) the latest checkpoint on the thread pool."""
        if self.ctx.run_dir is None:
            self.status.setText("no run folder: train or open a run to look inside its diffusion")
            return
        run_dir = Path(self.ctx.run_dir)
        self._load_ticket = self.loader.start(lambda: _load(run_dir))

    def _on_loaded(self, ticket: int, result: tuple) -> None:
        if ticket != self._load_ticket:
            return
        model, step, examples, reference = result
        model.eval()
        self.model, self.step = model, step
        self.forward.set_model(model, examples)
        self.reverse.set_model(model)
        self.compare.set_model(model)
        if "ddim" in (model.sample_choices() if hasattr(model, "sample_choices") else {}).get("sampler", ()):
            self.nfe_view.set_model(model, reference)
            self.tabs.setTabVisible(self.tabs.indexOf(self.nfe_view), True)
        if isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0:
            self.sweep.set_model(model)
            self.tabs.setTabVisible(self.tabs.indexOf(self.sweep), True)
        self.schedule_view.set_schedule(model.schedule)
        self.schedule_view.set_visited(self.reverse.planned_timesteps())
        self.schedule_view.set_t(self.forward.slider.value())
        name = type(model).__name__
        self.status.setText(f"{name} at checkpoint step {step} · T = {model.schedule.num_timesteps} · schedule {getattr(model.schedule, 'name', '')}")
        self.model_loaded.emit()

    def _on_load_failed(self, ticket: int, exc: object, tb: str) -> None:
        if ticket != self._load_ticket:
            return
        if self.ctx.live and self.model is None:
            self.status.setText(f"waiting for the run's first checkpoint ({exc})")
        else:
            self.status.setText(f"could not load the model: {exc}")

    def on_event(self, event: Any) -> None:
        """A new checkpoint of the live run: load it (the chain shown stays until the sampler runs again)."""
        if isinstance(event, CheckpointSaved):
            self.reload()

    def shutdown(self) -> None:
        self.reverse.stop_sampler()
        self.reverse.timer.stop()
        self.compare.shutdown()


def make_panel(ctx: PanelContext) -> DiffusionPanel:
    return DiffusionPanel(ctx)


register_panel("Denoiser", "Diffusion", make_panel)
