"""The Generation tab's right-hand plot: the model's distribution of the position under the cursor,
given the positions before it (256 bars for softmax outputs and mu-law audio, p(0) and p(1) for
binarised images), with the drawn value as a red line."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...widgets import plot_widget


class DistributionView(QWidget):
    """Bars of one position's distribution, the drawn value, and a line saying where and what."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget("distribution of the position under the cursor")
        self.plot.setMouseEnabled(False, False)
        self.bars = pg.BarGraphItem(x=[0], height=[0], width=0.9, brush=pg.mkBrush(70, 130, 200))
        self.plot.addItem(self.bars)
        self.value_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(220, 60, 60, width=2))
        self.plot.addItem(self.value_line)
        self.value_line.hide()
        self.label = QLabel("hover a pixel of the samples")
        self.label.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.label)

    def show_probs(self, probs: np.ndarray, value: int | None, where: str, title: str) -> None:
        """``probs``: 2 (Bernoulli) or 256 values; ``value``: the drawn level, None when not drawn yet."""
        if len(probs) == 2:
            self.bars.setOpts(x=np.array([0, 1]), height=probs, width=0.6)
            self.plot.getAxis("bottom").setTicks([[(0, "0 (black)"), (1, "1 (white)")]])
            self.plot.setXRange(-0.6, 1.6, padding=0)
            self.plot.setYRange(0, 1.05, padding=0)
        else:
            self.bars.setOpts(x=np.arange(256), height=probs, width=1.0)
            self.plot.getAxis("bottom").setTicks(None)
            self.plot.setXRange(-1, 256, padding=0)
            self.plot.setYRange(0, float(probs.max()) * 1.1 + 1e-6, padding=0)
        if value is not None:
            self.value_line.setValue(value)
            self.value_line.show()
        else:
            self.value_line.hide()
        mean = float((np.arange(len(probs)) * probs).sum())
        text = f"{where} · sum {probs.sum():.4f} · mean {mean:.3g}"
        text += f" · drawn: {value} (red line)" if value is not None else " · not drawn yet"
        self.label.setText(text)
        self.plot.setTitle(title)
