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

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
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
from genstudio.metrics import compare as cmp
from genstudio.metrics import nfe_sweep
from genstudio.metrics.compare import Column, RunRow

from ..runs_browser import LIVE, STATUS_COLORS, run_problems
from ..widgets import style_plot
from .curves import CurvesOverlay
from .eval_queue import EvalQueue
from .grids import GridStrip
from .nfe_runs import CachedNfeQualityView
from .table import ALL, PATH_ROLE, RunFilterProxy, RunTableModel


MAX_SHOWN = 6


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
        self.nfe = CachedNfeQualityView()
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
            self.queue.add(path, f"{name}: DDIM {k} steps", lambda stop, p=path, k=k: nfe_sweep.evaluate_nfe_point(p, k, n, device, ckpt, evaluator, stop))
        self.nfe.run_button.setEnabled(False)

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
            self.nfe.show_error(message)

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
        self.nfe.run_button.setEnabled(self.nfe.row is not None and self.nfe.checkpoint is not None)
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
