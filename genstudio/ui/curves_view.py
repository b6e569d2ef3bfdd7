"""Live training curves: one plot per metric group, smoothing, log-y, hover readout.

Curves are created once and refreshed with ``setData`` from a ~50 ms timer,
and only when their series changed; long histories stay cheap through
peak downsampling and clipping to the visible range (pyqtgraph's
scrollingPlots habit).
"""

from __future__ import annotations

import time
from typing import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .metric_store import MetricStore, ema, ema_continue, nearest_index
from .widgets import style_plot

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


class TimedGraphicsLayout(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that remembers how long its last paints took (for the redraw throttle)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.paint_s = 0.0  # seconds painting since the last redraw

    def paintEvent(self, event) -> None:  # noqa: N802
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s += time.perf_counter() - t0


class StepAxis(pg.AxisItem):
    """A bottom axis whose labelled ticks are at least ``MIN_PX`` apart, so labels never run together.

    pyqtgraph picks about log(width) ticks and labels its minor level too when it
    thinks there is room, which on a narrow plot printed "0 200400 600"; here the
    tick count follows the plot's width in pixels and only the major level has text.
    """

    MIN_PX = 70

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setStyle(maxTextLevel=0)

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph naming)
        if self._tickLevels is not None:
            return super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if span <= 0 or size <= 0:
            return []
        ideal = span / max(2.0, size / self.MIN_PX)
        p10 = 10 ** np.floor(np.log10(ideal))
        major = next(m * p10 for m in (1, 2, 5, 10) if m * p10 >= ideal)
        minor = major / 5 if major / p10 in (1, 10) else major / 2
        return [(major, 0), (minor, 0)]


class Curve:
    """The raw (faint) and smoothed lines of one metric on one split."""

    def __init__(self, plot: pg.PlotItem, name: str, split: str, color: tuple[int, int, int]):
        self.name, self.split = name, split
        dashed = split != "train"
        style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
        label = name if split == "train" else f"{name} ({split})"
        self.raw = plot.plot(pen=pg.mkPen((*color, 60), width=1, style=style))
        self.smooth = plot.plot(
            pen=pg.mkPen(color, width=2, style=style),
            name=label,
            symbol="o" if dashed else None,
            symbolSize=4,
            symbolBrush=color,
            symbolPen=None,
        )
        for item in (self.raw, self.smooth):
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            item.setSkipFiniteCheck(True)
        self.drawn = (-1, -1.0)  # (series version, smoothing) last drawn
        self.raw_state = (0, -1.0, 0.0)  # (points, smoothing, time) of the raw line's last refresh
        self.steps = np.empty(0)
        self.smoothed = np.empty(0)


class MetricPlot:
    def __init__(self, item: pg.PlotItem, title: str, names: list[str]):
        self.item, self.title, self.names = item, title, list(names)
        self.curves: dict[tuple[str, str], Curve] = {}
        self.placed = False
        self.cursor = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen((128, 128, 128), style=Qt.PenStyle.DotLine))
        self.cursor.setVisible(False)
        item.addItem(self.cursor, ignoreBounds=True)


class CurvesView(QWidget):
    """Plots of a :class:`MetricStore`; call :meth:`mark_dirty` after adding metrics."""

    hovered = Signal(str)

    COLUMNS = 2

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.store = MetricStore()
        self.groups: dict[str, list[str]] = {}
        self.plots: dict[str, MetricPlot] = {}
        self._dirty = False
        self.last_redraw_s = 0.0
        self._last_tick = 0.0
        self._grid_cols = 0  # columns the placed plots are laid out in (0: not yet)

        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(60)
        self.smoothing.setMaximumWidth(160)
        self.smoothing.setMinimumWidth(70)  # stays visible when the curves are narrow (1366x768)
        self.smoothing.setToolTip("Exponential moving average of the curves (0: raw values)")
        self.smoothing_label = QLabel()
        self.log_y = QCheckBox("log y")
        self.log_y.setToolTip("Logarithmic y axis (for losses spanning orders of magnitude)")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Fit all plots to their data")
        self.readout = QLabel(" ")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.graphics = TimedGraphicsLayout()
        self.graphics.ci.setSpacing(6)
        self.restyle()
        self.empty_label = QLabel("Curves appear here once training starts.")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smoothing)
        bar.addWidget(self.smoothing_label)
        bar.addWidget(self.log_y)
        bar.addWidget(self.fit_button)
        bar.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.readout)
        lay.addWidget(self.graphics, 1)
        lay.addWidget(self.empty_label, 1)
        self.graphics.hide()

        self.smoothing.valueChanged.connect(self._on_smoothing)
        self.log_y.toggled.connect(self._on_log)
        self.fit_button.clicked.connect(self.fit)
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)
        self._timer = QTimer(self, interval=50)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        self._on_smoothing(self.smoothing.value())

    # -- content -------------------------------------------------------------------
    def reset(self, groups: dict[str, list[str]] | None = None, store: MetricStore | None = None) -> None:
        """Start over with new metric groups (a new run)."""
        self.store = store or MetricStore()
        self.groups = dict(groups or {})
        self.graphics.clear()
        self._grid_cols = 0
        self.plots = {}
        self.readout.setText(" ")
        self._dirty = True
        self._ensure_plots()

    def set_groups(self, groups: dict[str, list[str]]) -> None:
        if dict(groups) == self.groups:
            return  # already built (at Train): keep the plots
        self.reset(groups, self.store)
        self.prepare()

    def mark_dirty(self) -> None:
        self._dirty = True

    @property
    def smoothing_weight(self) -> float:
        return self.smoothing.value() / 100.0

    def _group_of(self, name: str) -> str:
        for title, names in self.groups.items():
            if name in names:
                return title
        return name  # an ungrouped metric gets a plot of its own

    def prepare(self) -> None:
        """Build the plots of every declared group now (at Train), so the first metrics only draw.

        Building pyqtgraph plots costs tens of milliseconds; paid when the user
        presses Train it is invisible, paid when the first metrics arrive it is
        a stall in a busy window. They stay hidden until they have data.
        """
        self._ensure_plots(create_empty=True)

    def _ensure_plots(self, create_empty: bool = False) -> None:
        wanted: dict[str, list[str]] = {t: list(n) for t, n in self.groups.items()}
        for name in self.store.names():
            title = self._group_of(name)
            wanted.setdefault(title, [])
            if name not in wanted[title]:
                wanted[title].append(name)
        for title, names in wanted.items():
            if title in self.plots:
                self.plots[title].names = names
                continue
            if not create_empty and not any(self.store.get(n, s) for n in names for s in ("train", "val")):
                continue  # a metric group the model never reports gets no plot
            item = pg.PlotItem(title=title, axisItems={"bottom": StepAxis("bottom")})
            item.showGrid(x=True, y=True, alpha=0.2)
            # One row at the top right: losses fall from the top left, so the legend covers the least there.
            legend = item.addLegend(offset=(-5, 5), labelTextSize="8pt", labelTextColor=_text_color(), brush=_legend_brush())
            legend.setColumnCount(max(1, len(names) * 2))
            item.setLabel("bottom", "step")
            item.setLogMode(y=self.log_y.isChecked())
            style_plot(item)
            self.plots[title] = MetricPlot(item, title, names)
        # Plots enter the grid once they have data, so a group with nothing yet leaves no hole.
        placed = [p for p in self.plots.values() if p.placed]
        for plot in self.plots.values():
            if plot.placed or not any(self.store.get(n, sp) for n in plot.names for sp in ("train", "val")):
                continue
            self._regrid()  # the earlier plots first, in the columns the width allows now
            k = len(placed)
            cols = self._grid_cols = self._columns()
            self.graphics.ci.addItem(plot.item, row=k // cols, col=k % cols)
            if placed:
                plot.item.setXLink(placed[0].item)
            plot.placed = True
            placed.append(plot)
        has_data = bool(placed)
        self.graphics.setVisible(has_data)
        self.empty_label.setVisible(not has_data)

    #: Below this width the plots stack in one column: two columns of narrow plots overlap their axes.
    ONE_COLUMN_BELOW = 620

    def _columns(self) -> int:
        return 1 if 0 < self.graphics.width() < self.ONE_COLUMN_BELOW else self.COLUMNS

    def _regrid(self) -> None:
        """Lay the placed plots out again in the number of columns the width allows."""
        placed = [p for p in self.plots.values() if p.placed]
        cols = self._columns()
        if not placed or self._grid_cols == cols:
            return
        self._grid_cols = cols
        for p in placed:
            self.graphics.ci.removeItem(p.item)
        for k, p in enumerate(placed):
            self.graphics.ci.addItem(p.item, row=k // cols, col=k % cols)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._regrid()

    # -- drawing ---------------------------------------------------------------------
    #: The curves may keep the UI thread (and the GIL, which the training thread needs) busy
    #: this fraction of the time at most; measured on 2 cores, 25 % cost DDPM 15 % of its speed.
    BUSY_FRACTION = 0.05

    def _tick(self) -> None:
        if not (self._dirty and self.isVisible()):
            return
        # Throttle by cost: if the last redraw and the paints it caused took c seconds,
        # wait c / BUSY_FRACTION before the next, so big histories or slow machines
        # lower the refresh rate instead of starving the event loop (and the GIL).
        cost = self.last_redraw_s + self.graphics.paint_s
        if time.monotonic() - self._last_tick < cost / self.BUSY_FRACTION:
            return
        self._last_tick = time.monotonic()
        self.graphics.paint_s = 0.0
        self.redraw()

    def redraw(self) -> float:
        """Push changed series into their curves; returns the seconds it took."""
        t0 = time.perf_counter()
        self._dirty = False
        self._ensure_plots()
        w = self.smoothing_weight
        changed: set[str] = set()
        for plot in self.plots.values():
            for ci, name in enumerate(plot.names):
                for split in ("train", "val"):
                    series = self.store.get(name, split)
                    if series is None or series.n == 0:
                        continue
                    curve = plot.curves.get((name, split))
                    if curve is None:
                        color = PALETTE[ci % len(PALETTE)]
                        curve = plot.curves[(name, split)] = Curve(plot.item, name, split, color)
                    if curve.drawn == (series.version, w):
                        continue
                    steps, values = series.steps, series.values
                    if split != "train" or w <= 0:
                        smooth = values
                    elif curve.drawn[1] == w and 0 < len(curve.smoothed) < len(values):
                        # Append-only history: smooth just the new points, carrying the filter state.
                        k = len(curve.smoothed)
                        tail = ema_continue(values[k:], w, curve.smoothed[-1])
                        smooth = np.concatenate([curve.smoothed, tail])
                    else:
                        smooth = ema(values, w)
                    curve.steps, curve.smoothed = steps, smooth
                    if split == "train" and w > 0:
                        # The faint raw line is context, not the signal: on a long history it is
                        # refreshed when it has grown by 0.2 % or a second passed, halving the cost.
                        n = len(values)
                        now = time.monotonic()
                        stale = curve.raw_state[1] != w or n - curve.raw_state[0] > 0.002 * n or now - curve.raw_state[2] > 1.0
                        if stale or not curve.raw.isVisible():
                            curve.raw.setData(steps, values)
                            curve.raw_state = (n, w, now)
                        curve.raw.show()
                    else:
                        curve.raw.hide()
                    curve.smooth.setData(steps, smooth)
                    curve.drawn = (series.version, w)
                    changed.add(plot.title)
        for title in changed:
            vb = self.plots[title].item.vb
            if vb._autoRangeNeedsUpdate:
                # Settle the auto range now: left to paint time, the range change asks for a
                # second full repaint of every axis (measured: two paints per update).
                vb.updateAutoRange()
        self.last_redraw_s = time.perf_counter() - t0
        return self.last_redraw_s

    def fit(self) -> None:
        for plot in self.plots.values():
            plot.item.enableAutoRange()

    def _on_smoothing(self, v: int) -> None:
        self.smoothing_label.setText(f"{v / 100:.2f}")
        self._dirty = True
        self._last_tick = 0.0  # the user is waiting for this one: skip the throttle

    def _on_log(self, on: bool) -> None:
        for plot in self.plots.values():
            plot.item.setLogMode(y=on)

    # -- hover readout ----------------------------------------------------------------
    def _on_mouse(self, args) -> None:
        pos = args[0]
        text = " "
        for plot in self.plots.values():
            if not plot.placed:
                continue
            vb = plot.item.vb
            if not plot.item.sceneBoundingRect().contains(pos):
                plot.cursor.setVisible(False)
                continue
            x = vb.mapSceneToView(pos).x()
            parts = []
            step = None
            for (name, split), c in plot.curves.items():
                i = nearest_index(c.steps, x)
                if i is None:
                    continue
                at = int(c.steps[i])
                step = at if step is None else step
                label = name if split == "train" else f"{name} ({split})"
                # A sparser series (validation every N steps) names its own step, so a value
                # measured elsewhere is never read as the value at the hovered step.
                parts.append(f"{label} = {c.smoothed[i]:.4g}" + ("" if at == step else f" @ {at:,}"))
            if step is not None:
                plot.cursor.setPos(step)
                plot.cursor.setVisible(True)
                text = f"<b>{plot.title}</b> · step {step:,} · " + " · ".join(parts)
        for other in self.plots.values():
            if text == " ":
                other.cursor.setVisible(False)
        self.readout.setText(text)
        self.hovered.emit(text)

    def restyle(self) -> None:
        for plot in self.plots.values():
            style_plot(plot.item)
            if plot.item.legend is not None:
                plot.item.legend.setLabelTextColor(_text_color())
                plot.item.legend.setBrush(_legend_brush())
        from PySide6.QtGui import QPalette
        from PySide6.QtWidgets import QApplication

        self.graphics.setBackground(QApplication.palette().color(QPalette.ColorRole.Window))


def _text_color():
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    return QApplication.palette().color(QPalette.ColorRole.Text)


def _legend_brush():
    from PySide6.QtGui import QColor, QPalette
    from PySide6.QtWidgets import QApplication

    c = QColor(QApplication.palette().color(QPalette.ColorRole.Base))
    c.setAlpha(170)  # the legend stays readable over the curves it may cover
    return pg.mkBrush(c)


def add_metric_events(store: MetricStore, events: Iterable) -> int:
    """Append Metrics events to ``store``; returns the last step seen."""
    last = store.last_step
    for m in events:
        store.add(m.step, m.values, m.split)
        last = max(last, m.step)
    return last
