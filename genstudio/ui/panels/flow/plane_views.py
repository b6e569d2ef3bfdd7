"""The flow panel's 2-D page: the learned density under the validation points (samples on demand), a slider
through the stages warping a grid and the data (or, base -> data, prior samples pulled back), and the
log-det map of the whole flow or of one stage. A mixin of :class:`.panel.FlowPanel`: the slider and the
switches only look the cached arrays of :class:`.prepare.PointViews` up."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from ...widgets import style_plot
from ..flow_math import polyline_arrays, robust_range
from .prepare import SAMPLES, PointViews

POINT_COLOURS = ((40, 90, 200), (220, 110, 30), (60, 160, 80), (170, 60, 170), (200, 50, 60), (90, 90, 90), (30, 160, 170), (150, 120, 40))
DENSITY_MAP = pg.colormap.get("viridis")
LOGDET_MAP = pg.colormap.get("CET-D1")  # diverging: blue squeezes, red stretches, white neither


class PlaneViews:
    """Mixin (before QWidget): the density, warp and log-det plots of a flow on 2-D data."""

    view: Any
    stage: int

    def _plot(self, title: str, square: bool = True) -> pg.PlotWidget:
        """``square``: one unit is as long on both axes (the warp). The density and log-det images are not:
        in a locked aspect the view grows past the image in the plot's longer direction and the picture fills
        only part of the plot, so they fill the plot with their own rectangle instead."""
        plot = pg.PlotWidget(title=title)
        plot.setAspectLocked(square)
        plot.setMenuEnabled(False)
        style_plot(plot)
        return plot

    def _build_points_page(self) -> QWidget:
        page = QWidget()
        # Density with data and samples.
        self.density_plot = self._plot("Learned density p(x)", square=False)
        self.density_item = pg.ImageItem(axisOrder="row-major")
        self.density_plot.addItem(self.density_item)
        self.density_bar = pg.ColorBarItem(colorMap=DENSITY_MAP, interactive=False, width=12)
        self.density_bar.setImageItem(self.density_item, insert_in=self.density_plot.getPlotItem())
        self.data_item = pg.ScatterPlotItem(size=3, pen=None, brush=pg.mkBrush(255, 255, 255, 110))
        self.sample_item = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(255, 120, 40, 200))
        self.density_plot.addItem(self.data_item)
        self.density_plot.addItem(self.sample_item)
        self.log_density_box = QCheckBox("log p")
        self.log_density_box.setToolTip("Show log p(x) instead of p(x): the tails and the gaps between modes become visible")
        self.show_data_box = QCheckBox("data")
        self.show_data_box.setChecked(True)
        self.show_samples_box = QCheckBox("samples")
        self.show_samples_box.setToolTip(f"Overlay {SAMPLES} samples drawn from the model")
        self.log_density_box.toggled.connect(lambda _on: self._draw_density())
        self.show_data_box.toggled.connect(self.data_item.setVisible)
        self.show_samples_box.toggled.connect(self.sample_item.setVisible)
        self.sample_item.setVisible(False)

        # The warp, stage by stage.
        self.warp_plot = self._plot("Warp, stage by stage")
        self.grid_item = pg.PlotDataItem(pen=pg.mkPen(120, 120, 120, 160, width=1))
        self.warp_points_item = pg.ScatterPlotItem(size=3, pen=None)
        self.warp_plot.addItem(self.grid_item)
        self.warp_plot.addItem(self.warp_points_item)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Move through the flow's stages: data space on the left, the base (z) on the right")
        self.slider.valueChanged.connect(self.set_stage)
        self.stage_label = QLabel("")
        self.direction = QComboBox()
        self.direction.addItems(["data → base", "base → data"])
        self.direction.setToolTip(
            "data → base: a regular grid and the data pushed through the flow;\n"
            "base → data: a regular grid in z and prior samples pulled back (they end as the model's samples)"
        )
        self.direction.currentIndexChanged.connect(lambda _i: self._draw_stage())

        # The log-det map.
        self.logdet_plot = self._plot("log |det J|", square=False)
        self.logdet_item = pg.ImageItem(axisOrder="row-major")
        self.logdet_plot.addItem(self.logdet_item)
        self.logdet_bar = pg.ColorBarItem(colorMap=LOGDET_MAP, interactive=False, width=12)
        self.logdet_bar.setImageItem(self.logdet_item, insert_in=self.logdet_plot.getPlotItem())
        self.logdet_choice = QComboBox()
        self.logdet_choice.addItems(["whole flow", "stage at the slider"])
        self.logdet_choice.setToolTip("log |det J| over the plane, of the whole flow x → z or of the slider's stage alone")
        self.logdet_choice.currentIndexChanged.connect(lambda _i: self._draw_logdet())

        density_controls = QHBoxLayout()
        for w in (self.show_data_box, self.show_samples_box, self.log_density_box):
            density_controls.addWidget(w)
        density_controls.addStretch(1)
        warp_controls = QHBoxLayout()
        warp_controls.addWidget(self.direction)
        warp_controls.addWidget(self.slider, 1)
        logdet_controls = QHBoxLayout()
        logdet_controls.addWidget(QLabel("log-det of"))
        logdet_controls.addWidget(self.logdet_choice)
        logdet_controls.addStretch(1)
        body = QHBoxLayout(page)
        for plot, controls, extra in (
            (self.density_plot, density_controls, None),
            (self.warp_plot, warp_controls, self.stage_label),
            (self.logdet_plot, logdet_controls, None),
        ):
            col = QVBoxLayout()
            col.addWidget(plot, 1)
            col.addLayout(controls)
            if extra is not None:
                col.addWidget(extra)
            body.addLayout(col, 1)
        return page

    def _set_points(self, p: PointViews) -> None:
        x0, x1, y0, y1 = p.extent
        self.data_item.setData(pos=p.data)
        self.sample_item.setData(pos=p.inverse_samples[0])
        for plot in (self.density_plot, self.logdet_plot):  # the axes show exactly the images' rectangle
            plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
            plot.getPlotItem().getViewBox().setLimits(xMin=x0, xMax=x1, yMin=y0, yMax=y1)
        brushes = [pg.mkBrush(*POINT_COLOURS[int(c) % len(POINT_COLOURS)], 200) if c >= 0 else pg.mkBrush(40, 90, 200, 200) for c in p.labels]
        self._data_brushes = brushes
        stage = min(self.slider.value(), len(p.forward_grid) - 1)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(p.forward_grid) - 1)
        self.slider.setValue(stage)
        self.slider.blockSignals(False)
        self.stage = stage
        self._draw_density()
        self._draw_logdet()
        self._draw_stage()

    def _place(self, item: pg.ImageItem) -> None:
        # After setImage: setRect scales by the image's size in pixels, so it needs the image first.
        assert self.view is not None and self.view.points is not None
        x0, x1, y0, y1 = self.view.points.extent
        item.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))

    def set_stage(self, k: int) -> None:
        """Show stage ``k`` (0: data space, last: the base) in the warp view and, if chosen, the log-det map."""
        self.stage = int(k)
        if self.slider.value() != self.stage:
            self.slider.setValue(self.stage)  # emits valueChanged -> back here once
            return
        self._draw_stage()

    def _draw_density(self) -> None:
        v = self.view
        if v is None or v.points is None:
            return
        log_p = v.points.maps.log_density
        if self.log_density_box.isChecked():
            img = np.maximum(log_p, float(log_p.max()) - 12.0)  # 12 nats below the peak is the floor of the scale
            self.density_plot.setTitle("Learned log-density log p(x)")
        else:
            img = np.exp(log_p)
            self.density_plot.setTitle("Learned density p(x)")
        self.density_image = img
        self.density_item.setImage(img, autoLevels=False)
        self._place(self.density_item)
        self.density_bar.setLevels((float(img.min()), float(img.max()) + 1e-9))

    def _draw_stage(self) -> None:
        v = self.view
        if v is None or v.points is None:
            return
        p, k = v.points, self.stage
        backward = self.direction.currentIndex() == 1
        lines = (p.inverse_grid if backward else p.forward_grid)[k]
        pts = (p.inverse_samples if backward else p.forward_data)[k]
        xs, ys, connect = polyline_arrays(lines)
        self.grid_item.setData(xs, ys, connect=connect)
        self.drawn_grid = lines
        if backward:
            self.warp_points_item.setData(pos=pts, brush=self._sample_brush)
        else:
            self.warp_points_item.setData(pos=pts, brush=self._data_brushes)
        xr, yr = robust_range(pts)
        self.warp_plot.setRange(xRange=xr, yRange=yr, padding=0)
        last = len(p.forward_grid) - 1
        label = v.stage_labels[k]
        if k == 0:
            text = f"stage 0 of {last}: data space"
        elif k == last:
            text = f"stage {last} of {last}, after {label}: the base z"
        else:
            text = f"stage {k} of {last}, after {label}"
        self.stage_label.setText(text)
        # Short: the plot is a third of a laptop's centre (the stage is in the line under it, the full text in the tooltip).
        self.warp_plot.setTitle("Prior samples pulled back" if backward else "Data pushed forward")
        self.warp_plot.setToolTip(("Base grid and prior samples pulled back" if backward else "Data grid and data pushed forward") + f", stage {k}")
        if self.logdet_choice.currentIndex() == 1:
            self._draw_logdet()

    def _draw_logdet(self) -> None:
        v = self.view
        if v is None or v.points is None:
            return
        maps = v.points.maps
        if self.logdet_choice.currentIndex() == 0:
            img = maps.logdet_total
            self.logdet_plot.setTitle("log |det ∂z/∂x|, whole flow")
        else:
            img = maps.logdet_stages[self.stage]
            self.logdet_plot.setTitle(f"log |det J| of stage {self.stage}: {v.stage_labels[self.stage]}")
        self.logdet_image = img
        lim = max(float(np.abs(img).max()), 1e-6)  # symmetric: white is log-det 0 (volume kept)
        self.logdet_item.setImage(img, autoLevels=False)
        self._place(self.logdet_item)
        self.logdet_bar.setLevels((-lim, lim))
