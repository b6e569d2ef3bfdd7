"""The schedule tab: beta_t, alpha-bar_t and log SNR_t (sigma_t for score models), with the timesteps
the chosen sampler visits marked and the t shown by the forward and reverse views."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...widgets import plot_widget
from ..diffusion_math import schedule_curves


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
