"""A view for decodes: a tiled image grid for image models, a scatter over the data for points models."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QStackedWidget, QWidget

from ...images import tile_grid, to_hwc_uint8
from ...widgets import ImageView, TopImageView, style_plot


class DecodedView(QStackedWidget):
    """Shows decodes: a tiled image grid for image models, a scatter over the data for points models."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None, top: bool = False):
        """``top``: draw the image grid at the view's top (right under a caption above it), not centred in the height."""
        super().__init__(parent)
        self.image_view = TopImageView(placeholder=placeholder) if top else ImageView(placeholder=placeholder)
        self.plot = pg.PlotWidget()
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        style_plot(self.plot)
        self._ref = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(150, 150, 150, 80))
        self._pts = pg.ScatterPlotItem(size=8, pen=pg.mkPen(20, 20, 20), brush=pg.mkBrush(230, 90, 40, 220))
        self.plot.addItem(self._ref)
        self.plot.addItem(self._pts)
        self.addWidget(self.image_view)
        self.addWidget(self.plot)
        self.array: np.ndarray | None = None  # the last decodes shown (for tests and export)
        self.grid: np.ndarray | None = None  # the last tiled image (uint8 H x W x C)

    def set_reference(self, points: np.ndarray | None) -> None:
        if points is not None and len(points):
            self._ref.setData(pos=points[:, :2])
        else:
            self._ref.clear()

    def show_decodes(self, decoded: np.ndarray, ncols: int | None = None, captions: list | None = None) -> None:
        self.array = decoded
        if decoded.ndim == 2:  # points
            self.setCurrentWidget(self.plot)
            self._pts.setData(pos=decoded[:, :2])
            self.grid = None
            return
        self.setCurrentWidget(self.image_view)
        u8 = (np.clip(decoded, 0, 1) * 255 + 0.5).astype(np.uint8)
        self.grid = tile_grid(u8, ncols=ncols, pad=1, pad_value=80) if len(u8) > 1 else to_hwc_uint8(u8[0])
        self.image_view.set_array(self.grid, captions)
