"""A tiled grid of small images that knows its cells: the Generation, Receptive field and Completion tabs draw on it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from ...images import tile_grid
from ...widgets import ImageView
from ..autoregressive_math import cell_origin, grid_cell


#: Outlines are drawn at least this many screen pixels wide and high, centred on their cells.
MIN_OUTLINE = 7.0


class PixelGridView(ImageView):
    """A tiled grid of small images; reports the (example, row, column) under the mouse and outlines cells.

    Dragging with the left button reports a rectangle of pixels inside one example.
    """

    hovered = Signal(int, int, int)
    clicked = Signal(int, int, int)
    dragged = Signal(int, int, int, int, int)  # example, top, left, bottom (exclusive), right (exclusive)

    def __init__(self, parent: QWidget | None = None, placeholder: str = "", top: bool = False):
        """``top``: draw the grid at the view's top, right under a caption above it, not centred in the height."""
        super().__init__(parent, placeholder)
        self.top = top
        self.setMouseTracking(True)
        self.geometry_: tuple[int, int, int, int] | None = None  # n, ncols, h, w
        self.outlines: list[tuple[int, int, int, int, int, QColor]] = []  # k, i, j, rows, cols, colour
        self._press: tuple[int, int, int] | None = None

    def target_rect(self) -> QRectF:
        r = super().target_rect()
        if self.top:
            r.moveTop(0)
        return r

    def set_grid(self, pictures: np.ndarray, ncols: int) -> None:
        """``pictures``: N x H x W x 3 uint8."""
        n, h, w = pictures.shape[:3]
        self.geometry_ = (n, ncols, h, w)
        self.set_array(tile_grid(pictures.transpose(0, 3, 1, 2), ncols, pad=1, pad_value=128))

    def set_outlines(self, outlines: list[tuple[int, int, int, int, int, QColor]]) -> None:
        self.outlines = outlines
        self.update()

    def cell_at(self, pos: QPointF) -> tuple[int, int, int] | None:
        if self.geometry_ is None or not self.has_image():
            return None
        rect = self.target_rect()
        scale = rect.width() / self.image().width()
        x, y = (pos.x() - rect.x()) / scale, (pos.y() - rect.y()) / scale
        return grid_cell(x, y, *self.geometry_)

    def widget_point(self, k: int, i: float, j: float) -> QPointF:
        """Widget coordinates of pixel (i, j) (fractions allowed) of example ``k``."""
        n, ncols, h, w = self.geometry_
        x0, y0 = cell_origin(k, ncols, h, w)
        rect = self.target_rect()
        scale = rect.width() / self.image().width()
        return QPointF(rect.x() + (x0 + j) * scale, rect.y() + (y0 + i) * scale)

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        cell = self.cell_at(event.position())
        if cell is not None:
            self.hovered.emit(*cell)
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        cell = self.cell_at(event.position())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self._press = cell
            self.clicked.emit(*cell)
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        start, self._press = self._press, None
        end = self.cell_at(event.position())
        if start is not None and end is not None and end[0] == start[0] and end[1:] != start[1:]:
            (k, i0, j0), (_, i1, j1) = start, end
            self.dragged.emit(k, min(i0, i1), min(j0, j1), max(i0, i1) + 1, max(j0, j1) + 1)
        super().mouseReleaseEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if not self.outlines or self.geometry_ is None or not self.has_image():
            return
        p = QPainter(self)
        for k, i, j, rows, cols, colour in self.outlines:
            pen = QPen(colour)
            pen.setWidth(2)
            p.setPen(pen)
            a, b = self.widget_point(k, i, j), self.widget_point(k, i + rows, j + cols)
            rect = QRectF(a, b)
            if rect.width() < MIN_OUTLINE or rect.height() < MIN_OUTLINE:
                # One pixel of a small grid is 2-3 screen pixels: a box that size is a dot nobody finds.
                c = rect.center()
                w, h = max(rect.width(), MIN_OUTLINE), max(rect.height(), MIN_OUTLINE)
                rect = QRectF(c.x() - w / 2, c.y() - h / 2, w, h)
            p.drawRect(rect)
