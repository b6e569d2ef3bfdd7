"""NFE against quality: how sample quality falls as DDIM steps drop, one metric at a time.

One view, fed two ways: the diffusion panel's live sweep (MMD² to the data and
the RMS distance to the finest run, for the model in memory,
``panels/diffusion/nfe_view.py``) and the compare view's cached evaluations
(FID, KID, ... from a run's evals.jsonl, ``compare/nfe_runs.py``). The feeder
reads the step counts from :meth:`NfeQualityView.steps` when ``runRequested``
fires, computes the points off the UI thread and hands them back as
:class:`~genstudio.metrics.nfe_sweep.NfeCurve` objects, one per metric.
"""

from __future__ import annotations

import math
from typing import Sequence

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from genstudio.metrics import compare as cmp
from genstudio.metrics import nfe_sweep
from genstudio.metrics.nfe_sweep import NfeCurve

from .curves_view import PALETTE
from .runs_browser import STATUS_COLORS
from .widgets import plot_widget


class NfeQualityView(QWidget):
    """The chosen metric against the number of network evaluations (log axis), its floor dashed when known."""

    runRequested = Signal(list)  # the DDIM step counts asked for (parsed, sorted)

    def __init__(self, intro: str, steps: Sequence[int], button: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.curves: dict[str, NfeCurve] = {}
        self.labels: dict[str, str] = {}
        self.name = ""  # the series' name in the legend (a run's name)
        self.curve_item: pg.PlotDataItem | None = None
        self.floor_line: pg.InfiniteLine | None = None
        self.run_label = QLabel(intro)
        self.run_label.setWordWrap(True)
        self.steps_edit = QLineEdit(", ".join(map(str, steps)))
        self.steps_edit.setToolTip("DDIM step counts (network evaluations), separated by commas")
        self.metric = QComboBox()
        self.metric.setToolTip("Quality metric on the y axis")
        self.run_button = QPushButton(button)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = plot_widget("")
        self.plot.setLogMode(x=True)
        self.plot.setLabel("bottom", "NFE (network evaluations per sample)")
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        #: The feeder's own settings (sample count, seed) go here, before the metric and the button.
        self.controls = QHBoxLayout()
        self.controls.addWidget(QLabel("DDIM steps"))
        self.controls.addWidget(self.steps_edit, 1)
        self._extras_at = self.controls.count()
        self.controls.addWidget(QLabel("Metric"))
        self.controls.addWidget(self.metric)
        self.controls.addWidget(self.run_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.run_label)
        lay.addLayout(self.controls)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.status)
        self.metric.currentIndexChanged.connect(lambda _: self.redraw())
        self.run_button.clicked.connect(self._request)

    def add_control(self, label: str, widget: QWidget) -> None:
        """A feeder's setting beside the step counts."""
        self.controls.insertWidget(self._extras_at, QLabel(label))
        self.controls.insertWidget(self._extras_at + 1, widget)
        self._extras_at += 2

    def steps(self) -> list[int]:
        """The step counts in the box; ValueError saying what is wrong."""
        return nfe_sweep.parse_steps(self.steps_edit.text())

    def show_error(self, message: str) -> None:
        self.status.setText(f"<span style='color:{STATUS_COLORS['failed']}'>{message}</span>")

    def _request(self) -> None:
        try:
            steps = self.steps()
        except ValueError as e:
            self.show_error(str(e))
            return
        self.runRequested.emit(steps)

    def set_curves(self, curves: Sequence[NfeCurve], name: str = "", labels: dict[str, str] | None = None) -> None:
        """Show these metrics (the metric box lists them in this order; the one chosen stays chosen)."""
        self.curves = {c.metric: c for c in curves}
        self.labels = dict(labels or {})
        self.name = name
        names = list(self.curves)
        current = self.metric.currentData()
        if [self.metric.itemData(i) for i in range(self.metric.count())] != names:
            self.metric.blockSignals(True)
            self.metric.clear()
            for metric in names:
                self.metric.addItem(self.label(metric), metric)
            if names:
                self.metric.setCurrentIndex(names.index(current) if current in names else (names.index("fid") if "fid" in names else 0))
            self.metric.blockSignals(False)
        self.redraw()

    def label(self, metric: str) -> str:
        return self.labels.get(metric) or cmp.metric_label(metric)

    def redraw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.curve_item, self.floor_line = None, None
        metric = self.metric.currentData()
        curve = self.curves.get(metric) if metric is not None else None
        if curve is None:
            self.plot.setTitle("")
            self.plot.getAxis("bottom").setTicks(None)
            return
        label = self.label(metric)
        better = "lower is better" if cmp.KNOWN.get(metric, ("", True))[1] else "higher is better"
        self.plot.setTitle(f"{label} against NFE (DDIM) · {better}")
        self.plot.setLabel("left", label)
        # Ticks at the step counts evaluated (the log axis's own minor labels run into each other).
        self.plot.getAxis("bottom").setTicks([[(math.log10(x), f"{x:g}") for x in curve.nfe]] if curve.nfe else None)
        if not curve.nfe:
            return
        color = PALETTE[0]
        self.curve_item = self.plot.plot(
            curve.nfe, curve.values, pen=pg.mkPen(color, width=2), symbol="o", symbolSize=8,
            symbolBrush=color, symbolPen=None, name=f"{label} ({self.name})" if self.name else label,
        )  # fmt: skip
        if curve.floor is not None:
            self.floor_line = pg.InfiniteLine(
                pos=curve.floor, angle=0, pen=pg.mkPen((128, 128, 128), width=2, style=Qt.PenStyle.DashLine),
                label=f"floor {cmp.format_number(curve.floor)}", labelOpts={"position": 0.9, "color": (110, 110, 110)},
            )  # fmt: skip
            self.plot.addItem(self.floor_line)
        self.plot.enableAutoRange()

    def points_text(self) -> str:
        """The metric shown at each NFE, for the status line."""
        metric = self.metric.currentData()
        curve = self.curves.get(metric)
        if curve is None or not curve.nfe:
            return ""
        pts = ", ".join(f"{int(n)}: {cmp.format_number(v)}" for n, v in zip(curve.nfe, curve.values))
        floor = f" · floor {cmp.format_number(curve.floor)}" if curve.floor is not None else ""
        return f"{self.label(metric)} at NFE {pts}{floor}"
