"""The selected runs' newest sample grids side by side."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QGridLayout, QLabel, QVBoxLayout, QWidget

from genstudio.metrics import compare as cmp
from genstudio.metrics.compare import RunRow

from ..widgets import ImageView

from .table import run_color


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
