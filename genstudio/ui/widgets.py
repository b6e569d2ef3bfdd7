"""Small reusable widgets: a scaled image view with captions, a class histogram, styled plots, titled boxes."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from .images import qimage_from_array


class ImageView(QWidget):
    """Shows one image scaled to fit, keeping its aspect; small images stay crisp (no smoothing).

    ``captions`` are (x, y, w, h, text) rectangles in image pixels, drawn scaled
    with the image (labels of a preview grid).
    """

    def __init__(self, parent: QWidget | None = None, placeholder: str = ""):
        super().__init__(parent)
        self._image: QImage | None = None
        self._array: np.ndarray | None = None
        self._captions: list[tuple[int, int, int, int, str]] = []
        self.placeholder = placeholder
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(120, 120)

    def sizeHint(self) -> QSize:
        return QSize(320, 320)

    def set_array(self, image: np.ndarray | None, captions: list | None = None) -> None:
        self._array = None if image is None else np.asarray(image)
        self._image = None if image is None else qimage_from_array(image)
        self._captions = list(captions or [])
        self.update()

    def set_qimage(self, image: QImage | None) -> None:
        self._array = None
        self._image = image
        self._captions = []
        self.update()

    def image(self) -> QImage | None:
        return self._image

    def has_image(self) -> bool:
        return self._image is not None and not self._image.isNull()

    def target_rect(self) -> QRectF:
        if not self.has_image():
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        if 2 <= scale < 6:
            scale = float(int(scale))  # integer zoom keeps small images' pixels square
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        p = QPainter(self)
        if not self.has_image():
            p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            return
        rect = self.target_rect()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, rect.width() < self._image.width())
        p.drawImage(rect, self._image)
        if self._captions:
            scale = rect.width() / self._image.width()
            font = QFont(self.font())
            font.setPixelSize(max(9, min(14, int(scale * 6))))
            p.setFont(font)
            for x, y, w, h, text in self._captions:
                r = QRectF(rect.x() + x * scale, rect.y() + y * scale, w * scale, h * scale)
                bg = QRectF(r.x(), r.y(), max(14.0, p.fontMetrics().horizontalAdvance(text) + 4), font.pixelSize() + 3)
                p.fillRect(bg, QColor(0, 0, 0, 150))
                p.setPen(QColor(255, 230, 120))
                p.drawText(bg, Qt.AlignmentFlag.AlignCenter, text)


class TopImageView(ImageView):
    """An ImageView that draws its image at the top, right under its title, instead of centred in the free height."""

    def target_rect(self) -> QRectF:
        r = super().target_rect()
        r.moveTop(0)
        return r


def style_plot(plot: pg.PlotWidget | pg.PlotItem, palette: QPalette | None = None) -> None:
    """Match a pyqtgraph plot to the application palette (light or dark theme)."""
    from PySide6.QtWidgets import QApplication

    pal = palette or QApplication.palette()
    bg = pal.color(QPalette.ColorRole.Base)
    fg = pal.color(QPalette.ColorRole.Text)
    if isinstance(plot, pg.PlotWidget):
        plot.setBackground(bg)
        item = plot.getPlotItem()
    else:
        item = plot
    for name in ("left", "bottom"):
        ax = item.getAxis(name)
        ax.setPen(pg.mkPen(fg))
        ax.setTextPen(pg.mkPen(fg))
    item.titleLabel.setAttr("color", fg.name())
    item.titleLabel.setText(item.titleLabel.text)



def plot_widget(title: str) -> pg.PlotWidget:
    """A themed plot with a light grid and without pyqtgraph's context menu (the panels offer their own controls)."""
    p = pg.PlotWidget(title=title)
    p.setMenuEnabled(False)
    p.showGrid(x=True, y=True, alpha=0.2)
    style_plot(p)
    return p


def titled(title: str, widget: QWidget, wrap: bool = False) -> QWidget:
    """``widget`` under a centred caption, in a margin-less box."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    label = QLabel(title)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(wrap)
    lay.addWidget(label)
    lay.addWidget(widget, 1)
    return box

class ClassHistogram(pg.PlotWidget):
    """Examples per class as bars, labelled with class names when short."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumHeight(90)
        self.setMaximumHeight(140)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self._bars: pg.BarGraphItem | None = None
        style_plot(self)

    def set_counts(self, counts: dict[int, int], names: list[str] | tuple[str, ...] = ()) -> None:
        self.clear()
        if not counts:
            self._bars = None
            return
        xs = np.array(sorted(counts))
        hs = np.array([counts[k] for k in xs])
        self._bars = pg.BarGraphItem(x=xs, height=hs, width=0.8, brush=pg.mkBrush(70, 130, 200))
        self.addItem(self._bars)
        ticks = []
        for k in xs:
            label = names[k] if k < len(names) and len(names[k]) <= 6 else str(k)
            ticks.append((float(k), label))
        self.getAxis("bottom").setTicks([ticks] if len(ticks) <= 20 else None)
        self.setXRange(xs.min() - 0.6, xs.max() + 0.6, padding=0)
        self.setYRange(0, hs.max() * 1.1, padding=0)


def caption(text: str) -> QLabel:
    """A caption above a view: it wraps instead of widening the panel past a laptop screen."""
    label = QLabel(text)
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def elided(label: QLabel) -> QLabel:
    """Let a one-line label shrink below its text: Qt draws it clipped, so the full text goes in the tooltip."""
    label.setSizePolicy(QSizePolicy.Policy.Ignored, label.sizePolicy().verticalPolicy())
    label.setMinimumWidth(0)
    label.setToolTip(label.text())
    return label


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when it is too narrow, with its full text in the tooltip.

    Rich text is kept while it fits; once it does not, the plain text is elided
    (a run title must not widen the window nor be cut mid-word without a sign).
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        #: Where the "…" goes; a title whose most useful words come first elides on the right.
        self.elide_mode = Qt.TextElideMode.ElideMiddle
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt naming)
        self._full = text
        self._refit()

    def full_text(self) -> str:
        return self._full

    def _plain(self) -> str:
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self._full)
        return doc.toPlainText()

    def _refit(self) -> None:
        plain = self._plain() if "<" in self._full else self._full
        fm = self.fontMetrics()
        if fm.horizontalAdvance(plain) <= self.width() or self.width() <= 0:
            super().setText(self._full)
            self.setToolTip("")
        else:
            super().setText(fm.elidedText(plain, self.elide_mode, self.width()))
            self.setToolTip(plain)

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._refit()
