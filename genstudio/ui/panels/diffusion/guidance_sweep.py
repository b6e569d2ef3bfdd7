"""The guidance-sweep tab (conditional models): every class at several classifier-free guidance scales
from the same noise (Ho & Salimans 2022, figure 1)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QStackedWidget, QVBoxLayout, QWidget

from ...widgets import ImageView, plot_widget
from ..diffusion_sweeps import GuidanceSweep, guidance_sweep, parse_scales
from ..diffusion_math import view_range
from ..jobs import PanelJob


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
        self.job = PanelJob(self, self.run_button, self.message, failure="sweep failed: {exc}")
        self.job.done.connect(self._on_done)
        self.run_button.clicked.connect(self.run)
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
        text = f"sampling {len(scales)} scales x {model.num_classes} classes x {per}…"
        self.job.start(lambda _state: guidance_sweep(model, scales, per, seed, options), text)

    def _on_done(self, sweep: GuidanceSweep) -> None:
        self.sweep = sweep
        self.message.setText(f"rows: guidance scale {', '.join(f'{s:g}' for s in sweep.scales)}; columns: classes 0..{self.model.num_classes - 1}; seed {self.seed_spin.value()}")
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
