"""One metric of the selected runs overlaid: a colour per run, read incrementally from metrics.jsonl."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from genstudio.core.runs import RunFolder
from genstudio.metrics import compare as cmp
from genstudio.metrics.compare import RunRow

from ..metric_store import ema
from ..widgets import style_plot

from .table import run_color


class RunHistory:
    """A run's metrics.jsonl as arrays per (metric, split), read incrementally."""

    def __init__(self, path: Path):
        self.run = RunFolder(path)
        self.offset = 0
        self.version = 0
        self.data: dict[tuple[str, str], tuple[list[float], list[float], list[float]]] = {}  # steps, elapsed, values

    def update(self) -> bool:
        try:
            size = self.run.metrics_path.stat().st_size
        except OSError:
            size = 0
        if size < self.offset:
            self.offset, self.data = 0, {}  # truncated on resume
        records, self.offset = self.run.read_metrics(self.offset)
        for rec in records:
            step = float(rec.get("step", 0))
            t = float(rec.get("elapsed_s", math.nan)) if isinstance(rec.get("elapsed_s"), (int, float)) else math.nan
            split = str(rec.get("split", "train"))
            for k, v in rec.items():
                if k in cmp.LOG_KEYS or isinstance(v, bool) or not isinstance(v, (int, float)):
                    continue
                s = self.data.setdefault((k, split), ([], [], []))
                s[0].append(step)
                s[1].append(t)
                s[2].append(float(v))
        if records:
            self.version += 1
        return bool(records)


class CurvesOverlay(QWidget):
    """One metric of several runs on one plot: a colour per run, a legend."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.histories: dict[str, RunHistory] = {}
        self.rows: list[RunRow] = []
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._drawn: tuple = ()
        self.metric = QComboBox()
        self.metric.setToolTip("The metric to overlay (train curves are smoothed; val points are as logged)")
        self.metric.setMinimumContentsLength(14)
        self.xaxis = QComboBox()
        self.xaxis.addItems(["step", "wall time (s)"])
        self.xaxis.setToolTip("Compare by training step or by wall-clock time (runs on different devices)")
        self.smooth = QCheckBox("smooth")
        self.smooth.setChecked(True)
        self.log_y = QCheckBox("log y")
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        style_plot(self.plot)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Metric"))
        bar.addWidget(self.metric, 1)
        bar.addWidget(QLabel("x"))
        bar.addWidget(self.xaxis)
        bar.addWidget(self.smooth)
        bar.addWidget(self.log_y)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        self.metric.currentIndexChanged.connect(lambda _: self.redraw(force=True))
        self.xaxis.currentIndexChanged.connect(lambda _: self.redraw(force=True))
        self.smooth.toggled.connect(lambda _: self.redraw(force=True))
        self.log_y.toggled.connect(lambda on: self.plot.setLogMode(y=on))

    def set_rows(self, rows: list[RunRow]) -> None:
        self.rows = rows
        changed = False
        for r in rows:
            key = str(r.path)
            if key not in self.histories:
                self.histories[key] = RunHistory(r.path)
            changed |= self.histories[key].update()
        self._fill_metrics()
        self.redraw(force=changed)

    def _options(self) -> list[tuple[str, str]]:
        seen: dict[tuple[str, str], int] = {}
        for r in self.rows:
            for k in self.histories[str(r.path)].data:
                seen[k] = seen.get(k, 0) + 1
        # Metrics every selected run logs come first: those are the ones worth overlaying.
        return sorted(seen, key=lambda k: (-seen[k], k[1] != "val", k[0]))

    def _fill_metrics(self) -> None:
        opts = self._options()
        current = self.metric.currentData()
        if [self.metric.itemData(i) for i in range(self.metric.count())] == opts:
            return
        self.metric.blockSignals(True)
        self.metric.clear()
        for name, split in opts:
            self.metric.addItem(f"{name} ({split})", (name, split))
        if current in opts:
            self.metric.setCurrentIndex(opts.index(current))
        else:
            preferred = [o for o in opts if o[0] in cmp.KNOWN or cmp.ALIASES.get(o[0]) in cmp.KNOWN] or [o for o in opts if o[0] == "loss"]
            if preferred:
                self.metric.setCurrentIndex(opts.index(preferred[0]))
        self.metric.blockSignals(False)

    def redraw(self, force: bool = False) -> None:
        choice = self.metric.currentData()
        by_time = self.xaxis.currentIndex() == 1
        key = (choice, by_time, self.smooth.isChecked(), tuple(str(r.path) for r in self.rows))
        if key == self._drawn and not force:
            return
        self._drawn = key
        self.plot.clear()
        self.legend.clear()
        self.curves = {}
        if choice is None:
            self.plot.setTitle("no metrics logged by the selected runs" if self.rows else "")
            return
        name, split = choice
        self.plot.setTitle(f"{name} ({split})")
        self.plot.setLabel("bottom", "wall time (s)" if by_time else "step")
        for i, r in enumerate(self.rows):
            series = self.histories[str(r.path)].data.get(choice)
            if not series:
                continue
            x = np.asarray(series[1] if by_time else series[0], np.float64)
            y = np.asarray(series[2], np.float64)
            if split == "train" and self.smooth.isChecked():
                y = ema(y, 0.6)
            color = run_color(i)
            item = self.plot.plot(
                x, y, pen=pg.mkPen(color, width=2), name=r.name,
                symbol="o" if split != "train" else None, symbolSize=5, symbolBrush=color, symbolPen=None,
            )  # fmt: skip
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            self.curves[str(r.path)] = item
        self.plot.enableAutoRange()
