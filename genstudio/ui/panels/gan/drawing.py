"""Painting 2-D data for the GAN sandbox: with "Draw data" a click or a drag sprays real points, the sandbox
trains on them, and "Save drawing…" writes them as a CSV that the ``csv`` dataset trains on. A mixin of
:class:`.panel.GanViewPanel`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog

SPRAY = 12  # points added per click in draw mode
SPRAY_SD = 0.02  # their spread, as a fraction of the view


class DataDrawing:
    """Mixin (before QWidget): the drawn points, their buttons and the plot's mouse in draw mode."""

    data: Any
    drawn: list

    def _draw_toggled(self, on: bool) -> None:
        # While drawing, a drag paints instead of panning the view.
        self.plot.getPlotItem().vb.setMouseEnabled(not on, not on)

    def add_drawn_points(self, x: float, y: float, n: int = SPRAY) -> None:
        """Spray ``n`` points around (x, y), as a click in draw mode does."""
        x0, x1, y0, y1 = self.extent
        sd = SPRAY_SD * np.array([x1 - x0, y1 - y0])
        pts = np.array([x, y]) + sd * self._rng.standard_normal((n, 2))
        self.drawn.append(pts.astype(np.float32))
        self._show_drawn()

    def clear_drawing(self) -> None:
        self.drawn = []
        self._show_drawn()

    def _show_drawn(self) -> None:
        pts = np.concatenate(self.drawn) if self.drawn else np.zeros((0, 2), np.float32)
        self.drawn_item.setData(pos=pts)
        self.real_item.setVisible(not self.drawn)
        self._send_training_points()
        for b in (self.step_d, self.step_g, self.step_both):
            b.setEnabled(self.data is not None and (len(self.data.real) > 0 or bool(self.drawn)))
        self.readout.setText(self._readout_text())

    def save_drawing(self, path: str | Path) -> Path:
        if not self.drawn:
            raise ValueError("nothing drawn yet")
        out = Path(path)
        np.savetxt(out, np.concatenate(self.drawn), delimiter=",", header="x,y", comments="", fmt="%.6f")
        return out

    def _save_dialog(self) -> None:
        if not self.drawn:
            self.status.setText("Draw some points first (tick 'Draw data' and click on the plot).")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save drawn points", "drawn.csv", "CSV (*.csv)")
        if path:
            self.save_drawing(path)
            self.status.setText(f"Saved {sum(len(d) for d in self.drawn)} points to {path}; train on them with the 'csv' dataset.")

    def _scene_clicked(self, ev) -> None:
        if not self.draw_box.isChecked() or ev.button() != Qt.MouseButton.LeftButton or self.data is None:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.add_drawn_points(pos.x(), pos.y())

    def _scene_moved(self, scene_pos) -> None:
        if not self.draw_box.isChecked() or self.data is None:
            return
        if not QApplication.mouseButtons() & Qt.MouseButton.LeftButton:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        self.add_drawn_points(pos.x(), pos.y(), n=3)
