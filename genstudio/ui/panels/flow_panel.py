"""The flow panel: a normalizing flow opened up, for every model with the ``Invertible`` capability
(nice, realnvp, glow, maf, iaf).

A flow is a chain of invertible stages from data x to a latent z with a simple
prior, and its likelihood is exact (RealNVP eq. 3):
log p(x) = log p_Z(f(x)) + sum_k log |det J_k|. The panel shows each term.

On 2-D data:
- the learned density exp(log p(x)) as a heatmap under the validation points,
  with samples from the model overlaid on demand, and the validation NLL
  beside the data's own differential entropy (the best any model can do), so
  the gap is visible;
- a slider through the stages: a regular grid of lines and the data pushed
  from data space to the base, stage by stage, or (``base → data``) a regular
  grid in the base and prior samples pulled back to data space, where they
  become the model's samples;
- the log-det map: log |det J| of the whole flow, or of the stage chosen by
  the slider, as a heatmap over the plane (where it stretches, the density
  is concentrated);
- which direction is fast (MAF: density in one pass, sampling in D; IAF the
  reverse) with both directions timed on the loaded model.

On images: samples at temperatures 0 to 1 (Glow section 5: z scaled by T),
the latent of a validation example split into its scales, the measured
invertibility error and the exact bits/dim.

Everything is computed once per checkpoint on the thread pool
(:mod:`genstudio.models.flows.inspect`: a 200 x 200 grid through every
layer); the slider and the switches only look cached arrays up. The panel
loads its own copy of the model from the run's latest checkpoint and reloads
on ``CheckpointSaved`` (while hidden, only when shown again).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.models.flows import inspect as fi

from ..images import tile_grid
from ..widgets import ImageView, style_plot
from . import PanelContext, register_panel
from .live import CheckpointLoader, ReloadOnCheckpoint

GRID_SIZE = 200  # density and log-det maps: GRID_SIZE x GRID_SIZE cells over the view
GRID_LINES = 17  # lines each way in the warp view
LINE_POINTS = 120  # points per line, so a bent line stays smooth
SHOWN_POINTS = 1000  # validation points drawn (all of them score the NLL)
SAMPLES = 1000  # model samples overlaid, and timed
BASE_EXTENT = (-3.0, 3.0, -3.0, 3.0)  # the regular grid in the base for base -> data
IMAGE_SAMPLES = 8  # per temperature
IMAGE_VAL = 64  # validation images scored on image flows
POINT_COLOURS = ((40, 90, 200), (220, 110, 30), (60, 160, 80), (170, 60, 170), (200, 50, 60), (90, 90, 90), (30, 160, 170), (150, 120, 40))
DENSITY_MAP = pg.colormap.get("viridis")
LOGDET_MAP = pg.colormap.get("CET-D1")  # diverging: blue squeezes, red stretches, white neither


# -- off the UI thread --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def reference_entropy(dataset: str, noise: float) -> tuple[float | None, str]:
    """The data's differential entropy in nats (its best possible NLL), and where the number comes from."""
    from genstudio.data.points import DIFFERENTIAL_ENTROPY

    if dataset in DIFFERENTIAL_ENTROPY:
        return DIFFERENTIAL_ENTROPY[dataset], "of the generating recipe"
    if dataset not in ("moons", "circles") or noise <= 0:
        return None, ""
    # scikit-learn's recipes: points evenly spread along the curves, plus N(0, noise^2 I).
    t = np.linspace(0, math.pi, 1000) if dataset == "moons" else np.linspace(0, 2 * math.pi, 1000, endpoint=False)
    if dataset == "moons":
        curves = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 1 - np.sin(t) - 0.5], 1)]
    else:
        curves = [np.stack([np.cos(t), np.sin(t)], 1), 0.5 * np.stack([np.cos(t), np.sin(t)], 1)]
    return fi.noisy_curve_entropy(np.concatenate(curves), noise), f"Monte Carlo estimate for noise {noise:g}"


def view_extent(points: np.ndarray, extent: tuple[float, ...] | None, margin: float = 0.2) -> tuple[float, float, float, float]:
    """The square region of the plane shown: the data's box widened by ``margin``, its short side grown to the long one.

    Square, because the plots keep the aspect ratio (a warp must not look stretched) and a square
    map then fills its plot instead of leaving bands with no density drawn.
    """
    if extent is not None:
        x0, x1, y0, y1 = (float(v) for v in extent)
    elif len(points):
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
    else:
        x0, x1, y0, y1 = -1.0, 1.0, -1.0, 1.0
    side = (1 + 2 * margin) * max(x1 - x0, y1 - y0, 1e-3)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (float(cx - side / 2), float(cx + side / 2), float(cy - side / 2), float(cy + side / 2))


@dataclass
class PointViews:
    extent: tuple[float, float, float, float]
    data: np.ndarray  # shown validation points, N x 2
    labels: np.ndarray
    maps: fi.PlaneMaps
    forward_grid: list[np.ndarray]  # per stage: lines x points x 2
    forward_data: list[np.ndarray]  # per stage: N x 2
    inverse_grid: list[np.ndarray]
    inverse_samples: list[np.ndarray]  # prior samples pulled back; entry 0 are the model's samples
    nll: float
    entropy: float | None
    entropy_source: str


@dataclass
class FlowView:
    model: Any
    step: int
    dataset: str
    kind: str
    stage_labels: list[str]
    speed: str
    times: fi.DirectionTimes
    invertibility_error: float
    points: PointViews | None = None
    image: fi.ImageReport | None = None
    notes: list[str] = field(default_factory=list)


def _validation(spec: Any, n_max: int) -> tuple[torch.Tensor, torch.Tensor]:
    from genstudio.data.dataset import load_dataset

    ds = load_dataset(spec.run.dataset, spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    part = val if val is not None and len(val) >= 32 else ds
    b = part.get(slice(0, min(n_max, len(part))))
    return b.x, b.y


def compute_point_views(model: Any, x: torch.Tensor, y: torch.Tensor, dataset: str, noise: float, grid_size: int = GRID_SIZE) -> PointViews:
    """Everything the 2-D page draws, for validation points ``x`` (all scored, SHOWN_POINTS drawn)."""
    shown = x[:SHOWN_POINTS]
    extent = view_extent(x.numpy(), model.data_info.extent)
    lines = fi.grid_lines(extent, GRID_LINES, LINE_POINTS)
    n_lines = lines.shape[0]
    fwd = fi.forward_stages(model, torch.cat([lines.reshape(-1, 2), shown]))
    base_lines = fi.grid_lines(BASE_EXTENT, GRID_LINES, LINE_POINTS)
    z = model.prior_sample(SAMPLES, torch.Generator().manual_seed(0))
    back = fi.inverse_stages(model, torch.cat([base_lines.reshape(-1, 2), z]))
    split = n_lines * LINE_POINTS
    entropy, source = reference_entropy(dataset, noise)
    return PointViews(
        extent=extent,
        data=shown.numpy(),
        labels=y[:SHOWN_POINTS].numpy(),
        maps=fi.plane_maps(model, extent, grid_size),
        forward_grid=[s[:split].reshape(n_lines, LINE_POINTS, 2).numpy() for s in fwd],
        forward_data=[s[split:].numpy() for s in fwd],
        inverse_grid=[s[:split].reshape(n_lines, LINE_POINTS, 2).numpy() for s in back],
        inverse_samples=[s[split:].numpy() for s in back],
        nll=fi.nll_nats(model, x),
        entropy=entropy,
        entropy_source=source,
    )


def prepare_flow_view(run_dir: str | Path, grid_size: int = GRID_SIZE) -> FlowView:
    """Load the run's latest checkpoint and compute every cached view (runs on the thread pool)."""
    from genstudio.core.engine import load_run_model

    model, spec, step = load_run_model(run_dir, device="cpu")
    kind = model.data_info.kind
    with torch.no_grad():  # a context, not set_grad_enabled: pool threads are shared with other panels
        x, y = _validation(spec, 20_000 if kind == "points" else IMAGE_VAL)
        points = image = None
        notes: list[str] = []
        if kind == "points" and model.data_info.dim == 2:
            points = compute_point_views(model, x, y, spec.run.dataset, float(getattr(spec.data, "noise", 0.0)), grid_size)
            times = fi.time_directions(model, fi.plane_grid(points.extent, grid_size), SAMPLES, repeats=2)
        elif kind == "image":
            image = fi.image_report(model, x, IMAGE_SAMPLES)
            times = image.times
        else:
            notes.append(f"the plane views need 2-D points; this flow models {kind} of shape {model.data_info.shape}")
            times = fi.time_directions(model, x[:IMAGE_VAL], IMAGE_SAMPLES, repeats=1)
        error = image.invertibility_error if image is not None else fi.measured_invertibility_error(model, x[:1000])
    return FlowView(
        model=model,
        step=step,
        dataset=spec.run.dataset,
        kind=kind,
        stage_labels=fi.stage_labels(model),
        speed=fi.speed_summary(model),
        times=times,
        invertibility_error=error,
        points=points,
        image=image,
        notes=notes,
    )


# -- drawing helpers (numpy) --------------------------------------------------------------------------


def polyline_arrays(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L x P x 2 polylines -> x, y and a ``connect`` array that breaks between lines (one plot item for all)."""
    n_lines, n_points, _ = lines.shape
    connect = np.ones((n_lines, n_points), dtype=np.int32)
    connect[:, -1] = 0
    flat = lines.reshape(-1, 2)
    return flat[:, 0], flat[:, 1], connect.reshape(-1)


def robust_range(points: np.ndarray, margin: float = 0.25) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges around the bulk of ``points`` (1st to 99th percentile), so stray grid lines do not zoom out."""
    pts = points[np.isfinite(points).all(1)]
    if not len(pts):
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = np.percentile(pts, [1, 99], axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def heatmap_rgb(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """A C x H x W array as one row of diverging heatmaps (blue < 0 < red), 1-pixel gaps: H x W' x 3 uint8."""
    v = np.asarray(values, np.float32)
    if v.ndim == 2:
        v = v[None]
    lim = limit or max(float(np.abs(v).max()), 1e-6)
    lut = LOGDET_MAP.getLookupTable(0.0, 1.0, 256)[:, :3].astype(np.uint8)
    idx = np.clip((v / lim * 0.5 + 0.5) * 255, 0, 255).astype(np.int64)
    tiles = lut[idx].transpose(0, 3, 1, 2)  # C x 3 x H x W
    cols = min(len(tiles), 8)
    return tile_grid(tiles, ncols=cols, pad=1, pad_value=255)


def _fmt_time(seconds: float, n: int, what: str) -> str:
    per = seconds / max(n, 1) * 1e6
    return f"{what} {n:,}: {seconds * 1000:.1f} ms ({per:.1f} µs each)"


# -- the panel ---------------------------------------------------------------------------------------


class FlowPanel(ReloadOnCheckpoint, QWidget):
    """The "Flow" tab: density, layer-by-layer warp and log-det maps on 2-D data; temperatures and latents on images."""

    data_ready = Signal()

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.view: FlowView | None = None
        self.stage = 0
        # What is drawn now (read by tests and screenshots): grid lines, density and log-det images.
        self.drawn_grid: np.ndarray | None = None
        self.density_image: np.ndarray | None = None
        self.logdet_image: np.ndarray | None = None
        self._data_brushes: list = []
        self._sample_brush = pg.mkBrush(220, 110, 30, 200)
        self._closed = False
        self.loader = CheckpointLoader(self, "the flow panel")
        self.loader.loaded.connect(self._set_view)
        self.loader.failed.connect(self._load_failed)

        self.status = QLabel("Loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Load the run's latest checkpoint and recompute every view")
        self.reload_button.clicked.connect(self.reload)
        self.loader.busy.connect(lambda busy: self.reload_button.setEnabled(not busy))
        self.speed_label = QLabel("")
        self.speed_label.setWordWrap(True)
        self.readout = QLabel("")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_points_page())
        self.pages.addWidget(self._build_image_page())
        empty = QLabel("Nothing to draw for this data kind: the plane views need 2-D points.")
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.pages.addWidget(empty)

        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.reload_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.speed_label)
        lay.addWidget(self.readout)
        lay.addWidget(self.pages, 1)
        self.reload()

    # -- layout ---------------------------------------------------------------------------------------
    def _plot(self, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title)
        plot.setAspectLocked(True)
        plot.setMenuEnabled(False)
        style_plot(plot)
        return plot

    def _build_points_page(self) -> QWidget:
        page = QWidget()
        # Density with data and samples.
        self.density_plot = self._plot("Learned density p(x)")
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
        self.logdet_plot = self._plot("log |det J|")
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

    def _build_image_page(self) -> QWidget:
        page = QWidget()
        self.temperature_view = ImageView(placeholder="samples at several temperatures")
        self.example_view = ImageView(placeholder="validation example")
        self.example_view.setMaximumSize(220, 220)
        self.latent_row = QHBoxLayout()
        self.latent_views: list[tuple[QLabel, ImageView]] = []
        left = QVBoxLayout()
        left.addWidget(QLabel("Samples at temperature T (rows; z ~ T · N(0, I), the same z in every row)"))
        left.addWidget(self.temperature_view, 1)
        right = QVBoxLayout()
        right.addWidget(QLabel("A validation example and its latent z = f(x), one heatmap per channel and scale (blue < 0 < red)"))
        row = QHBoxLayout()
        row.addWidget(self.example_view)
        row.addLayout(self.latent_row, 1)
        right.addLayout(row)
        right.addStretch(1)  # keeps each scale's title just above its heatmaps
        body = QHBoxLayout(page)
        body.addLayout(left, 1)
        body.addLayout(right, 1)
        return page

    # -- loading --------------------------------------------------------------------------------------
    def reload(self) -> None:
        if self._closed or self.context.run_dir is None:
            return
        run_dir = self.context.run_dir
        self.loader.load(lambda: prepare_flow_view(run_dir))

    def _load_failed(self, text: str, tb: str) -> None:
        self.status.setText(text)
        self.status.setToolTip(tb)

    def _set_view(self, view: FlowView) -> None:
        self.view = view
        self.status.setText(" · ".join([f"{type(view.model).__name__} on {view.dataset}, checkpoint step {view.step}", *view.notes]))
        self.speed_label.setText(self._speed_text())
        self.readout.setText(self._readout_text())
        if view.points is not None:
            self.pages.setCurrentIndex(0)
            self._set_points(view.points)
        elif view.image is not None:
            self.pages.setCurrentIndex(1)
            self._set_image(view.image)
        else:
            self.pages.setCurrentIndex(2)
        self.data_ready.emit()

    # -- texts -------------------------------------------------------------------------------------------
    def _speed_text(self) -> str:
        v = self.view
        assert v is not None
        t = v.times
        what = "grid points" if v.points is not None else "validation images"
        measured = f"{_fmt_time(t.density_s, t.density_n, 'density of ' + what)}; {_fmt_time(t.sample_s, t.sample_n, 'sampling')}"
        return f"{v.speed}  Measured on this machine, now: {measured}."

    def _readout_text(self) -> str:
        v = self.view
        assert v is not None
        parts = []
        if v.points is not None:
            p = v.points
            nll = f"Validation NLL {p.nll:.3f} nats (exact)"
            if p.entropy is not None:
                nll += f" · differential entropy of {v.dataset} {p.entropy:.3f} nats ({p.entropy_source}) · gap {p.nll - p.entropy:+.3f} nats"
            parts.append(nll)
            parts.append(f"density mass on the view {p.maps.mass():.3f}")
        if v.image is not None:
            r = v.image
            parts.append(f"{r.bits_per_dim:.3f} bits/dim (exact flow likelihood of uniformly dequantised 8-bit data; {r.nll_nats:.1f} nats per image)")
        parts.append(f"invertibility error max |x − f⁻¹(f(x))| = {v.invertibility_error:.2e} on validation data")
        return " · ".join(parts)

    # -- 2-D data ----------------------------------------------------------------------------------------
    def _set_points(self, p: PointViews) -> None:
        x0, x1, y0, y1 = p.extent
        self.data_item.setData(pos=p.data)
        self.sample_item.setData(pos=p.inverse_samples[0])
        for plot in (self.density_plot, self.logdet_plot):
            plot.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)
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
        self.warp_plot.setTitle(
            ("Base grid and prior samples pulled back" if backward else "Data grid and data pushed forward") + f", stage {k}"
        )
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

    # -- images ---------------------------------------------------------------------------------------------
    def _set_image(self, r: fi.ImageReport) -> None:
        temps = sorted(r.samples)
        imgs = torch.cat([r.samples[t] for t in temps])
        u8 = (imgs.clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
        _, _, h, w = u8.shape
        grid = tile_grid(u8, ncols=IMAGE_SAMPLES, pad=1, pad_value=128)
        captions = [(1, 1 + i * (h + 1), w, max(h // 3, 4), f"T={t:g}") for i, t in enumerate(temps)]
        self.temperature_view.set_array(grid, captions)
        self.example_view.set_array(r.example.numpy())
        while self.latent_views:
            label, view = self.latent_views.pop()
            self.latent_row.removeWidget(label.parentWidget())
            label.parentWidget().deleteLater()
        for name, part in r.latent_parts:
            box = QWidget()
            col = QVBoxLayout(box)
            col.setContentsMargins(0, 0, 0, 0)
            label = QLabel(name)
            view = ImageView()
            view.setMaximumHeight(220)
            view.set_array(heatmap_rgb(part.numpy(), limit=3.0))
            col.addWidget(label)
            col.addWidget(view, 1)
            self.latent_row.addWidget(box, 1)
            self.latent_views.append((label, view))

    # -- panel protocol -----------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
        self.view = None


register_panel("Invertible", "Flow", FlowPanel)
