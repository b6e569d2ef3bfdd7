"""Compare runs: a sortable, filterable table of every run, grids side by side, curves overlaid, NFE vs quality.

The rows come from :mod:`genstudio.metrics.compare` (Qt-free): one per run
folder, its newest evaluation or, failing that, its last validation record.
The table is re-read on a timer like the runs browser, cheaply: a row is
rebuilt only when one of its files changed. Evaluations run off the UI
thread, one run at a time, through :class:`EvalQueue`; their errors land in
the row and the status line. Cancel (and closing the view) sets the running
evaluation's stop flag, which it reads between batches: it ends at its next
batch and saves nothing.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QItemSelection, QItemSelectionModel, QModelIndex, QObject, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.runs import RunFolder
from genstudio.core.capabilities import LIKELIHOOD_DATA
from genstudio.metrics import compare as cmp
from genstudio.metrics.compare import Column, RunRow
from genstudio.metrics.quality import EvaluationCancelled

from .curves_view import PALETTE
from .metric_store import ema
from .runs_browser import LIVE, STATUS_COLORS, run_problems
from .tasks import BackgroundCall
from .widgets import ImageView, style_plot

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole
MAX_SHOWN = 6
ALL = "all"


def run_color(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


# -- the table ------------------------------------------------------------------------------


class RunTableModel(QAbstractTableModel):
    """Rows of :class:`RunRow` under :class:`Column` s, plus a UI-only "evaluation" column."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[RunRow] = []
        self.columns: list[Column] = list(cmp.FIXED_COLUMNS) + list(cmp.TAIL_COLUMNS)
        self.eval_state: dict[str, tuple[str, str, str]] = {}  # path -> (state, text, details)
        self.problems: dict[str, list[str]] = {}  # path -> what is wrong with the folder (runs_browser.run_problems)

    @property
    def eval_column(self) -> int:
        return len(self.columns)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns) + 1

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return "evaluation" if section == self.eval_column else self.columns[section].label
        if role == Qt.ItemDataRole.ToolTipRole and section < len(self.columns):
            c = self.columns[section]
            if c.metric in cmp.LIKELIHOOD_KEYS:
                return ("Likelihood: 'exact' for flows and autoregressive models, 'bound' for a VAE's importance-weighted bound or DDPM's variational bound; "
                        "then what it is a likelihood of (8-bit, binarised, ...). Only rows with the same 'of' can be ranked against each other")
            if c.floor:
                return f"{c.label}; the floor beside it is real data against held-out real data at the same n (what a perfect model would score)"
            if c.key == "source":
                return "Where the metrics come from: an evaluation (evals.jsonl) or, before any, the last validation record of training"
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        c = index.column()
        key = str(row.path)
        if role == PATH_ROLE:
            return key
        if c == self.eval_column:
            state = self.eval_state.get(key)
            problems = self.problems.get(key) or []
            if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
                if state is not None:
                    return state[1]
                if row.error:
                    return f"run failed: {row.error}"
                return f"damaged: {problems[0]}" if problems else ""
            if role == Qt.ItemDataRole.ToolTipRole:
                if state is not None:
                    return state[2] or state[1]
                return "\n".join(([row.error] if row.error else []) + problems) or None
            if role == Qt.ItemDataRole.ForegroundRole and ((state and state[0] == "error") or (state is None and (row.error or problems))):
                return QColor(STATUS_COLORS["failed"])
            return None
        col = self.columns[c]
        if role == Qt.ItemDataRole.DisplayRole:
            return cmp.display_text(row, col)
        if role == SORT_ROLE:
            return cmp.raw_value(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col.key == "source":
                return row.source_detail or None
            if col.key == "name":
                return str(row.path)
            if col.metric in cmp.LIKELIHOOD_KEYS and row.likelihood_data:
                return f"a likelihood of {LIKELIHOOD_DATA.get(row.likelihood_data, row.likelihood_data)}"
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col.key == "status":
            return QColor(STATUS_COLORS.get(row.status, "#888888"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_rows(self, rows: list[RunRow], columns: list[Column]) -> bool:
        """Show ``rows``; returns True when the model was reset (the caller restores the selection)."""
        same_shape = columns == self.columns and [r.path for r in rows] == [r.path for r in self.rows]
        if same_shape:
            changed = [i for i, (a, b) in enumerate(zip(self.rows, rows)) if a is not b and a != b]
            self.rows = rows
            for i in changed:
                self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
            return False
        self.beginResetModel()
        self.rows, self.columns = rows, columns
        self.endResetModel()
        return True

    def set_eval_state(self, path: str, state: str | None, text: str = "", details: str = "") -> None:
        if state is None:
            self.eval_state.pop(path, None)
        else:
            self.eval_state[path] = (state, text, details)
        for i, r in enumerate(self.rows):
            if str(r.path) == path:
                self.dataChanged.emit(self.index(i, self.eval_column), self.index(i, self.eval_column))

    def row_of(self, path: str) -> RunRow | None:
        for r in self.rows:
            if str(r.path) == path:
                return r
        return None


def _missing(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


class RunFilterProxy(QSortFilterProxyModel):
    """Numeric sort with missing values last in both orders; text, dataset, model and likelihood filters."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.text = ""
        self.dataset = ALL
        self.model = ALL
        self.likelihood_only = False
        self._order = Qt.SortOrder.AscendingOrder

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._order = order
        super().sort(column, order)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        ma, mb = _missing(a), _missing(b)
        if ma or mb:
            # Qt reverses the comparison for a descending sort; answer so missing stays at the bottom.
            if ma and mb:
                return False
            return mb if self._order == Qt.SortOrder.AscendingOrder else ma
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a).lower() < str(b).lower()

    def set_filters(self, text: str | None = None, dataset: str | None = None, model: str | None = None, likelihood_only: bool | None = None) -> None:
        self.beginFilterChange()
        if text is not None:
            self.text = text.strip().lower()
        if dataset is not None:
            self.dataset = dataset
        if model is not None:
            self.model = model
        if likelihood_only is not None:
            self.likelihood_only = likelihood_only
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        m: RunTableModel = self.sourceModel()
        row = m.rows[source_row]
        if self.dataset != ALL and row.dataset != self.dataset:
            return False
        if self.model != ALL and row.model != self.model:
            return False
        if self.likelihood_only and not any(k in row.metrics for k in cmp.LIKELIHOOD_KEYS):
            return False
        if self.text:
            hay = " ".join((row.name, row.model, row.dataset, row.status, row.device, row.family)).lower()
            return all(word in hay for word in self.text.split())
        return True


# -- evaluation off the UI thread ---------------------------------------------------------------


StopFlag = Callable[[], bool]


class EvalQueue(QObject):
    """Runs evaluation jobs on the thread pool one at a time; cancel stops the running one and drops the rest.

    A job is ``fn(should_stop)``: it asks ``should_stop()`` between batches and
    raises :class:`EvaluationCancelled` when it says stop (evaluate_run does).
    Failures are reported with their traceback, cancellations as ``interrupted``.
    """

    started = Signal(str, str)  # path, label
    succeeded = Signal(str, object)  # path, result dict
    failed = Signal(str, str, str)  # path, message, traceback
    interrupted = Signal(str)  # path of the job stopped halfway by cancel
    progress = Signal(int, int)  # done, total
    idle = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.call = BackgroundCall(self)
        self.call.done.connect(self._on_done)
        self.call.failed.connect(self._on_failed)
        self.pending: list[tuple[str, str, Callable[[StopFlag], Any]]] = []
        self.current: tuple[str, str] | None = None
        self._stop = threading.Event()  # the running job's flag; a fresh one per job
        self.done = 0
        self.total = 0
        self.cancelled = False

    def busy(self) -> bool:
        return self.current is not None or bool(self.pending)

    def add(self, path: str, label: str, fn: Callable[[StopFlag], Any]) -> None:
        if not self.busy():
            self.done = self.total = 0
            self.cancelled = False
        self.pending.append((path, label, fn))
        self.total += 1
        self.progress.emit(self.done, self.total)
        if self.current is None:
            self._next()

    def cancel(self) -> list[str]:
        """Drop the queued jobs and ask the running one to stop at its next batch; returns the dropped paths."""
        dropped = [p for p, _, _ in self.pending]
        self.pending.clear()
        self.cancelled = True
        self._stop.set()
        self.total = self.done + (1 if self.current else 0)
        self.progress.emit(self.done, self.total)
        if self.current is None:
            self.idle.emit()
        return dropped

    def _next(self) -> None:
        if not self.pending:
            self.current = None
            self.idle.emit()
            return
        path, label, fn = self.pending.pop(0)
        self.current = (path, label)
        stop = self._stop = threading.Event()
        self.started.emit(path, label)
        self.call.start(lambda: fn(stop.is_set))

    def _on_done(self, _ticket: int, result: object) -> None:
        path = self.current[0] if self.current else ""
        self.done += 1
        self.progress.emit(self.done, self.total)
        self.succeeded.emit(path, result)
        self._next()

    def _on_failed(self, _ticket: int, exc: object, tb: str) -> None:
        path = self.current[0] if self.current else ""
        self.done += 1
        self.progress.emit(self.done, self.total)
        if isinstance(exc, EvaluationCancelled):
            self.interrupted.emit(path)
        else:
            self.failed.emit(path, f"{type(exc).__name__}: {exc}", tb)
        self._next()


# -- grids side by side --------------------------------------------------------------------------------


class GridStrip(QWidget):
    """The latest sample grid of each selected run, captioned with its name in its curve colour."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.views: list[ImageView] = []
        self.captions: list[QLabel] = []
        self._shown: list[tuple[str, str | None, float]] = []
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.note = QLabel("Select runs in the table (up to 6) to see their latest sample grids side by side.")
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(self.grid, 1)
        lay.addWidget(self.note)

    def set_rows(self, rows: list[RunRow], extra: int = 0) -> None:
        key = []
        for r in rows:
            mtime = r.grid.stat().st_mtime if r.grid is not None and r.grid.is_file() else 0.0
            key.append((str(r.path), str(r.grid) if r.grid else None, mtime))
        key.append(("extra", None, float(extra)))
        if key == self._shown:
            return
        self._shown = key
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                # Hidden and detached now: deleteLater runs only when the event loop next spins.
                w.hide()
                w.setParent(None)
                w.deleteLater()
        self.views, self.captions = [], []
        ncols = max(1, math.ceil(math.sqrt(len(rows))))  # 2 -> 2 x 1, 4 -> 2 x 2, 6 -> 3 x 2
        for i, r in enumerate(rows):
            cell = QWidget()
            v = QVBoxLayout(cell)
            v.setContentsMargins(2, 2, 2, 2)
            view = ImageView(placeholder=f"{r.name}: no sample grid yet")
            view.setMinimumSize(100, 100)
            if r.grid is not None:
                img = QImage(str(r.grid))
                view.set_qimage(None if img.isNull() else img)
            color = QColor(*run_color(i)).name()
            step = cmp.format_number(float(_grid_step(r.grid))) if r.grid is not None else "–"
            cap = QLabel(f"<span style='color:{color}'>■</span> <b>{r.name}</b><br><small>{r.model} · {r.dataset} · step {step}</small>")
            cap.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cap.setToolTip(str(r.path))
            cap.setWordWrap(True)
            v.addWidget(view, 1)
            v.addWidget(cap)
            self.grid.addWidget(cell, i // ncols, i % ncols)
            self.views.append(view)
            self.captions.append(cap)
        if not rows:
            self.note.setText("Select runs in the table (up to 6) to see their latest sample grids side by side.")
        elif extra:
            self.note.setText(f"Showing the first {len(rows)} of {len(rows) + extra} selected runs.")
        self.note.setVisible(not rows or bool(extra))


def _grid_step(path: Path | None) -> int:
    try:
        return int(path.stem.split("_")[1]) if path is not None else 0
    except (IndexError, ValueError):
        return 0


# -- curves overlaid ------------------------------------------------------------------------------------


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


# -- NFE against quality ------------------------------------------------------------------------------


class NfeQualityPanel(QWidget):
    """For a diffusion run: the chosen metric against the number of DDIM steps, floor dashed."""

    computeRequested = Signal(str, list)  # run path, DDIM step counts not cached yet

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.row: RunRow | None = None
        self.checkpoint: int | None = None
        self.records: list[dict] = []
        self.curve_item: pg.PlotDataItem | None = None
        self.floor_line: pg.InfiniteLine | None = None
        self.run_label = QLabel()
        self.run_label.setWordWrap(True)
        self.steps_edit = QLineEdit(", ".join(str(k) for k in cmp.DEFAULT_NFE_STEPS))
        self.steps_edit.setToolTip("DDIM step counts to evaluate (each is one evaluation, cached in the run's evals.jsonl)")
        self.metric = QComboBox()
        self.metric.setToolTip("Quality metric on the y axis")
        self.compute_button = QPushButton("Compute missing points")
        self.compute_button.setToolTip("Evaluate the step counts not in evals.jsonl yet, one at a time, off the UI thread")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.plot = pg.PlotWidget()
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMenuEnabled(False)
        self.plot.setLogMode(x=True)
        self.plot.setLabel("bottom", "NFE (network evaluations per sample)")
        self.legend = self.plot.addLegend(offset=(-5, 5), labelTextSize="8pt")
        style_plot(self.plot)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("DDIM steps"))
        bar.addWidget(self.steps_edit, 1)
        bar.addWidget(QLabel("Metric"))
        bar.addWidget(self.metric)
        bar.addWidget(self.compute_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.run_label)
        lay.addLayout(bar)
        lay.addWidget(self.plot, 1)
        lay.addWidget(self.status)
        self.metric.currentIndexChanged.connect(lambda _: self.redraw())
        self.compute_button.clicked.connect(self._request)
        self.set_row(None)

    def set_row(self, row: RunRow | None) -> None:
        self.row = row if row is not None and row.is_diffusion else None
        if self.row is None:
            self.run_label.setText("Select a diffusion run (a model with a DDIM sampler) to plot sample quality against the number of DDIM steps.")
            self.checkpoint, self.records = None, []
            self.compute_button.setEnabled(False)
            self.redraw()
            return
        self.checkpoint = RunFolder(self.row.path).latest_checkpoint()
        self.run_label.setText(
            f"<b>{self.row.name}</b> ({self.row.model} on {self.row.dataset}), checkpoint "
            + (f"step {self.checkpoint:,}" if self.checkpoint is not None else "none yet")
        )
        self.compute_button.setEnabled(self.checkpoint is not None)
        self.reload()

    def reload(self) -> None:
        """Re-read the cached sweep points of the run shown."""
        if self.row is None:
            return
        self.records = cmp.sweep_records(self.row.path, self.checkpoint)
        names = cmp.sweep_metrics(self.records) or ["fid"]
        current = self.metric.currentData()
        if [self.metric.itemData(i) for i in range(self.metric.count())] != names:
            self.metric.blockSignals(True)
            self.metric.clear()
            for name in names:
                self.metric.addItem(cmp.metric_label(name), name)
            self.metric.setCurrentIndex(names.index(current) if current in names else (names.index("fid") if "fid" in names else 0))
            self.metric.blockSignals(False)
        self.redraw()

    def steps(self) -> list[int]:
        return cmp.parse_steps(self.steps_edit.text())

    def _request(self) -> None:
        if self.row is None:
            return
        try:
            steps = self.steps()
        except ValueError as e:
            self.status.setText(f"<span style='color:{STATUS_COLORS['failed']}'>{e}</span>")
            return
        todo = cmp.missing_steps(self.row.path, steps, self.checkpoint)
        if not todo:
            self.status.setText("Every step count asked for is already in evals.jsonl (nothing to compute).")
            return
        self.computeRequested.emit(str(self.row.path), todo)

    def redraw(self) -> None:
        self.plot.clear()
        self.legend.clear()
        self.curve_item, self.floor_line = None, None
        if self.row is None:
            self.plot.setTitle("")
            return
        metric = self.metric.currentData() or "fid"
        curve = cmp.nfe_curve(self.records, metric)
        label = cmp.metric_label(metric)
        better = "lower is better" if cmp.KNOWN.get(metric, ("", True))[1] else "higher is better"
        self.plot.setTitle(f"{label} against NFE (DDIM) · {better}")
        self.plot.setLabel("left", label)
        bottom = self.plot.getAxis("bottom")
        # Ticks at the step counts evaluated (the log axis's own minor labels run into each other).
        bottom.setTicks([[(math.log10(x), f"{x:g}") for x in curve.nfe]] if curve.nfe else None)
        if not curve.nfe:
            self.status.setText("No DDIM evaluations of this checkpoint yet: press <i>Compute missing points</i>.")
            return
        self.curve_item = self.plot.plot(
            curve.nfe, curve.values, pen=pg.mkPen(run_color(0), width=2), symbol="o", symbolSize=8,
            symbolBrush=run_color(0), symbolPen=None, name=f"{label} ({self.row.name})",
        )  # fmt: skip
        if curve.floor is not None:
            self.floor_line = pg.InfiniteLine(
                pos=curve.floor, angle=0, pen=pg.mkPen((128, 128, 128), width=2, style=Qt.PenStyle.DashLine),
                label=f"floor {cmp.format_number(curve.floor)}", labelOpts={"position": 0.9, "color": (110, 110, 110)},
            )  # fmt: skip
            self.plot.addItem(self.floor_line)
        pts = ", ".join(f"{int(n)}: {cmp.format_number(v)}" for n, v in zip(curve.nfe, curve.values))
        self.status.setText(f"{label} at NFE {pts}" + (f" · floor {cmp.format_number(curve.floor)}" if curve.floor is not None else ""))
        self.plot.enableAutoRange()


# -- the view ---------------------------------------------------------------------------------------------


class CompareView(QWidget):
    """Every run in one table; the selected ones side by side."""

    def __init__(
        self,
        roots: list[str | Path] | None = None,
        evaluator: Callable[..., dict] | None = None,
        poll_ms: int = 2000,
        parent: QWidget | None = None,
    ):
        super().__init__(parent)
        self.roots: list[Path] = [Path(r) for r in (roots or [])]
        self.extra_roots: list[Path] = []
        self.evaluator = evaluator  # None: genstudio.metrics.evaluate.evaluate_run
        self.device = "auto"
        self.cache = cmp.RowCache()
        self._checked: dict[str, RunRow] = {}  # path -> the row its folder was last checked for
        self._default_dataset: str | None = None

        self.model = RunTableModel(self)
        self.proxy = RunFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter runs (name, model, dataset, status, device)")
        self.filter_edit.setClearButtonEnabled(True)
        self.dataset_combo = QComboBox()
        self.dataset_combo.setToolTip("Show runs on one dataset (metrics are comparable only on the same data)")
        self.model_combo = QComboBox()
        self.model_combo.setToolTip("Show runs of one model")
        for c in (self.dataset_combo, self.model_combo):
            c.addItem(ALL)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.likelihood_only = QCheckBox("bits/dim only")
        self.likelihood_only.setToolTip("Only the likelihood models, sorted by bits/dim (labelled exact or bound)")
        self.add_folder_button = QPushButton("Add folder…")
        self.add_folder_button.setToolTip("Add a run folder, or a folder of runs, to the table")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save the rows and columns shown (in their order) as CSV")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(50, 50_000)
        self.n_spin.setSingleStep(250)
        self.n_spin.setValue(1000)
        self.n_spin.setPrefix("n = ")
        self.n_spin.setToolTip("Samples (and held-out examples) per evaluation")
        self.eval_button = QPushButton("Evaluate selected")
        self.eval_button.setToolTip("Compute each selected run's metrics on its latest checkpoint, one run at a time (saved in evals.jsonl)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the evaluation running (at its next batch; nothing is saved) and drop the queued ones")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)

        self.grids = GridStrip()
        self.curves = CurvesOverlay()
        self.nfe = NfeQualityPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.nfe, "NFE vs quality")

        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 2)
        top.addWidget(QLabel("Dataset"))
        top.addWidget(self.dataset_combo)
        top.addWidget(QLabel("Model"))
        top.addWidget(self.model_combo)
        top.addWidget(self.likelihood_only)
        top.addStretch(1)
        top.addWidget(self.add_folder_button)
        top.addWidget(self.export_button)
        actions = QHBoxLayout()
        actions.addWidget(self.n_spin)
        actions.addWidget(self.eval_button)
        actions.addWidget(self.cancel_button)
        actions.addWidget(self.progress)
        actions.addWidget(self.status, 1)
        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addLayout(top)
        ul.addWidget(self.table, 1)
        ul.addWidget(self.empty_label)
        ul.addLayout(actions)
        self.lower = lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.grids)
        lower.addWidget(self.tabs)
        lower.setStretchFactor(0, 1)
        lower.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(upper)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.splitter)

        self.queue = EvalQueue(self)
        self.queue.started.connect(self._on_eval_started)
        self.queue.succeeded.connect(self._on_eval_done)
        self.queue.failed.connect(self._on_eval_failed)
        self.queue.interrupted.connect(self._on_eval_cancelled)
        self.queue.progress.connect(self._on_progress)
        self.queue.idle.connect(self._on_idle)

        self.filter_edit.textChanged.connect(lambda t: self.proxy.set_filters(text=t))
        self.dataset_combo.currentTextChanged.connect(lambda t: self._on_combo(dataset=t))
        self.model_combo.currentTextChanged.connect(lambda t: self._on_combo(model=t))
        self.likelihood_only.toggled.connect(self._on_likelihood_only)
        self.add_folder_button.clicked.connect(self._add_folder_dialog)
        self.export_button.clicked.connect(self._export_dialog)
        self.eval_button.clicked.connect(self.evaluate_selected)
        self.cancel_button.clicked.connect(self.cancel_evaluation)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())
        self.nfe.computeRequested.connect(self.compute_nfe)

        # Runs appear and finish while the view is open: re-read on a timer (cheap when nothing changed).
        self._poll = QTimer(self, interval=poll_ms)
        self._poll.timeout.connect(self._poll_tick)
        self._poll.start()
        self.refresh()

    # -- rows -------------------------------------------------------------------------------------
    def set_roots(self, roots: list[str | Path]) -> None:
        self.roots = [Path(r) for r in roots]
        self.refresh()

    def add_folder(self, path: str | Path) -> bool:
        p = Path(path)
        if not p.is_dir():
            self.status.setText(f"'{p}' is not a folder")
            return False
        if not cmp.find_runs([p]):
            self.status.setText(f"No run folders in '{p}' (a run folder holds meta.json and config.toml)")
            return False
        if p not in self.extra_roots:
            self.extra_roots.append(p)
        self.refresh()
        return True

    def _add_folder_dialog(self) -> None:
        start = str(self.roots[0]) if self.roots else ""
        p = QFileDialog.getExistingDirectory(self, "Add runs", start)
        if p:
            self.add_folder(p)

    def _poll_tick(self) -> None:
        if self.isVisible():
            self.refresh()

    def refresh(self) -> None:
        runs = cmp.find_runs(self.roots + self.extra_roots)
        rows = self.cache.rows(runs)
        columns = cmp.build_columns(rows)
        selected = self.selected_paths()
        self._check_folders(rows)
        reset = self.model.set_rows(rows, columns)
        self._fill_combos(rows)
        if reset:
            self.table.resizeColumnsToContents()
            for c in range(self.model.columnCount()):
                self.table.setColumnWidth(c, min(self.table.columnWidth(c), 260))
            self.select_paths(selected)
        where = ", ".join(str(r) for r in self.roots + self.extra_roots) or "no folder"
        self.empty_label.setText("" if rows else f"No runs in {where} yet. Train one, or add a folder of runs.")
        self.empty_label.setVisible(not rows)
        self._on_selection(refresh_only=True)

    def _check_folders(self, rows: list[RunRow]) -> None:
        """What is wrong with each finished run's folder, re-checked only when its row was re-read (a file changed)."""
        for row in rows:
            key = str(row.path)
            if self._checked.get(key) is row:
                continue
            self._checked[key] = row
            self.model.problems[key] = [] if row.status in LIVE else run_problems(RunFolder(row.path), {"status": row.status})

    def _fill_combos(self, rows: list[RunRow]) -> None:
        for combo, values in ((self.dataset_combo, {r.dataset for r in rows}), (self.model_combo, {r.model for r in rows})):
            want = [ALL] + sorted(values, key=str.lower)
            have = [combo.itemText(i) for i in range(combo.count())]
            if want == have:
                continue
            cur = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(want)
            combo.setCurrentText(cur if cur in want else ALL)
            combo.blockSignals(False)
            self._on_combo(**{"dataset" if combo is self.dataset_combo else "model": combo.currentText()})
        if self._default_dataset is not None and self._default_dataset in {r.dataset for r in rows}:
            self.dataset_combo.setCurrentText(self._default_dataset)
            self._default_dataset = None

    def set_default_dataset(self, dataset: str | None) -> None:
        """Filter to the current run's dataset (applied as soon as a run on it is listed)."""
        self._default_dataset = dataset or None
        if dataset and self.dataset_combo.findText(dataset) >= 0:
            self.dataset_combo.setCurrentText(dataset)
            self._default_dataset = None

    def _on_combo(self, dataset: str | None = None, model: str | None = None) -> None:
        self.proxy.set_filters(dataset=dataset, model=model)

    def _on_likelihood_only(self, on: bool) -> None:
        self.proxy.set_filters(likelihood_only=on)
        if on:
            col = self.column_index("metric:bits_per_dim")
            if col is None:
                col = self.column_index("metric:nll_nats")
            if col is not None:
                self.table.sortByColumn(col, Qt.SortOrder.AscendingOrder)
            self.status.setText(cmp.likelihood_mix_warning(self.visible_rows()))

    def column_index(self, key: str) -> int | None:
        for i, c in enumerate(self.model.columns):
            if c.key == key:
                return i
        return None

    # -- selection ----------------------------------------------------------------------------------
    def selected_paths(self) -> list[str]:
        rows = sorted(self.table.selectionModel().selectedRows(), key=lambda ix: ix.row())
        return [ix.data(PATH_ROLE) for ix in rows]

    def selected_rows(self) -> list[RunRow]:
        out = []
        for p in self.selected_paths():
            r = self.model.row_of(p)
            if r is not None:
                out.append(r)
        return out

    def select_paths(self, paths: list[str]) -> None:
        sel = QItemSelection()
        wanted = set(paths)
        for i in range(self.proxy.rowCount()):
            ix = self.proxy.index(i, 0)
            if ix.data(PATH_ROLE) in wanted:
                sel.select(ix, self.proxy.index(i, self.proxy.columnCount() - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.table.selectionModel().select(sel, flags)

    def _on_selection(self, refresh_only: bool = False) -> None:
        rows = self.selected_rows()
        shown, extra = rows[:MAX_SHOWN], max(0, len(rows) - MAX_SHOWN)
        self.grids.set_rows(shown, extra)
        self.curves.set_rows(shown)
        diffusion = next((r for r in rows if r.is_diffusion), None)
        if refresh_only and self.nfe.row is not None and diffusion is not None and diffusion.path == self.nfe.row.path:
            self.nfe.reload()
        elif not refresh_only or (self.nfe.row is None) != (diffusion is None):
            self.nfe.set_row(diffusion)
        self.eval_button.setEnabled(bool(rows) and not self.queue.busy())

    # -- evaluation -------------------------------------------------------------------------------------
    def evaluate_selected(self) -> int:
        """Queue the selected runs for evaluation; returns how many were queued."""
        rows = [r for r in self.selected_rows() if not self._queued(str(r.path))]
        n, device, evaluator = self.n_spin.value(), self.device, self.evaluator
        for r in rows:
            path = str(r.path)
            self.model.set_eval_state(path, "queued", "queued")
            self.queue.add(path, f"evaluating {r.name}", lambda stop, p=path: cmp.evaluate_and_save(p, n, device, evaluator, should_stop=stop))
        return len(rows)

    def compute_nfe(self, path: str, steps: list[int], n: int | None = None) -> None:
        """Queue one DDIM evaluation per step count (cached in evals.jsonl as they finish); n from the n box by default."""
        row = self.model.row_of(path)
        name = row.name if row is not None else Path(path).name
        n = n or self.n_spin.value()
        device, evaluator, ckpt = self.device, self.evaluator, RunFolder(path).latest_checkpoint()
        for k in steps:
            self.queue.add(path, f"{name}: DDIM {k} steps", lambda stop, p=path, k=k: cmp.evaluate_nfe_point(p, k, n, device, ckpt, evaluator, stop))
        self.nfe.compute_button.setEnabled(False)

    def _queued(self, path: str) -> bool:
        return (self.queue.current is not None and self.queue.current[0] == path) or any(p == path for p, _, _ in self.queue.pending)

    def cancel_evaluation(self) -> None:
        for p in self.queue.cancel():
            self.model.set_eval_state(p, None)
        if self.queue.current is not None:
            self.model.set_eval_state(self.queue.current[0], "cancelling", "cancelling…")
            self.status.setText(f"Cancelling: {self.queue.current[1]} stops at its next batch…")
        self.cancel_button.setEnabled(False)

    def _on_eval_started(self, path: str, label: str) -> None:
        self.model.set_eval_state(path, "running", "running…")
        self.status.setText(f"{label} ({self.queue.done + 1} / {self.queue.total})…")
        self.cancel_button.setEnabled(True)
        self.eval_button.setEnabled(False)

    def _on_eval_done(self, path: str, result: object) -> None:
        self.model.set_eval_state(path, None)
        self.refresh()
        if self.nfe.row is not None and str(self.nfe.row.path) == path:
            self.nfe.reload()
        self.status.setText(f"evaluated {Path(path).name}")

    def _on_eval_failed(self, path: str, message: str, tb: str) -> None:
        self.model.set_eval_state(path, "error", f"error: {message}", tb)
        self.status.setText(f"<span style='color:{STATUS_COLORS['failed']}'>Evaluating {Path(path).name} failed: {message}</span>")
        if self.nfe.row is not None and str(self.nfe.row.path) == path:
            self.nfe.status.setText(f"<span style='color:{STATUS_COLORS['failed']}'>{message}</span>")

    def _on_eval_cancelled(self, path: str) -> None:
        self.model.set_eval_state(path, "cancelled", "cancelled", "The evaluation was cancelled before it finished; nothing was saved.")

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(done)
        self.progress.setFormat(f"{done} / {total}")
        self.progress.setVisible(total > 0 and self.queue.busy())

    def _on_idle(self) -> None:
        self.cancel_button.setEnabled(False)
        self.progress.setVisible(False)
        self.eval_button.setEnabled(bool(self.selected_paths()))
        self.nfe.compute_button.setEnabled(self.nfe.row is not None and self.nfe.checkpoint is not None)
        if self.queue.cancelled and "failed" not in self.status.text():
            self.status.setText("Evaluation cancelled.")

    # -- export -------------------------------------------------------------------------------------------
    def visible_rows(self) -> list[RunRow]:
        """The rows the filter shows, in their sorted order."""
        out = []
        for i in range(self.proxy.rowCount()):
            src = self.proxy.mapToSource(self.proxy.index(i, 0))
            out.append(self.model.rows[src.row()])
        return out

    def visible_columns(self) -> list[Column]:
        header = self.table.horizontalHeader()
        order = sorted(range(len(self.model.columns)), key=header.visualIndex)
        return [self.model.columns[i] for i in order if not header.isSectionHidden(i)]

    def export_csv(self, path: str | Path) -> Path:
        return cmp.write_csv(path, self.visible_rows(), self.visible_columns())

    def _export_dialog(self) -> None:
        start = str((self.roots[0] if self.roots else Path.cwd()) / "runs.csv")
        p, _ = QFileDialog.getSaveFileName(self, "Export runs as CSV", start, "CSV (*.csv)")
        if not p:
            return
        try:
            out = self.export_csv(p)
        except (OSError, ValueError) as e:
            self.status.setText(f"<span style='color:{STATUS_COLORS['failed']}'>Could not write CSV: {e}</span>")
            return
        self.status.setText(f"wrote {len(self.visible_rows())} rows to {out}")

    def restyle(self) -> None:
        """Follow the application theme (light / dark)."""
        for plot in (self.curves.plot, self.nfe.plot):
            style_plot(plot)
        self.curves.redraw(force=True)
        self.nfe.redraw()

    def shutdown(self) -> None:
        """Stop polling, drop queued evaluations and stop the running one at its next batch (nothing waits for it)."""
        self._poll.stop()
        self.queue.cancel()
