"""The "Flow" tab: puts the 2-D page and the image page together under the status, speed and likelihood
lines, and loads every cached view from the run's latest checkpoint (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from .. import PanelContext, register_panel
from ..flow_math import fmt_time
from ..live import CheckpointPanel
from .image_views import ImageViews
from .plane_views import PlaneViews
from .prepare import FlowView, prepare_flow_view


class FlowPanel(PlaneViews, ImageViews, CheckpointPanel):
    """The "Flow" tab: density, layer-by-layer warp and log-det maps on 2-D data; temperatures and latents on images."""

    data_ready = Signal()

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the flow panel", parent)
        self.view: FlowView | None = None
        self.stage = 0
        # What is drawn now (read by tests and screenshots): grid lines, density and log-det images.
        self.drawn_grid: np.ndarray | None = None
        self.density_image: np.ndarray | None = None
        self.logdet_image: np.ndarray | None = None
        self._data_brushes: list = []
        self._sample_brush = pg.mkBrush(220, 110, 30, 200)

        self.status = QLabel("Loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Load the run's latest checkpoint and recompute every view")
        self.use_reload_button(self.reload_button)
        self.speed_label = QLabel("")
        self.speed_label.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_points_page())
        self.pages.addWidget(self._build_image_page())
        empty = QLabel("Nothing to draw for this data kind: the plane views need 2-D points.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(empty)

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.reload_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.speed_label)
        lay.addWidget(self.readout)
        lay.addWidget(self.pages, 1)
        self.reload()

    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], FlowView]:
        return lambda: prepare_flow_view(run_dir, snapshot=snapshot)

    def show_loaded(self, view: FlowView) -> None:
        self.view = view
        self.status.setText(" · ".join([f"{type(view.model).__name__} on {view.dataset}, {self.weights_text(view.step)}", *view.notes]))
        self.speed_label.setText(self._speed_text())
        self.readout.setText(self._readout_text())
        if view.points is not None:
            self.pages.setCurrentIndex(0)
            self._set_points(view.points)
        elif view.image is not None:
            self.pages.setCurrentIndex(1)
            self._set_image(view.image)
        else:
            self.pages.setCurrentIndex(2)
        self.data_ready.emit()

    # -- texts -------------------------------------------------------------------------------------------
    def _speed_text(self) -> str:
        v = self.view
        assert v is not None
        t = v.times
        what = "grid points" if v.points is not None else "validation images"
        measured = f"{fmt_time(t.density_s, t.density_n, 'density of ' + what)}; {fmt_time(t.sample_s, t.sample_n, 'sampling')}"
        return f"{v.speed}  Measured on this machine, now: {measured}."

    def _readout_text(self) -> str:
        v = self.view
        assert v is not None
        parts = []
        if v.points is not None:
            p = v.points
            nll = f"Validation NLL {p.nll:.3f} nats (exact)"
            if p.entropy is not None:
                nll += f" · differential entropy of {v.dataset} {p.entropy:.3f} nats ({p.entropy_source}) · gap {p.nll - p.entropy:+.3f} nats"
            parts.append(nll)
            parts.append(f"density mass on the view {p.maps.mass():.3f}")
        if v.image is not None:
            r = v.image
            how = "uniformly dequantised" if r.dequantization == "uniform" else "variationally dequantised (Flow++)"
            parts.append(f"{r.bits_per_dim:.3f} bits/dim (exact flow likelihood of {how} 8-bit data; {r.nll_nats:.1f} nats per image)")
        parts.append(f"invertibility error max |x − f⁻¹(f(x))| = {v.invertibility_error:.2e} on validation data")
        return " · ".join(parts)

    def shutdown(self) -> None:
        super().shutdown()
        self.view = None


register_panel("Invertible", "Flow", FlowPanel)
