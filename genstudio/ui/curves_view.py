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
import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont, QFontMetricsF, QTextOption
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .metric_store import MetricStore, ema, ema_continue, nearest_index
from .widgets import style_plot

PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
]  # fmt: skip


class TimedGraphicsLayout(pg.GraphicsLayoutWidget):
    """A GraphicsLayoutWidget that remembers how long its last paints took (for the redraw throttle)."""

    resized = Signal()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.paint_s = 0.0  # seconds painting since the last redraw

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self.resized.emit()

    def paintEvent(self, event) -> None:  # noqa: N802
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_s += time.perf_counter() - t0


class FittedAxis(pg.AxisItem):
    """An axis whose labelled ticks are as dense as their text allows, and never denser.

    pyqtgraph picks about log(length) ticks whatever the labels' size and labels
    its minor level too when it thinks there is room: on a narrow plot that printed
    "0 200400 600", and on a short run (steps 10-50 in 150 px) a single "50". Here
    the spacing is the smallest of 1, 2, 5 x 10^k whose labels, measured with the
    tick font, keep a gap of ``GAP_EM`` between them and, where that still leaves two
    labels in view, lie ``COMFORT_EM`` apart; only that level has text.
    """

    GAP_EM = 1.0  # free space between two labels, in widths of an "M": never less
    COMFORT_EM = 5.0  # labels at least this far apart (centre to centre) read without effort

    def __init__(self, orientation: str, *args, **kwargs):
        super().__init__(orientation, *args, **kwargs)
        from PySide6.QtWidgets import QApplication

        # Measured and drawn with the same font, so what fits here fits on screen.
        self.setStyle(maxTextLevel=0, tickFont=QFont(QApplication.font()))

    def _label_extent(self, values: np.ndarray, spacing: float) -> float:
        """Pixels the widest (bottom/top) or tallest (left/right) label of ``values`` takes, plus the gap."""
        fm = QFontMetricsF(self.style["tickFont"])
        gap = self.GAP_EM * fm.horizontalAdvance("M")
        if self.orientation in ("left", "right"):
            return fm.height() + gap / 2
        strings = self.tickStrings(list(values), self.autoSIPrefixScale * self.scale, spacing)
        return max((fm.horizontalAdvance(str(t)) for t in strings), default=0.0) + gap

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 (pyqtgraph naming)
        if self._tickLevels is not None or self.logMode:
            return super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not np.isfinite(span) or span <= 0 or size <= 0:
            return []
        lo, hi = min(minVal, maxVal), max(minVal, maxVal)
        comfort = self.COMFORT_EM * QFontMetricsF(self.style["tickFont"]).horizontalAdvance("M")
        if self.orientation in ("left", "right"):
            comfort /= 2  # rows of text stack closer than words in a line
        fits = None  # the densest spacing whose labels do not touch
        k = int(np.floor(np.log10(span / max(size, 1.0))))  # a spacing of one pixel or less: too dense
        for _ in range(40):  # bounded: each round multiplies the spacing by 10
            for m in (1, 2, 5):
                spacing = m * 10.0**k
                px = spacing / span * size
                first = np.ceil(lo / spacing) * spacing
                values = first + spacing * np.arange(min(50, int((hi - first) / spacing) + 1))
                if fits is None and px >= self._label_extent(values, spacing):
                    fits = (spacing, m, len(values))
                if fits is not None and px >= comfort:
                    # Sparser for comfort, unless that would leave fewer than two labels in view.
                    chosen = (spacing, m) if len(values) >= 2 or fits[2] < 2 else fits[:2]
                    spacing, m = chosen
                    minor = spacing / 5 if m in (1, 5) else spacing / 2
                    return [(spacing, 0), (minor, 0)]
            k += 1
        return super().tickSpacing(minVal, maxVal, size)


class StepViewBox(pg.ViewBox):
    """A view box whose automatic x range spans every plot's steps, not only its own.

    The plots share their x axis (linked), and a linked view follows the first
    plot's range: when that plot held a validation series measured from step 25,
    every training curve lost its first steps from view.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.shared_x: tuple[float, float] | None = None

    def childrenBounds(self, frac=None, orthoRange=(None, None), items=None):  # noqa: N802, N803
        bounds = super().childrenBounds(frac=frac, orthoRange=orthoRange, items=items)
        if self.shared_x is not None and items is None:
            lo, hi = self.shared_x
            own = bounds[0]
            bounds[0] = [lo, hi] if own is None else [min(own[0], lo), max(own[1], hi)]
        return bounds


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


class TitleKey:
    """The plot's title followed by its series' names in their colours: the key sits above the data, never on it.

    A legend box inside the view box covered the curves of a plot 200 px wide
    (1366x768). The title wraps to the plot's width (a second line when the names
    do not fit) instead of widening the plot; a single series needs no key.
    """

    ENTRY_SIZE = "8pt"

    def __init__(self, item: pg.PlotItem, title: str):
        self.item, self.title = item, title
        self.html = ""
        label = item.titleLabel
        label.item.document().setDefaultTextOption(QTextOption(Qt.AlignmentFlag.AlignHCenter))
        # pyqtgraph's label asks for its text's full width as its minimum (and sets it again on every
        # setText, style_plot's included): the plot could then never be narrower than its title.
        label.updateMin = self._label_min
        # Queued: resizing the title's row from inside the layout pass that resized the plot crashed Qt.
        item.geometryChanged.connect(self.fit, Qt.ConnectionType.QueuedConnection)

    def entries(self, curves: dict) -> list[str]:
        if len(curves) < 2:
            return []
        out = []
        for (name, split), c in curves.items():
            colour = c.smooth.opts["pen"].color().name()
            # Dotted-dashed val, solid train; word joiners (&#8288;): a line may break after an en dash, and
            # left the glyph at the end of one line and its name on the next.
            glyph = "&#9679;&#8288;&#8211;&#8288;&#8211;&#8288;" if split != "train" else "&#9473;&#9473;"
            label = name if split == "train" else f"{name}&nbsp;({split})"  # a wrap never leaves "(val)" alone
            out.append(f"<span style='color:{colour}'>{glyph}</span>&nbsp;{label}")
        return out

    def update(self, curves: dict) -> None:
        parts = self.entries(curves)
        key = f" &nbsp;<span style='font-size:{self.ENTRY_SIZE}'>" + " &nbsp; ".join(parts) + "</span>" if parts else ""
        self.html = self.title + key
        self.item.setTitle(self.html)
        self.fit()

    def _label_min(self) -> None:
        """The title's size hints: any width (the plot's decides), the height of its wrapped text."""
        label = self.item.titleLabel
        h = label.itemRect().height()
        label.setMinimumWidth(0)
        label.setMinimumHeight(h)
        label._sizeHint = {
            Qt.SizeHint.MinimumSize: (0, h),
            Qt.SizeHint.PreferredSize: (0, h),
            Qt.SizeHint.MaximumSize: (-1, -1),
            Qt.SizeHint.MinimumDescent: (0, 0),
        }
        label.updateGeometry()

    def fit(self) -> None:
        """Wrap the title to the plot's width and give its row the height the wrapped text takes."""
        if not shiboken6.isValid(self.item):
            return  # the plot was cleared (a new run) before this queued call arrived
        label = self.item.titleLabel
        if not label.isVisible():
            return
        width = max(40.0, self.item.width() - 8.0)
        if abs(label.item.textWidth() - width) > 0.5:
            label.item.setTextWidth(width)
        self._label_min()
        height = max(24.0, label.itemRect().height() + 2.0)
        if abs(label.maximumHeight() - height) > 0.5:
            label.setMaximumHeight(height)
            self.item.layout.setRowFixedHeight(0, height)
        label.resizeEvent(None)


class MetricPlot:
    def __init__(self, item: pg.PlotItem, title: str, names: list[str]):
        self.item, self.title, self.names = item, title, list(names)
        self.curves: dict[tuple[str, str], Curve] = {}
        self.key = TitleKey(item, title)
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
        # The plots' own width decides the columns: hidden until the first metrics, the plots first
        # took a stale width (two columns of 200 px at 1366x768) and the view's size never changed after.
        self.graphics.resized.connect(lambda: self._regrid())
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
            item = pg.PlotItem(title=title, viewBox=StepViewBox(), axisItems={"bottom": FittedAxis("bottom"), "left": FittedAxis("left")})
            item.showGrid(x=True, y=True, alpha=0.2)
            # No legend box inside the plot (it covered the curves): the title names the series, see TitleKey.
            # No "step" under the bottom axis either: every x axis here is the step (the hover readout
            # says so), and at 1366x768 the label's row was a fifth of a plot's data height.
            item.setLogMode(y=self.log_y.isChecked())
            style_plot(item)
            self.plots[title] = MetricPlot(item, title, names)
            self.plots[title].key.update({})
        # Plots enter the grid once they have data, so a group with nothing yet leaves no hole.
        placed = [p for p in self.plots.values() if p.placed]
        for plot in self.plots.values():
            if plot.placed or not any(self.store.get(n, sp) for n in plot.names for sp in ("train", "val")):
                continue
            k = len(placed)
            self._regrid(k + 1)  # the earlier plots first, in the columns that suit one more plot
            cols = self._grid_cols
            self.graphics.ci.addItem(plot.item, row=k // cols, col=k % cols)
            if placed:
                plot.item.setXLink(placed[0].item)
            plot.placed = True
            placed.append(plot)
        has_data = bool(placed)
        self.graphics.setVisible(has_data)
        self.empty_label.setVisible(not has_data)

    #: A plot narrower than this overlaps its axes' labels: fewer columns then, whatever the height.
    MIN_PLOT_WIDTH = 180
    #: The width : height a curve reads best at; the columns chosen bring the plots closest to it.
    ASPECT = 1.6

    def _columns(self, n: int) -> int:
        """Columns for ``n`` plots in the view's size: the plots' smaller side (height, or width / ASPECT)
        as large as it can be, so four plots in 420 x 450 px go 2 x 2 and two go one above the other."""
        width, height = self.graphics.width(), self.graphics.height()
        if n <= 1 or width <= 0 or height <= 0:
            return min(max(n, 1), self.COLUMNS)
        best, best_side = 1, -1.0
        for cols in range(1, min(n, self.COLUMNS) + 1):
            w, h = width / cols, height / -(-n // cols)
            if cols > 1 and w < self.MIN_PLOT_WIDTH:
                break
            side = min(w / self.ASPECT, h)
            if side > best_side + 0.5:
                best, best_side = cols, side
        return best

    def _regrid(self, n: int | None = None) -> None:
        """Lay the placed plots out again in the columns that suit ``n`` plots (default: those placed)."""
        placed = [p for p in self.plots.values() if p.placed]
        cols = self._columns(n if n is not None else len(placed))
        if self._grid_cols == cols:
            return
        self._grid_cols = cols
        if not placed:
            return
        for p in placed:
            self.graphics.ci.removeItem(p.item)
        for k, p in enumerate(placed):
            self.graphics.ci.addItem(p.item, row=k // cols, col=k % cols)

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
                        plot.key.update(plot.curves)
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
        span = self._step_span()
        for plot in self.plots.values():
            if plot.item.vb.shared_x != span:
                plot.item.vb.shared_x = span
                changed.add(plot.title)
                plot.item.vb.queueUpdateAutoRange()
        for title in changed:
            vb = self.plots[title].item.vb
            if vb._autoRangeNeedsUpdate:
                # Settle the auto range now: left to paint time, the range change asks for a
                # second full repaint of every axis (measured: two paints per update).
                vb.updateAutoRange()
        self.last_redraw_s = time.perf_counter() - t0
        return self.last_redraw_s

    def _step_span(self) -> tuple[float, float] | None:
        """The first and last step of every curve drawn (the x range all plots show when fitted)."""
        ends = [(c.steps[0], c.steps[-1]) for p in self.plots.values() for c in p.curves.values() if len(c.steps)]
        if not ends:
            return None
        return float(min(e[0] for e in ends)), float(max(e[1] for e in ends))

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
            plot.key.update(plot.curves)  # style_plot set the title's text again: wrap it again
        from PySide6.QtGui import QPalette
        from PySide6.QtWidgets import QApplication

        self.graphics.setBackground(QApplication.palette().color(QPalette.ColorRole.Window))


def add_metric_events(store: MetricStore, events: Iterable) -> int:
    """Append Metrics events to ``store``; returns the last step seen."""
    last = store.last_step
    for m in events:
        store.add(m.step, m.values, m.split)
        last = max(last, m.step)
    return last
