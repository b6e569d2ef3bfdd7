"""The forward-process tab: q(x_t | x_0) for one example or the whole 2-D cloud, with a fixed noise draw.

x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4), a slider
over t, the quantities at t read out, and a strip of x_t at evenly spaced t.

Scrubbing must not move anything but the pictures: every text that changes
with t sits in a label whose size does not follow its text (the readout
elides, with its full text in the tooltip), and the three pictures share the
width equally whatever their captions, so a long readout at one t cannot widen
the tab and make the layout jump under the user's hand.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QStackedWidget, QVBoxLayout, QWidget

from ...widgets import ElidedLabel, ImageView, caption, plot_widget, titled
from ..diffusion_frames import images_grid, noise_picture
from ..diffusion_math import forward_readout
from .reverse_view import TopImageView

#: Images in the forward strip.
STRIP_LENGTH = 8


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
        # Its text changes length with t: it must not size the tab (it elides instead, full text in the tooltip).
        self.readout = ElidedLabel("waiting for the model")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        # Drawn at the top of their cells, right under the captions (centred, a tall cell left a gap above them).
        self.x0_view = TopImageView(placeholder="x_0")
        self.noise_view = TopImageView(placeholder="eps")
        self.xt_view = TopImageView(placeholder="x_t")
        self.strip_view = ImageView(placeholder="x_t at evenly spaced t")
        self.strip_view.setMinimumHeight(80)
        images = QWidget()
        grid = QGridLayout(images)
        grid.setContentsMargins(0, 0, 0, 0)
        # Captions wrap and the columns stretch alike: the long x_t caption must not make its picture the largest.
        grid.addWidget(titled("x_0 (data)", self.x0_view, wrap=True), 0, 0)
        grid.addWidget(titled("eps (the noise added)", self.noise_view, wrap=True), 0, 1)
        grid.addWidget(titled("x_t = √ᾱ x_0 + √(1 − ᾱ) eps", self.xt_view, wrap=True), 0, 2)
        for col in range(3):
            grid.setColumnStretch(col, 1)
        self.strip_label = caption("x_t at t = …")
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
