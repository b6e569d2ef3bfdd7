"""Following a run folder that another process writes (``genstudio train`` in a terminal).

:class:`RunFollower` re-reads ``metrics.jsonl`` from the last offset,
``meta.json`` and new sample grids on a timer, and says when the writing
process is gone without finishing the run.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from genstudio.core.runs import RunError, RunFolder

from .runs_browser import LIVE


class RunFollower(QObject):
    """Follows a run folder on disk: new metric records, new grids and meta changes."""

    records = Signal(list)  # list[dict] from metrics.jsonl
    grid = Signal(int, str)  # step, png path
    meta = Signal(dict)
    lost = Signal()  # the writing process is gone without saying so (killed, crashed): following stops

    def __init__(self, path: str | Path, interval_ms: int = 1000, parent: QObject | None = None):
        super().__init__(parent)
        self.run = RunFolder(path)
        self.offset = 0
        self._grids_seen: set[int] = set()
        self._meta_mtime = 0.0
        self.last_meta: dict = {}
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll)

    def start(self) -> None:
        self.poll()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def poll(self) -> None:
        self._emit_new()
        if self._read_meta():
            return
        if self.last_meta.get("status") in LIVE and self.run.writer() is None:
            # The writer releases its lock only after its last meta.json: read that once more before calling it lost.
            if not self._read_meta():
                self.poll_remaining()
                self._timer.stop()
                self.lost.emit()

    def _read_meta(self) -> bool:
        """Emit meta.json when it changed; True when the run has ended (and following stopped)."""
        try:
            mtime = self.run.meta_path.stat().st_mtime
        except OSError:
            return False
        if mtime != self._meta_mtime:
            self._meta_mtime = mtime
            try:
                self.last_meta = self.run.meta
            except RunError:
                return False
            self.meta.emit(self.last_meta)
            if self.last_meta.get("status") not in LIVE:
                self.poll_remaining()
                self._timer.stop()
                return True
        return False

    def poll_remaining(self) -> None:
        """The last records and grids, written before the final meta.json that ended the run."""
        self._emit_new()

    def _emit_new(self) -> None:
        """Emit the metric records and sample grids written since the last read."""
        recs, self.offset = self.run.read_metrics(self.offset)
        if recs:
            self.records.emit(recs)
        for step, path in self.run.sample_grids():
            if step not in self._grids_seen:
                self._grids_seen.add(step)
                self.grid.emit(step, str(path))
