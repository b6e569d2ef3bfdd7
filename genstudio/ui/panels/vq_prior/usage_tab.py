"""The code-usage tab: how often each code occurs in the validation images' code maps and in the prior's
samples, most used first; a prior that learned the codes' marginal draws them as often as the data has them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ...widgets import plot_widget
from ..controls import tool_row
from ..jobs import PanelJob
from .pictures import perplexity, total_variation, usage


def sample_usage(model: Any, n: int, seed: int) -> np.ndarray:
    """K counts over the code maps of ``n`` grids the prior draws (a conditional prior cycles the classes)."""
    labels = torch.arange(n) % model.num_classes if getattr(model, "conditional", False) else None
    codes = None
    for step in model.generate_code_steps(n, torch.Generator().manual_seed(seed), labels=labels):
        codes = step.codes
    return usage(codes.cpu().numpy(), model.num_codes)


class UsageTab(QWidget):
    """Code usage of the data against the prior's samples."""

    sampled = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.data_usage: np.ndarray | None = None
        self.prior_usage: np.ndarray | None = None
        self.n_spin = QSpinBox()
        self.n_spin.setRange(8, 1024)
        self.n_spin.setValue(128)
        self.n_spin.setToolTip("Code grids the prior draws for its histogram")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.run_button = QPushButton("Sample the prior")
        self.plot = plot_widget("code usage, most used in the data first")
        self.plot.setMouseEnabled(False, False)
        self.plot.setLabel("bottom", "codes, ranked by their use in the validation images")
        self.plot.setLabel("left", "share of grid cells")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.legend = self.plot.addLegend(offset=(-10, 10))
        self.message = QLabel("blue: the validation images' code maps. Press Sample the prior to add its samples (orange).")
        self.message.setWordWrap(True)
        self.job = PanelJob(self, self.run_button, self.message, failure="sampling failed: {exc}")
        self.job.done.connect(self._on_sampled)
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row("grids", self.n_spin, "seed", self.seed_spin, self.run_button))
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.message)
        self.run_button.clicked.connect(self.run)
        self.setEnabled(False)

    def set_model(self, model: Any, data_usage: np.ndarray | None) -> None:
        self.model, self.data_usage, self.prior_usage = model, data_usage, None
        self.setEnabled(True)
        self.redraw()

    def run(self) -> None:
        if self.model is None:
            return
        model, n, seed = self.model, self.n_spin.value(), self.seed_spin.value()
        self.job.start(lambda _state: sample_usage(model, n, seed), f"drawing {n} code grids from the prior…")

    def _on_sampled(self, counts: np.ndarray) -> None:
        self.prior_usage = counts
        self.redraw()
        self.sampled.emit()

    def redraw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        d, s = self.data_usage, self.prior_usage
        if d is None and s is None:
            self.message.setText("no validation data: press Sample the prior to see the codes it draws")
        ref = d if d is not None else s
        if ref is None:
            return
        order = np.argsort(-ref, kind="stable")
        x = np.arange(len(ref))
        parts = []
        if d is not None:
            bars = pg.BarGraphItem(x=x - 0.2, height=d[order] / max(d.sum(), 1), width=0.4, brush=pg.mkBrush(70, 130, 200))
            self.plot.addItem(bars)
            self.legend.addItem(bars, "validation images")
            parts.append(f"data: {int((d > 0).sum())} of {len(d)} codes used, perplexity {perplexity(d):.1f}")
        if s is not None:
            bars = pg.BarGraphItem(x=x + 0.2, height=s[order] / max(s.sum(), 1), width=0.4, brush=pg.mkBrush(235, 140, 50))
            self.plot.addItem(bars)
            self.legend.addItem(bars, "prior samples")
            parts.append(f"prior: {int((s > 0).sum())} used, perplexity {perplexity(s):.1f}")
        if d is not None and s is not None:
            parts.append(f"total variation between the two: {total_variation(d, s):.3f} (0: the same marginal)")
        self.plot.setXRange(-0.8, len(ref) - 0.2, padding=0)
        self.message.setText(" · ".join(parts))
