"""The "NFE vs quality" tab: deterministic DDIM from one x_T at several step counts; MMD^2 to the data
and the distance to the finest run, against the number of network evaluations."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
import torch
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ...widgets import plot_widget
from ..diffusion_sweeps import NFECurve, nfe_versus_quality, parse_scales
from ..jobs import PanelJob


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
        self.job = PanelJob(self, self.run_button, self.message, failure="failed: {exc}")
        self.job.done.connect(self._on_done)
        self.run_button.clicked.connect(self.run)

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
        self.job.start(lambda _state: nfe_versus_quality(model, ref, counts, n, seed), f"sampling {len(counts)} runs of {n}…")

    def _on_done(self, curve: NFECurve) -> None:
        self.curve = curve
        self.mmd_curve.setData(curve.nfe, curve.mmd2)
        self.rms_curve.setData(curve.nfe, curve.rms_to_finest)
        rows = ", ".join(f"{s}: MMD² {m:.4f}" for s, m in zip(curve.steps, curve.mmd2))
        self.message.setText(f"DDIM eta 0, seed {self.seed_spin.value()}, n {self.n_spin.value()} · {rows}")
