"""The runs browser: every run under the runs folder, refreshed as folders change.

A run written by another process (``genstudio train`` in a terminal) is
followed by :class:`~genstudio.ui.run_follower.RunFollower`.

A damaged folder is still listed and opened: :func:`run_problems` says what
is wrong with it (a checkpoint cut short, a config naming an unknown model, a
torn last line) and :func:`interrupted` tells a run that says "running" but
that no process holds any more (killed, crashed) from a live one.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QMenu,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.runs import LIVE, RunError, RunFolder, default_runs_root, last_progress, list_runs

from .status_bar import format_duration

COLUMNS = ("", "model", "dataset", "steps", "status", "wall time", "created", "folder")
STATUS_COLORS = {
    "running": "#2e8b57", "paused": "#c08a00", "completed": "#3a78c2", "stopped": "#888888",
    "diverged": "#d68a00", "failed": "#d64541", "interrupted": "#d68a00",
}  # fmt: skip
THUMB = 40


def interrupted(run: RunFolder, meta: dict) -> bool:
    """meta.json says the run is live, but no process holds its lock: it was killed or crashed, and can be resumed."""
    return meta.get("status") in LIVE and run.writer() is None


def run_problems(run: RunFolder, meta: dict) -> list[str]:
    """What is wrong with a run folder, one plain sentence each (empty when nothing is).

    Cheap enough for every row of the browser: a checkpoint is checked by its
    header, not loaded. A live run's last line may be half-written; that is
    only worth saying once nobody writes the file any more.
    """
    from genstudio.core.config import ConfigError
    from genstudio.core.registry import UnknownIdError

    out = []
    try:
        run.spec()
    except (RunError, ConfigError, UnknownIdError, OSError, ValueError) as e:
        out.append(f"config.toml cannot be used: {e}")
    latest = run.latest_checkpoint()
    if latest is not None:
        problem = run.checkpoint_problem(latest)
        if problem is not None:
            good = run.newest_complete_checkpoint()
            then = f"resuming starts from step {good:,}, the newest complete checkpoint" if good is not None else "no complete checkpoint is left"
            name = f"{run.checkpoint_dir.name}/step_{latest:08d}.safetensors"
            out.append(f"the latest checkpoint (step {latest:,}, {name}) cannot be used: {problem}; {then}")
    live = meta.get("status") in LIVE and not interrupted(run, meta)
    if not live and _torn_last_line(run.metrics_path):
        out.append("the last line of metrics.jsonl is incomplete (its writer stopped mid-line); it is left out")
    return out


def _torn_last_line(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            if f.tell() == 0:
                return False
            f.seek(-1, 2)
            return f.read(1) != b"\n"
    except OSError:
        return False


def _int(x, default=0) -> int:
    try:
        return int(x)
    except (TypeError, ValueError):
        return default


class RunsBrowser(QWidget):
    runOpened = Signal(str)  # run folder path
    rootChanged = Signal(str)
    useRunFor = Signal(str, str, str)  # model id, run field, run folder: "Use as autoencoder for ldm"

    def __init__(self, root: str | Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.root = Path(root) if root is not None else default_runs_root()
        self._thumbs: dict[str, tuple[float, QPixmap]] = {}
        self._problems: dict[str, tuple[list, list[str]]] = {}  # path -> (file signature, problems)
        self._rows: list[RunFolder] = []
        self.root_label = QLabel()
        self.root_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button = QPushButton("Runs folder…")
        self.choose_button.setToolTip("Choose the folder that holds run folders")
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Show the selected run's curves and sample grids (double-click works too)")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setIconSize(QSize(THUMB, THUMB))
        self.table.verticalHeader().setDefaultSectionSize(THUMB + 4)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.empty_label = QLabel()
        self.empty_label.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(self.root_label, 1)
        bar.addWidget(self.choose_button)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.open_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.empty_label)
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(lambda _: self._refresh_soon.start())
        self._refresh_soon = QTimer(self, singleShot=True, interval=300)
        self._refresh_soon.timeout.connect(self.refresh)
        # Status and step of live runs change inside their folders; poll those cheaply.
        self._poll = QTimer(self, interval=2000)
        self._poll.timeout.connect(self._poll_live)
        self._poll.start()
        self.choose_button.clicked.connect(self._choose_root)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self._open_selected)
        self.table.cellDoubleClicked.connect(lambda r, _c: self._open_row(r))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(lambda pos: self.context_menu(self.table.rowAt(pos.y())).popup(self.table.viewport().mapToGlobal(pos)))
        self.set_root(self.root)

    def set_root(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root_label.setText(f"Runs in <b>{self.root}</b>")
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if self.root.is_dir():
            self.watcher.addPath(str(self.root))
        self.refresh()
        self.rootChanged.emit(str(self.root))

    def _choose_root(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Runs folder", str(self.root))
        if p:
            self.set_root(p)

    def runs(self) -> list[RunFolder]:
        return list(self._rows)

    def refresh(self) -> None:
        if self.root.is_dir() and str(self.root) not in self.watcher.directories():
            self.watcher.addPath(str(self.root))
        selected = self.selected_path()
        runs = list_runs(self.root)
        self._rows = runs
        self.table.setRowCount(len(runs))
        for r, run in enumerate(runs):
            self._fill_row(r, run)
        if selected:
            for r, run in enumerate(runs):
                if str(run.path) == selected:
                    self.table.selectRow(r)
        self.empty_label.setText("" if runs else f"No runs in {self.root} yet. Train one, or choose another runs folder.")
        self.empty_label.setVisible(not runs)

    def _fill_row(self, r: int, run: RunFolder, keep_progress: bool = False) -> None:
        try:
            meta = run.meta
        except RunError as e:
            meta = {"status": "unreadable", "message": str(e)}
        notes = [str(meta["message"])] if meta.get("message") else []
        if interrupted(run, meta):
            meta = {**meta, "status": "interrupted"}
            notes.insert(0, "meta.json says it is running, but no process is writing it (killed or crashed); open it and Resume run to continue")
        if meta.get("status") not in LIVE:
            notes += self._problems_of(run, meta)
        step, total = _int(meta.get("step")), _int(meta.get("total_steps"))
        wall = meta.get("wall_time_s")
        if meta.get("status") in LIVE:
            live = last_progress(run.metrics_path)
            if live is not None and live[0] >= step:
                step, wall = live
        created = _float(meta.get("created"))
        cells = [
            "",
            str(meta.get("model", "?")),
            str(meta.get("dataset", "?")),
            f"{step:,} / {total:,}" if total else f"{step:,}",
            str(meta.get("status", "?")),
            format_duration(wall),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(float(created))) if created else "",
            run.path.name,
        ]
        steps_item = self.table.item(r, 3)
        # The live count from this window is newer than meta.json's (written at checkpoints).
        live_newer = keep_progress and steps_item is not None and step < _steps_shown(steps_item.text())
        for c, text in enumerate(cells):
            item = self.table.item(r, c)
            if live_newer and c in (3, 5):
                continue
            if item is None:
                item = QTableWidgetItem()
                self.table.setItem(r, c, item)
            item.setText(text)
            item.setData(Qt.ItemDataRole.UserRole, str(run.path))
        status_item = self.table.item(r, 4)
        status_item.setForeground(_color(meta.get("status")))
        status_item.setToolTip("\n".join(notes))
        thumb = self._thumbnail(run)
        icon_item = self.table.item(r, 0)
        icon_item.setData(Qt.ItemDataRole.DecorationRole, thumb if thumb is not None else None)

    def _problems_of(self, run: RunFolder, meta: dict) -> list[str]:
        """run_problems, re-checked only when one of the files it reads changed (a refresh lists every run)."""
        sig = []
        for p in (run.config_path, run.meta_path, run.metrics_path, run.checkpoint_dir, run.checkpoint_dir / "latest.json"):
            try:
                st = p.stat()
                sig.append((st.st_mtime_ns, st.st_size))
            except OSError:
                sig.append(None)
        cached = self._problems.get(str(run.path))
        if cached is not None and cached[0] == sig:
            return cached[1]
        problems = run_problems(run, meta)
        self._problems[str(run.path)] = (sig, problems)
        return problems

    def _thumbnail(self, run: RunFolder) -> QPixmap | None:
        grids = run.sample_grids()
        if not grids:
            return None
        path = grids[-1][1]
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._thumbs.get(str(run.path))
        if cached and cached[0] == mtime and cached[1] is not None:
            return cached[1]
        pm = QPixmap(str(path))
        if pm.isNull():
            return None
        pm = pm.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self._thumbs[str(run.path)] = (mtime, pm)
        return pm

    def _poll_live(self) -> None:
        if not self.isVisible():
            return
        for r, run in enumerate(self._rows):
            status = self.table.item(r, 4).text() if self.table.item(r, 4) else ""
            if status in ("running", "paused", "created"):
                self._fill_row(r, run, keep_progress=True)

    def show_progress(self, path: str | Path, step: int, total: int, elapsed_s: float) -> None:
        """Live step and wall time of the run training in this window (meta.json only changes at checkpoints)."""
        key = str(path)
        for r, run in enumerate(self._rows):
            if str(run.path) == key:
                self.table.item(r, 3).setText(f"{step:,} / {total:,}" if total else f"{step:,}")
                self.table.item(r, 5).setText(format_duration(elapsed_s))
                return

    def selected_path(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self.table.item(rows[0].row(), 1).data(Qt.ItemDataRole.UserRole)

    def context_menu(self, row: int) -> QMenu:
        """Open, and "Use as <field> for <model>" for every model with a run field that takes this run's model."""
        from .model_panel import run_field_uses

        menu = QMenu(self)
        if not 0 <= row < len(self._rows):
            return menu
        run = self._rows[row]
        menu.addAction("Open", lambda: self.runOpened.emit(str(run.path)))
        try:
            meta = run.meta
        except RunError:
            return menu
        uses = run_field_uses(str(meta.get("model", "")))
        if uses:
            menu.addSeparator()
        finished = meta.get("status") in ("completed", "stopped") and run.latest_checkpoint() is not None
        for model_id, field, text in uses:
            action = menu.addAction(text, lambda m=model_id, f=field: self.useRunFor.emit(m, f, str(run.path)))
            if not finished:
                action.setEnabled(False)
                action.setToolTip("the run has no final checkpoint yet: wait until it finishes or stop it")
        menu.setToolTipsVisible(True)
        return menu

    def _open_selected(self) -> None:
        p = self.selected_path()
        if p:
            self.runOpened.emit(p)

    def _open_row(self, r: int) -> None:
        if 0 <= r < len(self._rows):
            self.runOpened.emit(str(self._rows[r].path))

    def save_settings(self, s: QSettings) -> None:
        s.setValue("runs/root", str(self.root))

    def restore_settings(self, s: QSettings) -> None:
        root = s.value("runs/root", "")
        if root:
            self.set_root(str(root))


def _float(x) -> float | None:
    try:
        return float(x) if x is not None else None
    except (TypeError, ValueError):
        return None


def _steps_shown(text: str) -> int:
    return _int(text.split("/")[0].replace(",", "").strip(), 0) if text else 0


def _color(status):
    from PySide6.QtGui import QColor

    return QColor(STATUS_COLORS.get(str(status), "#888888"))
