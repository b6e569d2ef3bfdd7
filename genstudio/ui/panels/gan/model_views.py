"""Views of one model's own numbers in the GAN tab, drawn from each sandbox snapshot's ``diagnostics``.

- ``wgan``: :class:`CriticWeightsView`, a histogram of every critic weight
  with the clip bounds +-c as lines. Weight clipping (Arjovsky et al. 2017)
  piles the weights up at +-c as training goes on; the title says which share
  sits there. Compare ``wgan-gp``, whose critic is not clipped.
- ``sgan``: :class:`ClassifierAccuracyView`, the K-way classifier's accuracy
  on labelled validation examples: the run's logged curve, chance (1/K) as a
  line, the sandbox copy's accuracy now as a point, and the accuracy per class.

:class:`ModelDiagnosticsView` holds whichever applies and stays hidden for
other models. The numbers come from the worker (:mod:`.diagnostics`); these
widgets only draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...widgets import style_plot

BAR_COLOUR = (30, 60, 140)
BOUND_COLOUR = (200, 40, 40)
SANDBOX_COLOUR = (235, 100, 30)
#: Histogram range in units of c: the bounds sit inside the plot, with room to see nothing lies beyond them.
RANGE_IN_CLIPS = 1.25
BINS = 60


def _plot(title: str) -> pg.PlotWidget:
    p = pg.PlotWidget(title=title)
    p.setMenuEnabled(False)
    p.setMouseEnabled(False, False)
    style_plot(p)
    return p


def weight_histogram(weights: np.ndarray, clip: float, tolerance: float, bins: int = BINS) -> tuple[np.ndarray, np.ndarray, float]:
    """(edges, counts, share of weights within ``tolerance`` c of +-clip) over [-RANGE_IN_CLIPS c, RANGE_IN_CLIPS c]."""
    edges = np.linspace(-RANGE_IN_CLIPS * clip, RANGE_IN_CLIPS * clip, bins + 1)
    counts, _ = np.histogram(np.clip(weights, edges[0], edges[-1]), edges)
    at_bound = float(np.mean(np.abs(weights) >= clip * (1 - tolerance))) if len(weights) else 0.0
    return edges, counts, at_bound


class CriticWeightsView(QWidget):
    """All critic weights as a histogram with the clip bounds -c and +c."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = _plot("Critic weights")
        self.plot.getPlotItem().setLabel("bottom", "weight")
        self.plot.getPlotItem().setLabel("left", "weights")
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(*BAR_COLOUR, 120), pen=pg.mkPen(*BAR_COLOUR, width=1.5))
        self.plot.addItem(self.bars)
        pen = pg.mkPen(*BOUND_COLOUR, width=2, style=Qt.PenStyle.DashLine)
        # Labels half-way up, on a light box: the piles of weights at the bounds reach the top of the plot.
        self.bounds = [pg.InfiniteLine(angle=90, pen=pen, label=text,
                                       labelOpts={"position": 0.5, "color": BOUND_COLOUR, "fill": (255, 255, 255, 200)})
                       for text in ("-c", "+c")]  # fmt: skip
        for line in self.bounds:
            self.plot.addItem(line)
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.at_bound = float("nan")
        self.counts: np.ndarray | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.caption)

    def show_weights(self, weights: np.ndarray, clip: float, tolerance: float = 0.05) -> None:
        edges, counts, self.at_bound = weight_histogram(np.asarray(weights, float), clip, tolerance)
        self.counts = counts
        self.bars.setData(edges, counts)
        self.bounds[0].setValue(-clip)
        self.bounds[1].setValue(clip)
        self.plot.setXRange(float(edges[0]), float(edges[-1]), padding=0)
        self.plot.setYRange(0, max(int(counts.max(initial=0)), 1) * 1.08, padding=0)
        self.plot.getPlotItem().setTitle(f"Critic weights: {self.at_bound:.0%} at ±c (within {tolerance:.0%} of c)")
        self.caption.setText(
            f"{len(weights):,} critic weights, each clipped to [-c, c] with c = {clip:g} after every critic update "
            "(Arjovsky et al. 2017, Algorithm 1). Weights piled at ±c mean the clipping, not the data, shapes the critic."
        )


class ClassifierAccuracyView(QWidget):
    """The semi-supervised classifier's accuracy: the run's validation curve, chance, the sandbox now, per class."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.headline = QLabel("")
        self.headline.setWordWrap(True)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.headline.setFont(font)
        self.curve_plot = _plot("Classifier accuracy (validation)")
        self.curve_plot.getPlotItem().setLabel("bottom", "step")
        self.curve_plot.setYRange(0, 1, padding=0.02)
        self.curve_plot.addLegend(offset=(-5, -5), brush=pg.mkBrush(255, 255, 255, 210))
        self.run_curve = self.curve_plot.plot(pen=pg.mkPen(*BAR_COLOUR, width=2), symbol="o", symbolSize=4, symbolBrush=BAR_COLOUR, symbolPen=None, name="training run")
        self.sandbox_point = self.curve_plot.plot(pen=None, symbol="o", symbolSize=9, symbolBrush=SANDBOX_COLOUR, symbolPen=None, name="sandbox now")
        self.chance_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(120, 120, 120, style=Qt.PenStyle.DashLine), label="chance", labelOpts={"position": 0.1, "color": (90, 90, 90)})
        self.curve_plot.addItem(self.chance_line)
        self.class_plot = _plot("Accuracy per class (sandbox)")
        self.class_plot.setYRange(0, 1, padding=0.02)
        self.class_bars = pg.BarGraphItem(x=[], height=[], width=0.7, brush=pg.mkBrush(*BAR_COLOUR, 150))
        self.class_plot.addItem(self.class_bars)
        self.accuracy = float("nan")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.headline)
        lay.addWidget(self.curve_plot, 3)
        lay.addWidget(self.class_plot, 2)

    def show_accuracy(self, diag: dict[str, Any], run_series: tuple[np.ndarray, np.ndarray] | None, step: int) -> None:
        """``diag`` from sgan's ``sandbox_diagnostics``; ``run_series`` the run's logged (steps, accuracy); ``step`` the sandbox's."""
        chance = float(diag.get("chance", 0.0))
        self.chance_line.setValue(chance)
        if run_series is not None:
            self.run_curve.setData(*run_series)
        self.accuracy = float(diag.get("accuracy", float("nan")))
        labelled = diag.get("labelled", 0)
        if np.isfinite(self.accuracy):
            self.sandbox_point.setData([step], [self.accuracy])
            self.headline.setText(
                f"Classifier accuracy {self.accuracy:.1%} on {diag.get('examples', 0)} validation examples "
                f"(chance {chance:.0%}), learnt from {labelled} labelled examples"
            )
        else:
            self.sandbox_point.setData([], [])
            self.headline.setText(f"No labelled validation examples to score (chance {chance:.0%}; {labelled} labelled examples)")
        per_class = np.asarray(diag.get("per_class", []), float)
        shown = np.nan_to_num(per_class)
        self.class_bars.setOpts(x=np.arange(len(shown)), height=shown, width=0.7)
        if len(shown):
            self.class_plot.setXRange(-0.6, len(shown) - 0.4, padding=0)
            self.class_plot.getPlotItem().getAxis("bottom").setTicks([[(k, str(k)) for k in range(len(shown))]])


class ModelDiagnosticsView(QWidget):
    """The view that fits the loaded model's diagnostics (none: hidden)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.critic = CriticWeightsView()
        self.classifier = ClassifierAccuracyView()
        self.validation: dict[str, Any] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.critic)
        lay.addWidget(self.classifier)
        self.setMinimumWidth(260)
        self.setMinimumHeight(320)
        self.critic.hide()
        self.classifier.hide()
        self.hide()

    def set_validation(self, validation: dict[str, Any]) -> None:
        """The run's logged validation series (from the load), plotted beside the sandbox's numbers."""
        self.validation = dict(validation)

    def show_diagnostics(self, diag: dict[str, Any], step: int) -> None:
        """Draw a snapshot's ``diagnostics``; ``step`` is the checkpoint step plus the sandbox steps."""
        weights = "critic_weights" in diag
        accuracy = "chance" in diag
        self.critic.setVisible(weights)
        self.classifier.setVisible(accuracy)
        self.setVisible(weights or accuracy)
        if weights:
            self.critic.show_weights(diag["critic_weights"], float(diag["clip"]), float(diag.get("at_clip_tolerance", 0.05)))
        if accuracy:
            self.classifier.show_accuracy(diag, self.validation.get("accuracy"), step)
