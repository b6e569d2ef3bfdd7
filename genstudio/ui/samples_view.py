"""The sample grid: the live preview, a step slider replaying every saved grid, Export PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSlider, QStackedWidget, QVBoxLayout, QWidget

from .widgets import ImageView, style_plot


class Frame:
    """One preview: an image array, a PNG path (read lazily) or 2-D points."""

    __slots__ = ("step", "image", "path", "points")

    def __init__(self, step: int, image: np.ndarray | None = None, path: str | None = None, points: np.ndarray | None = None):
        self.step, self.image, self.path, self.points = step, image, path, points


class SamplesView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.frames: list[Frame] = []
        self._fitted = False
        self._data_range = None
        self._reference: np.ndarray | None = None
        self.image_view = ImageView(placeholder="Samples appear here during training.")
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        style_plot(self.plot)
        self._data_item = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(150, 150, 150, 70))
        self._sample_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(230, 90, 40, 200))
        self.plot.addItem(self._data_item)
        self.plot.addItem(self._sample_item)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.image_view)
        self.stack.addWidget(self.plot)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        self.slider.setToolTip("Replay the sample grids saved during training")
        self.step_label = QLabel("no samples yet")
        self.export_button = QPushButton("Export PNG…")
        self.export_button.setToolTip("Save the grid shown to a PNG file")
        self.export_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.step_label)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.stack, 1)
        lay.addLayout(bar)
        self.slider.valueChanged.connect(self._show)
        self.export_button.clicked.connect(self._export_dialog)

    # -- content -------------------------------------------------------------------
    def clear(self, reference_points: np.ndarray | None = None) -> None:
        self.frames = []
        self._reference = reference_points
        self.image_view.set_array(None)
        self._sample_item.clear()
        self._fitted = False
        self._data_range = None
        if reference_points is not None and len(reference_points):
            pts = reference_points[:, :2]
            self._data_item.setData(pos=pts)
            # Frame the data, not the first (wild) samples: the view stays put while samples converge.
            (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
            self._data_range = ((float(x0), float(x1)), (float(y0), float(y1)))
        else:
            self._data_item.clear()
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self.export_button.setEnabled(False)
        self.step_label.setText("no samples yet")

    def add_frame(self, frame: Frame) -> None:
        """Append a preview; the view follows it unless the user is looking at an older grid."""
        if self.frames and self.frames[-1].step == frame.step:
            self.frames[-1] = frame  # the same step again (a requested preview): replace
        else:
            prev = self.frames[-1] if self.frames else None
            if prev is not None and prev.path and prev.image is not None and Path(prev.path).is_file():
                prev.image = None  # saved on disk: read it back when replayed, so a long run does not pile up grids in memory
            self.frames.append(frame)
        following = self.slider.value() >= self.slider.maximum() - (0 if len(self.frames) == 1 else 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.frames) - 1)
        self.slider.setEnabled(len(self.frames) > 1)
        self.slider.blockSignals(False)
        if following or len(self.frames) == 1:
            self.slider.setValue(len(self.frames) - 1)
            self._show(len(self.frames) - 1)
        else:
            self._update_label(self.slider.value())

    def add_preview(self, preview) -> None:
        """From an engine ``Preview`` event."""
        self.add_frame(Frame(preview.step, preview.image, preview.path, preview.points))

    def set_saved_grids(self, grids: list[tuple[int, Path]]) -> None:
        """The PNG grids of a run folder (opened from the runs browser)."""
        self.clear(self._reference)
        for step, path in grids:
            self.frames.append(Frame(step, path=str(path)))
        if self.frames:
            self.slider.setRange(0, len(self.frames) - 1)
            self.slider.setEnabled(len(self.frames) > 1)
            self.slider.setValue(len(self.frames) - 1)
            self._show(len(self.frames) - 1)

    def current(self) -> Frame | None:
        i = self.slider.value()
        return self.frames[i] if 0 <= i < len(self.frames) else None

    def _update_label(self, i: int) -> None:
        f = self.frames[i]
        self.step_label.setText(f"step {f.step:,}  ({i + 1}/{len(self.frames)})")

    def _show(self, i: int) -> None:
        if not (0 <= i < len(self.frames)):
            return
        f = self.frames[i]
        if f.points is not None:
            self._sample_item.setData(pos=np.asarray(f.points)[:, :2])
            if self.stack.currentWidget() is not self.plot:
                self.stack.setCurrentWidget(self.plot)
            if not self._fitted and self.plot.width() > 0:
                if self._data_range is not None:
                    self.plot.setRange(xRange=self._data_range[0], yRange=self._data_range[1], padding=0.15)
                else:
                    self.plot.autoRange()
                self._fitted = True
        else:
            if f.image is not None:
                self.image_view.set_array(f.image)
            elif f.path:
                img = QImage(f.path)
                self.image_view.set_qimage(None if img.isNull() else img)
            self.stack.setCurrentWidget(self.image_view)
        self._update_label(i)
        self.export_button.setEnabled(True)

    # -- export ---------------------------------------------------------------------
    def _export_dialog(self) -> None:
        f = self.current()
        if f is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export samples", f"samples_step_{f.step}.png", "PNG (*.png)")
        if path:
            self.export_png(path)

    def export_png(self, path: str) -> bool:
        """Write the grid shown (for 2-D samples: the plot) to ``path``."""
        f = self.current()
        if f is None:
            return False
        if f.points is not None:
            return self.plot.grab().save(path, "PNG")
        img = self.image_view.image()
        return bool(img is not None and img.save(path, "PNG"))

    def restyle(self) -> None:
        style_plot(self.plot)
