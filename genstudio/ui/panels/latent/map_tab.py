"""The map tab: the projected latents, coloured by label; hovering shows the example, a click decodes
there and makes that latent the current point."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...widgets import style_plot
from ..controls import tool_row
from ..jobs import PanelJob
from ..latent_math import class_label_positions, project
from .decoded_view import DecodedView

if TYPE_CHECKING:
    from .session import LatentSession

PICK_PIXELS = 6.0  # a click within this many pixels of a point picks that example


class MapTab(QWidget):
    """Scatter of the projected latents; hover shows the example, a click decodes there."""

    def __init__(self, panel: LatentSession):
        super().__init__()
        self.panel = panel
        self.method = QComboBox()
        for key, text in (("auto", "latent itself (2-D) or PCA"), ("pca", "PCA"), ("tsne", "t-SNE")):
            self.method.addItem(text, key)
        self.method.setToolTip("How the latents are laid out in the plane; t-SNE is computed in the background")
        self.method.currentIndexChanged.connect(lambda _i: self._reproject())
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        style_plot(self.plot)
        self.scatter = pg.ScatterPlotItem(size=6, pen=None)
        self.marker = pg.ScatterPlotItem(size=18, symbol="+", pen=pg.mkPen(230, 40, 40, width=3), brush=None)
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.marker)
        self.plot.scene().sigMouseClicked.connect(self._scene_clicked)
        self.plot.scene().sigMouseMoved.connect(self._scene_moved)
        self.hover_view = DecodedView("Hover over a point to see its example.")
        self.hover_label = QLabel("")
        self.decoded = DecodedView("Click on the map to decode there.")
        self.click_label = QLabel("")
        self.click_label.setWordWrap(True)
        side = QVBoxLayout()
        side.addWidget(QLabel("Under the mouse"))
        side.addWidget(self.hover_view, 1)
        side.addWidget(self.hover_label)
        side.addWidget(QLabel("Decoded at the click"))
        side.addWidget(self.decoded, 1)
        side.addWidget(self.click_label)
        body = QHBoxLayout()
        body.addWidget(self.plot, 3)
        body.addLayout(side, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row("Projection", self.method))
        lay.addLayout(body, 1)
        self.job = PanelJob(self, message=panel.status, failure="Projection failed: {exc}")
        self.job.done.connect(self._projected)
        self._hover_index = -1
        self.class_items: list[pg.TextItem] = []  # class names drawn on the map

    def projection_method(self) -> str:
        return str(self.method.currentData() or "auto")

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None:
            return
        proj = d.projection
        labels = d.labels
        for item in self.class_items:
            self.plot.removeItem(item)
        self.class_items = []
        if len(labels) and (labels >= 0).all() and labels.max() > 0:
            hues = max(int(labels.max()) + 1, 2)
            brushes = [pg.intColor(int(c), hues=hues, alpha=190) for c in labels]
            # Each class's name at the median of its points, in its colour: the map needs no legend to read.
            for c, (x, y) in class_label_positions(proj.coords, labels).items():
                name = d.class_names[c] if c < len(d.class_names) else str(c)
                colour = pg.intColor(c, hues=hues)
                item = pg.TextItem(name, color=colour.darker(140), fill=pg.mkBrush(255, 255, 255, 200), border=pg.mkPen(colour, width=2), anchor=(0.5, 0.5))
                font = item.textItem.font()
                font.setBold(True)
                font.setPointSize(font.pointSize() + 2)
                item.setFont(font)
                item.setPos(x, y)
                item.setZValue(10)
                self.plot.addItem(item)
                self.class_items.append(item)
        else:
            brushes = [pg.mkBrush(70, 130, 200, 170)] * len(labels)
        self.scatter.setData(pos=proj.coords, brush=brushes, data=np.arange(len(proj.coords)))
        if first:
            self.plot.autoRange()
        self.decoded.set_reference(d.reference)
        self.hover_view.set_reference(d.reference)

    def _reproject(self) -> None:
        d = self.panel.data
        if d is None:
            return
        method = self.projection_method()
        latents = d.latents
        text = f"Computing the {self.method.currentText()} projection of {len(latents)} latents…"
        self.job.start(lambda _state: project(latents, method), text)

    def _projected(self, proj: object) -> None:
        d = self.panel.data
        if d is None:
            return
        d.projection = proj  # type: ignore[assignment]
        self.marker.clear()
        self.refresh(True)
        self.panel.update_status()

    def busy(self) -> bool:
        return self.job.busy()

    # -- mouse ---------------------------------------------------------------------------------------
    def _nearest(self, x: float, y: float) -> int:
        """Index of the projected point within PICK_PIXELS of (x, y), or -1."""
        d = self.panel.data
        if d is None or not len(d.projection.coords):
            return -1
        px, py = self.plot.getPlotItem().vb.viewPixelSize()
        c = d.projection.coords
        dist = np.hypot((c[:, 0] - x) / max(px, 1e-12), (c[:, 1] - y) / max(py, 1e-12))
        i = int(dist.argmin())
        return i if dist[i] <= PICK_PIXELS else -1

    def _scene_clicked(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.panel.data is None:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(ev.scenePos())
        self.click_at(pos.x(), pos.y())

    def click_at(self, x: float, y: float) -> np.ndarray:
        """Decode at a spot of the map (an example's exact latent when the spot is on it); returns the latent."""
        d = self.panel.data
        assert d is not None
        i = self._nearest(x, y)
        if i >= 0:
            z = d.latents[i]
            x, y = (float(v) for v in d.projection.coords[i])
            what = f"example {i}" + (f" (label {d.labels[i]})" if d.labels[i] >= 0 else "")
        else:
            z = d.projection.to_latent((x, y))
            what = {"identity": "this spot", "pca": "the PCA plane at this spot", "tsne": "a blend of the nearest examples"}[d.projection.kind]
        self.marker.setData(pos=[(x, y)])
        self.decoded.show_decodes(self.panel.decode(z[None]))
        self.click_label.setText(f"Decoded {what} at ({x:.2f}, {y:.2f}) in {self.panel.last_decode_ms:.1f} ms")
        self.panel.set_current(z)
        self.panel.update_status()
        return z

    def _scene_moved(self, scene_pos) -> None:
        d = self.panel.data
        if d is None:
            return
        pos = self.plot.getPlotItem().vb.mapSceneToView(scene_pos)
        i = self._nearest(pos.x(), pos.y())
        if i < 0 or i == self._hover_index:
            return
        self._hover_index = i
        if d.examples is not None:
            self.hover_view.show_decodes(d.examples[i : i + 1])
        else:
            self.hover_view.show_decodes(self.panel.decode(d.latents[i : i + 1]))
        label = f" · label {d.class_names[d.labels[i]] if d.labels[i] < len(d.class_names) else d.labels[i]}" if d.labels[i] >= 0 else ""
        self.hover_label.setText(f"example {i}{label}")
