"""The latent explorer: walk the latent space of any model with the ``Latent`` capability.

Autoencoders (encoder and decoder), GANs (G's noise z) and, later, flows all
expose ``decode(z)`` and ``prior_sample``; models with an encoder also map
data to latents. The panel loads its own copy of the model from the run's
latest checkpoint (never the training thread's), and:

1. **Map**: the encoded validation set (or, without an encoder, prior draws)
   projected to 2-D (the latent itself when it has two dimensions, PCA, or
   t-SNE computed off the UI thread), coloured by label; hovering shows the
   example, clicking a point or an empty spot decodes there and makes that
   latent the *current point* the other views start from.
2. **Manifold**: a grid of decodes over two chosen dimensions, the others
   held at the current point (Kingma & Welling 2014, figure 4).
3. **Traversals**: one slider per latent dimension, ranked by the KL of
   q(z_j|x) to the prior when the model reports ``kl_per_dim`` (the
   dimensions a beta-VAE really uses), else by the spread of the encodings;
   live decode as a slider moves, and a row of decodes across each
   dimension's range.
4. **Interpolation**: between two examples (or two seeds), linear or
   spherical (slerp), in N frames, exportable as a GIF.
5. **Classes** (``Conditional`` models): a grid of class by latent sample;
   each column is one latent swept across the classes (style kept, class
   changed).
6. **Codebook** (VQ-VAE): code usage over the validation set, the code map
   of an example, and the decode after the user edits codes.

Heavy work (loading, encoding up to ``MAX_EXAMPLES`` examples, t-SNE) runs
on the Qt thread pool; single decodes (a slider move, a click) run on the UI
thread and must take well under 30 ms (``benchmarks/latent_decode.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.capabilities import Conditional, Encoder

from ..images import tile_grid, to_hwc_uint8
from ..tasks import BackgroundCall
from ..widgets import ImageView, style_plot
from . import PanelContext, register_panel
from .live import CheckpointLoader, ReloadOnCheckpoint
from .latent_math import Projection, grid_latents, interpolate, project, rank_dimensions, traversal_latents

MAX_EXAMPLES = 1000  # examples encoded for the map
MAX_SLIDERS = 10  # traversal sliders shown (the top-ranked dimensions)
TRAVERSAL_ROWS = 8  # dimensions in the traversal row image
TRAVERSAL_STEPS = 9  # decodes per traversal row
SLIDER_TICKS = 200  # slider resolution over a dimension's range
PRIOR_RANGE = 3.0  # +-3 standard deviations of N(0, 1) for models with a Gaussian prior
PICK_PIXELS = 6.0  # a click within this many pixels of a point picks that example


# -- work done off the UI thread ---------------------------------------------------------------


@dataclass
class ExplorerData:
    """Everything the views need, computed once per checkpoint."""

    model: Any
    step: int
    kind: str  # image or points
    latent_dim: int
    latents: np.ndarray  # N x d
    labels: np.ndarray  # N, -1 where unknown
    source: str  # what the latents are, for the status line
    examples: np.ndarray | None  # N x C x H x W (or N x 2) floats, the encoded inputs
    order: np.ndarray  # latent dimensions, most used first
    score: np.ndarray  # the ranking score per dimension
    score_name: str  # KL, var or prior
    centre: np.ndarray  # d, the starting current point
    low: np.ndarray  # d, each slider's range
    high: np.ndarray
    projection: Projection
    num_classes: int = 0  # > 0 for Conditional models
    class_names: tuple[str, ...] = ()
    reference: np.ndarray | None = None  # the data, for points models
    vq_usage: np.ndarray | None = None  # code counts over the examples (VQ-VAE)
    notes: list[str] = field(default_factory=list)


def _load_examples(spec: Any, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` validation examples of the run's dataset (the training set when there is no split)."""
    from genstudio.data.dataset import load_dataset

    ds = load_dataset(spec.run.dataset, spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    part = val if val is not None and len(val) > 0 else ds
    b = part.get(slice(0, min(n, len(part))))
    return b.x, b.y


def prepare_explorer(run_dir: str | Path, projection: str = "auto", max_examples: int = MAX_EXAMPLES) -> ExplorerData:
    """Load the run's latest checkpoint, encode its validation set (or draw prior latents) and project them."""
    from genstudio.core.engine import load_run_model

    model, spec, step = load_run_model(run_dir, device="cpu")
    model.eval()
    info = model.data_info
    d = int(model.latent_dim)
    notes: list[str] = []
    examples = labels = None
    reference = None
    conditional = isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0
    try:
        x, y = _load_examples(spec, max_examples)
        if info.kind == "points":
            reference = x.numpy()
    except Exception as e:  # noqa: BLE001 - a missing user dataset still leaves the prior to explore
        x = y = None
        notes.append(f"dataset not available ({e}); showing prior draws")
    kl = None
    with torch.no_grad():
        if isinstance(model, Encoder) and x is not None:
            chunks = []
            for i in range(0, len(x), 256):
                kw = {"labels": y[i : i + 256]} if conditional else {}
                chunks.append(model.encode(x[i : i + 256], **kw).float().cpu())
            latents = torch.cat(chunks).numpy()
            examples, labels = x.numpy(), y.numpy()
            source = f"{len(latents)} encoded validation examples"
            if hasattr(model, "kl_per_dim"):
                kw = {"labels": y} if conditional else {}
                kl = model.kl_per_dim(x, **kw).float().cpu().numpy()
        else:
            n = max_examples if x is None else min(max_examples, 500)
            latents = model.prior_sample(n, torch.Generator().manual_seed(0)).float().cpu().numpy()
            labels = np.full(n, -1, np.int64)
            source = f"{n} draws from the prior"
    order, score, score_name = rank_dimensions(d, kl, latents if isinstance(model, Encoder) and examples is not None else None)
    centre = latents.mean(0).astype(np.float32)
    gaussian_prior = kl is not None or not isinstance(model, Encoder)
    if gaussian_prior:
        low, high = np.full(d, -PRIOR_RANGE, np.float32), np.full(d, PRIOR_RANGE, np.float32)
    else:
        spread = np.maximum(latents.std(0), 1e-3)
        low, high = (centre - 3 * spread).astype(np.float32), (centre + 3 * spread).astype(np.float32)
    proj = project(latents, projection)
    with torch.no_grad():
        # The first decode allocates and picks kernels (about 90 ms for the vae); pay it here, off the UI thread.
        kw = {"labels": torch.zeros(1, dtype=torch.long)} if conditional else {}
        model.decode(torch.as_tensor(centre[None]), **kw)
    vq_usage = None
    if hasattr(model, "code_usage") and x is not None:
        vq_usage = model.code_usage(x).cpu().numpy()
    return ExplorerData(
        model=model,
        step=step,
        kind=info.kind,
        latent_dim=d,
        latents=latents.astype(np.float32),
        labels=np.asarray(labels),
        source=source,
        examples=examples,
        order=order,
        score=score,
        score_name=score_name,
        centre=centre,
        low=low,
        high=high,
        projection=proj,
        num_classes=int(model.num_classes) if conditional else 0,
        class_names=tuple(info.class_names),
        reference=reference,
        vq_usage=vq_usage,
        notes=notes,
    )


# -- a view for decodes: images or 2-D points -------------------------------------------------------


class DecodedView(QStackedWidget):
    """Shows decodes: a tiled image grid for image models, a scatter over the data for points models."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.image_view = ImageView(placeholder=placeholder)
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


def _tool_row(*widgets: QWidget | str) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(QLabel(w) if isinstance(w, str) else w)
    row.addStretch(1)
    return row


# -- the panel -----------------------------------------------------------------------------------


class LatentExplorerPanel(ReloadOnCheckpoint, QWidget):
    """The "Latent" tab: map, manifold grid, traversals, interpolation, class sweep, codebook."""

    #: The current point changed (a click on the map, a slider); carries the latent.
    current_changed = Signal(object)
    #: New data arrived from the background (a checkpoint was loaded).
    data_ready = Signal()

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.context = context
        self.data: ExplorerData | None = None
        self.current: np.ndarray | None = None
        self.last_decode_ms = 0.0
        self._closed = False
        self.loader = CheckpointLoader(self, "the explorer")
        self.loader.loaded.connect(self._set_data)
        self.loader.failed.connect(lambda text, _tb: self.status.setText(text))

        self.status = QLabel("Loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class fed to the decoder of a conditional model")
        self.class_label = QLabel("Class")
        self.reload_button = QPushButton("Reload checkpoint")
        self.reload_button.setToolTip("Load the run's latest checkpoint again and re-encode the data")
        self.reload_button.clicked.connect(self.reload)
        self.loader.busy.connect(lambda busy: self.reload_button.setEnabled(not busy))
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.class_label)
        top.addWidget(self.class_combo)
        top.addWidget(self.reload_button)
        self.class_label.hide()
        self.class_combo.hide()
        self.class_combo.currentIndexChanged.connect(lambda _i: self._class_changed())

        self.tabs = QTabWidget()
        self.map_tab = MapTab(self)
        self.manifold_tab = ManifoldTab(self)
        self.traversal_tab = TraversalTab(self)
        self.interp_tab = InterpolationTab(self)
        self.class_tab = ClassTab(self)
        self.codebook_tab = CodebookTab(self)
        self.tabs.addTab(self.map_tab, "Map")
        self.tabs.addTab(self.manifold_tab, "Manifold")
        self.tabs.addTab(self.traversal_tab, "Traversals")
        self.tabs.addTab(self.interp_tab, "Interpolation")
        self.tabs.setEnabled(False)

        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)
        self.reload()

    # -- loading ------------------------------------------------------------------------------------
    def reload(self) -> None:
        """Load the latest checkpoint off the UI thread (a later call supersedes an earlier one)."""
        if self._closed or self.context.run_dir is None:
            return
        run_dir = self.context.run_dir
        method = self.map_tab.projection_method()
        self.loader.load(lambda: prepare_explorer(run_dir, method))

    def _set_data(self, data: ExplorerData) -> None:
        first = self.data is None
        self.data = data
        if self.current is None or len(self.current) != data.latent_dim:
            self.current = data.centre.copy()
        conditional = data.num_classes > 0
        self.class_combo.blockSignals(True)
        keep = self.class_combo.currentIndex()
        self.class_combo.clear()
        for k in range(data.num_classes):
            name = data.class_names[k] if k < len(data.class_names) else str(k)
            self.class_combo.addItem(name)
        if conditional:
            self.class_combo.setCurrentIndex(max(0, min(keep, data.num_classes - 1)))
        self.class_combo.blockSignals(False)
        self.class_label.setVisible(conditional)
        self.class_combo.setVisible(conditional)
        self._show_optional_tab(self.class_tab, "Classes", conditional)
        self._show_optional_tab(self.codebook_tab, "Codebook", hasattr(data.model, "decode_codes"))
        self.tabs.setEnabled(True)
        self._update_status()
        for tab in (self.map_tab, self.manifold_tab, self.traversal_tab, self.interp_tab, self.class_tab, self.codebook_tab):
            if self.tabs.indexOf(tab) >= 0:
                tab.refresh(first)
        self.data_ready.emit()

    def _show_optional_tab(self, tab: QWidget, title: str, show: bool) -> None:
        i = self.tabs.indexOf(tab)
        if show and i < 0:
            self.tabs.addTab(tab, title)
        elif not show and i >= 0:
            self.tabs.removeTab(i)

    def _update_status(self) -> None:
        d = self.data
        if d is None:
            return
        # Decode times are shown where the decode happens (under the map, under the sliders): a status line
        # that changed on every slider move would re-lay out the panel each time.
        parts = [f"step {d.step}", f"latent dim {d.latent_dim}", d.source, f"map: {d.projection.kind}"]
        self.status.setText(" · ".join(parts + d.notes))

    # -- decoding (UI thread; a few ms for the 28x28 defaults) ----------------------------------------
    def current_class(self) -> int:
        return max(0, self.class_combo.currentIndex())

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Decode N x d latents to data space (images N x C x H x W or points N x 2) as float32."""
        assert self.data is not None
        model = self.data.model
        zt = torch.as_tensor(np.asarray(z, np.float32)).reshape(-1, self.data.latent_dim)
        kw = {}
        if self.data.num_classes > 0:
            lab = np.full(len(zt), self.current_class()) if labels is None else np.asarray(labels)
            kw["labels"] = torch.as_tensor(lab, dtype=torch.long)
        t0 = time.perf_counter()
        with torch.no_grad():
            out = model.decode(zt, **kw).float().cpu().numpy()
        self.last_decode_ms = (time.perf_counter() - t0) * 1000
        return out

    def set_current(self, z: np.ndarray) -> None:
        """Make ``z`` the current point: the traversals and the manifold grid start from it."""
        self.current = np.asarray(z, np.float32).copy()
        self.current_changed.emit(self.current)

    def _class_changed(self) -> None:
        if self.data is None:
            return
        for tab in (self.map_tab, self.manifold_tab, self.traversal_tab, self.interp_tab):
            tab.refresh(False)

    # -- panel protocol ------------------------------------------------------------------------------
    def shutdown(self) -> None:
        self._closed = True
        self.loader.close()
        self.data = None


# -- the tabs ------------------------------------------------------------------------------------------


def class_label_positions(coords: np.ndarray, labels: np.ndarray, min_gap: float = 0.06, rounds: int = 50) -> dict[int, tuple[float, float]]:
    """Where each class's name goes on the map: the coordinate-wise median of its points (robust to strays),
    then names closer than ``min_gap`` of the map's extent pushed apart so none hides another."""
    classes = [int(c) for c in np.unique(labels) if c >= 0]
    if not classes:
        return {}
    pos = np.array([np.median(coords[labels == c], axis=0) for c in classes], float)
    span = np.maximum(coords.max(0) - coords.min(0), 1e-12)
    for _ in range(rounds):
        moved = False
        for a in range(len(pos)):
            for b in range(a + 1, len(pos)):
                delta = (pos[b] - pos[a]) / span  # in fractions of the map, so both axes count alike
                dist = float(np.hypot(*delta))
                if dist >= min_gap:
                    continue
                # Coincident names move apart along a fixed diagonal; others along the line joining them.
                direction = delta / dist if dist > 1e-9 else np.array([0.6, 0.8])
                push = (min_gap - dist) / 2 * direction * span
                pos[a] -= push
                pos[b] += push
                moved = True
        if not moved:
            break
    return {c: (float(x), float(y)) for c, (x, y) in zip(classes, pos)}


class MapTab(QWidget):
    """Scatter of the projected latents; hover shows the example, a click decodes there."""

    def __init__(self, panel: LatentExplorerPanel):
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
        lay.addLayout(_tool_row("Projection", self.method))
        lay.addLayout(body, 1)
        self._busy = BackgroundCall(self)
        self._busy.done.connect(self._projected)
        self._busy.failed.connect(lambda _t, e, _tb: self.panel.status.setText(f"Projection failed: {e}"))
        self._ticket = 0
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
        self.panel.status.setText(f"Computing the {self.method.currentText()} projection of {len(latents)} latents…")
        self._ticket = self._busy.start(lambda: project(latents, method))

    def _projected(self, ticket: int, proj: object) -> None:
        d = self.panel.data
        if d is None or ticket != self._ticket or self.panel._closed:
            return
        d.projection = proj  # type: ignore[assignment]
        self.marker.clear()
        self.refresh(True)
        self.panel._update_status()

    def busy(self) -> bool:
        return self._busy.busy()

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
        self.panel._update_status()
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


class _LazyTab(QWidget):
    """A tab that decodes only while it is shown: a change while hidden marks it stale, the next show redraws.

    A click on the map then costs one decode, not the manifold grid and the
    traversal rows of tabs nobody is looking at.
    """

    panel: LatentExplorerPanel

    def __init__(self) -> None:
        super().__init__()
        self._stale = True

    def render(self) -> None:
        raise NotImplementedError

    def request_render(self) -> None:
        if self.isVisible():
            self._stale = False
            self.render()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._stale and self.panel.data is not None:
            self._stale = False
            self.render()


class ManifoldTab(_LazyTab):
    """Decodes over a grid of two latent dimensions, the others held at the current point."""

    def __init__(self, panel: LatentExplorerPanel):
        super().__init__()
        self.panel = panel
        self.dim_x, self.dim_y = QComboBox(), QComboBox()
        self.size = QSpinBox()
        self.size.setRange(3, 30)
        self.size.setValue(15)
        self.size.setToolTip("Decodes per side of the grid")
        self.hold = QLabel("")
        self.view = DecodedView("The manifold grid appears here.")
        lay = QVBoxLayout(self)
        lay.addLayout(_tool_row("x: dimension", self.dim_x, "y: dimension", self.dim_y, "grid", self.size))
        lay.addWidget(self.hold)
        lay.addWidget(self.view, 1)
        for w in (self.dim_x, self.dim_y):
            w.currentIndexChanged.connect(lambda _i: self.request_render())
        self.size.valueChanged.connect(lambda _v: self.request_render())
        panel.current_changed.connect(lambda _z: self.request_render())

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None:
            return
        if first or self.dim_x.count() != d.latent_dim:
            picks = (0, 1 if d.latent_dim > 1 else 0)  # the two most used dimensions
            if d.projection.kind == "identity":
                # The map shows z0 across and z1 up: the grid keeps that orientation so the two line up.
                order = [int(j) for j in d.order]
                picks = (order.index(0), order.index(1))
            for combo, pick in ((self.dim_x, picks[0]), (self.dim_y, picks[1])):
                combo.blockSignals(True)
                combo.clear()
                for j in d.order:
                    combo.addItem(f"z{j} ({d.score_name} {d.score[j]:.2f})", int(j))
                combo.setCurrentIndex(pick)
                combo.blockSignals(False)
        self.view.set_reference(d.reference)
        self.request_render()

    def render(self) -> None:
        d = self.panel.data
        if d is None or self.panel.current is None:
            return
        i, j = int(self.dim_x.currentData() or 0), int(self.dim_y.currentData() or 0)
        if i == j:
            self.hold.setText("Choose two different dimensions.")
            return
        n = self.size.value()
        z = grid_latents(self.panel.current, i, j, (d.low[i], d.high[i]), (d.low[j], d.high[j]), n)
        self.view.show_decodes(self.panel.decode(z), ncols=n)
        self.hold.setText(
            f"z{i} from {d.low[i]:.2f} to {d.high[i]:.2f} (left to right), z{j} from {d.high[j]:.2f} to {d.low[j]:.2f} "
            f"(top to bottom); other dimensions held at the current point."
        )


class TraversalTab(_LazyTab):
    """Sliders for the top-ranked dimensions with a live decode, and rows of decodes across each range."""

    def __init__(self, panel: LatentExplorerPanel):
        super().__init__()
        self.panel = panel
        self.sliders: list[tuple[int, QSlider, QLabel]] = []
        self.slider_box = QWidget()
        self.slider_grid = QGridLayout(self.slider_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.slider_box)
        self.live = DecodedView("Move a slider to decode.")
        self.rows = DecodedView("Traversal rows appear here.")
        self.reset_button = QPushButton("Back to the current point")
        self.reset_button.clicked.connect(self.render)
        self.timing = QLabel("")
        left = QVBoxLayout()
        left.addWidget(scroll, 1)
        left.addWidget(self.reset_button)
        left.addWidget(self.timing)
        right = QVBoxLayout()
        right.addWidget(QLabel("Live decode"))
        right.addWidget(self.live, 1)
        self.rows_label = QLabel("")
        right.addWidget(self.rows_label)
        right.addWidget(self.rows, 2)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 2)
        lay.addLayout(right, 3)
        self.z: np.ndarray | None = None
        panel.current_changed.connect(lambda _z: self.request_render())

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None:
            return
        dims = [int(j) for j in d.order[:MAX_SLIDERS]]
        if first or [s[0] for s in self.sliders] != dims:
            for _, s, lbl in self.sliders:
                s.deleteLater()
                lbl.deleteLater()
            self.sliders = []
            for row, j in enumerate(dims):
                lbl = QLabel()
                s = QSlider(Qt.Orientation.Horizontal)
                s.setRange(0, SLIDER_TICKS)
                s.setToolTip(f"z{j}: from {d.low[j]:.2f} to {d.high[j]:.2f}")
                s.valueChanged.connect(lambda v, j=j: self._moved(j, v))
                self.slider_grid.addWidget(lbl, row, 0)
                self.slider_grid.addWidget(s, row, 1)
                self.sliders.append((j, s, lbl))
            for row in range(self.slider_grid.rowCount()):
                self.slider_grid.setRowStretch(row, 0)
            self.slider_grid.setRowStretch(len(dims), 1)  # sliders packed at the top
        self.live.set_reference(d.reference)
        self.rows.set_reference(d.reference)
        self.request_render()

    def value_of(self, j: int, tick: int) -> float:
        d = self.panel.data
        assert d is not None
        return float(d.low[j] + (d.high[j] - d.low[j]) * tick / SLIDER_TICKS)

    def _tick_of(self, j: int, value: float) -> int:
        d = self.panel.data
        assert d is not None
        span = max(float(d.high[j] - d.low[j]), 1e-12)
        return int(round(np.clip((value - d.low[j]) / span, 0, 1) * SLIDER_TICKS))

    def _label(self, j: int, lbl: QLabel) -> None:
        d = self.panel.data
        assert d is not None and self.z is not None
        lbl.setText(f"z{j}  {d.score_name} {d.score[j]:.2f}  = {self.z[j]:+.2f}")

    def render(self) -> None:
        """Sliders back to the current point, a live decode there, and the traversal rows around it."""
        d = self.panel.data
        if d is None or self.panel.current is None:
            return
        self.z = self.panel.current.copy()
        for j, s, lbl in self.sliders:
            s.blockSignals(True)
            s.setValue(self._tick_of(j, float(self.z[j])))
            s.blockSignals(False)
            self._label(j, lbl)
        self._decode_live()
        dims = [int(j) for j in d.order[:TRAVERSAL_ROWS]]
        self.rows_label.setText(
            f"Rows: {'the ' + str(len(dims)) + ' most used dimensions' if len(dims) < d.latent_dim else 'every dimension, most used first'}, "
            f"{TRAVERSAL_STEPS} values across each slider's range; the others held at the current point"
        )
        values = np.stack([np.linspace(d.low[j], d.high[j], TRAVERSAL_STEPS) for j in range(d.latent_dim)])
        z = traversal_latents(self.z, dims, values)
        decoded = self.panel.decode(z)
        if decoded.ndim == 4:
            h = decoded.shape[2] + 1
            captions = [(1, 1 + r * h, 12, 8, f"z{j}") for r, j in enumerate(dims)]
            self.rows.show_decodes(decoded, ncols=TRAVERSAL_STEPS, captions=captions)
        else:
            self.rows.show_decodes(decoded)

    def _moved(self, j: int, tick: int) -> None:
        if self.z is None:
            return
        self.z[j] = self.value_of(j, tick)
        for jj, _, lbl in self.sliders:
            if jj == j:
                self._label(j, lbl)
        self._decode_live()

    def _decode_live(self) -> None:
        assert self.z is not None
        self.live.show_decodes(self.panel.decode(self.z[None]))
        self.timing.setText(f"decode: {self.panel.last_decode_ms:.1f} ms")


class InterpolationTab(_LazyTab):
    """Between two examples (or seeds), linear or slerp, in N frames; Export GIF."""

    def __init__(self, panel: LatentExplorerPanel):
        super().__init__()
        self.panel = panel
        self.a_spin, self.b_spin = QSpinBox(), QSpinBox()
        for s in (self.a_spin, self.b_spin):
            s.setRange(0, 10**6)
        self.a_label, self.b_label = QLabel("A: example"), QLabel("B: example")
        self.mode = QComboBox()
        self.mode.addItems(["linear", "slerp"])
        self.mode.setToolTip("slerp keeps the norm of Gaussian latents typical along the path")
        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(2, 64)
        self.frames_spin.setValue(10)
        self.a_current = QPushButton("A = current point")
        self.b_current = QPushButton("B = current point")
        self.export_button = QPushButton("Export GIF…")
        self.export_button.setEnabled(False)
        self.view = DecodedView("The interpolation strip appears here.")
        self.info = QLabel("")
        lay = QVBoxLayout(self)
        lay.addLayout(_tool_row(self.a_label, self.a_spin, self.a_current, self.b_label, self.b_spin, self.b_current))
        lay.addLayout(_tool_row("mode", self.mode, "frames", self.frames_spin, self.export_button))
        lay.addWidget(self.view, 1)
        lay.addWidget(self.info)
        self.endpoints: list[np.ndarray | None] = [None, None]
        self.endpoint_names = ["", ""]  # what each end is, for the caption under the strip
        self.frames: np.ndarray | None = None
        self.a_spin.valueChanged.connect(lambda v: self._pick(0, v))
        self.b_spin.valueChanged.connect(lambda v: self._pick(1, v))
        self.a_current.clicked.connect(lambda: self._use_current(0))
        self.b_current.clicked.connect(lambda: self._use_current(1))
        self.mode.currentIndexChanged.connect(lambda _i: self.request_render())
        self.frames_spin.valueChanged.connect(lambda _v: self.request_render())
        self.export_button.clicked.connect(self._export_dialog)

    def _from_data(self) -> bool:
        d = self.panel.data
        return d is not None and d.examples is not None

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None:
            return
        kind = "example" if self._from_data() else "seed"
        self.a_label.setText(f"A: {kind}")
        self.b_label.setText(f"B: {kind}")
        for s in (self.a_spin, self.b_spin):
            s.setMaximum(len(d.latents) - 1 if self._from_data() else 10**6)
        if first:
            a, b = 0, 1
            if self._from_data() and (d.labels >= 0).all():
                other = np.flatnonzero(d.labels != d.labels[0])
                b = int(other[0]) if len(other) else min(1, len(d.latents) - 1)
            for spin, v in ((self.a_spin, a), (self.b_spin, b)):
                spin.blockSignals(True)
                spin.setValue(v)
                spin.blockSignals(False)
        self.endpoints = [self._latent_for(self.a_spin.value()), self._latent_for(self.b_spin.value())]
        self.endpoint_names = [self._name_for(self.a_spin.value()), self._name_for(self.b_spin.value())]
        self.view.set_reference(d.reference)
        self.request_render()

    def _latent_for(self, index: int) -> np.ndarray:
        d = self.panel.data
        assert d is not None
        if self._from_data():
            return d.latents[min(index, len(d.latents) - 1)]
        g = torch.Generator().manual_seed(int(index))
        return d.model.prior_sample(1, g)[0].float().cpu().numpy()

    def _name_for(self, index: int) -> str:
        d = self.panel.data
        if d is None or not self._from_data():
            return f"seed {index}"
        i = min(index, len(d.latents) - 1)
        c = int(d.labels[i])
        if c < 0:
            return f"example {i}"
        return f"example {i} (label {d.class_names[c] if c < len(d.class_names) else c})"

    def _pick(self, which: int, index: int) -> None:
        if self.panel.data is None:
            return
        self.endpoints[which] = self._latent_for(index)
        self.endpoint_names[which] = self._name_for(index)
        self.request_render()

    def _use_current(self, which: int) -> None:
        if self.panel.current is not None:
            self.endpoints[which] = self.panel.current.copy()
            self.endpoint_names[which] = "the current point"
            self.request_render()

    def render(self) -> None:
        if self.panel.data is None or self.endpoints[0] is None or self.endpoints[1] is None:
            return
        n = self.frames_spin.value()
        z = interpolate(self.endpoints[0], self.endpoints[1], n, self.mode.currentText())
        self.frames = self.panel.decode(z)
        self.view.show_decodes(self.frames, ncols=n)
        self.export_button.setEnabled(True)
        norms = np.linalg.norm(z, axis=1)
        a, b = self.endpoint_names
        self.info.setText(f"From A = {a} to B = {b}: {n} frames, {self.mode.currentText()}; |z| from {norms.min():.2f} to {norms.max():.2f}")

    def export_gif(self, path: str | Path, frame_ms: int = 120) -> Path:
        """Write the strip as an animated GIF (points models: one picture of the points per frame)."""
        from PIL import Image

        if self.frames is None:
            raise ValueError("no interpolation to export yet")
        if self.frames.ndim == 2:
            pics = [self._points_picture(i) for i in range(len(self.frames))]
        else:
            scale = max(1, 128 // self.frames.shape[-1])
            pics = [np.kron(to_hwc_uint8(f), np.ones((scale, scale, 1), np.uint8)) for f in self.frames]
        images = [Image.fromarray(p[:, :, 0] if p.shape[2] == 1 else p) for p in pics]
        out = Path(path)
        images[0].save(out, save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
        return out

    def _points_picture(self, i: int, size: int = 160) -> np.ndarray:
        """The data in grey and frame ``i``'s decoded point as a red square, for GIF export of points models."""
        d = self.panel.data
        assert self.frames is not None
        ref = d.reference if d is not None and d.reference is not None else self.frames
        both = np.concatenate([ref[:, :2], self.frames[:, :2]])
        lo, hi = both.min(0), both.max(0)
        span = np.maximum(hi - lo, 1e-9)

        def pixel(p: np.ndarray) -> np.ndarray:
            q = (p - lo) / span * (size - 9) + 4
            return np.stack([q[..., 0], size - 1 - q[..., 1]], -1).astype(int)

        img = np.full((size, size, 3), 255, np.uint8)
        px = pixel(ref[:, :2])
        img[px[:, 1], px[:, 0]] = 170
        cx, cy = pixel(self.frames[i, :2])
        img[max(cy - 3, 0) : cy + 4, max(cx - 3, 0) : cx + 4] = (220, 40, 40)
        return img

    def _export_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export interpolation", "interpolation.gif", "GIF (*.gif)")
        if path:
            self.export_gif(path)


class ClassTab(_LazyTab):
    """Class by latent sample: row k decodes every latent with class k; a column keeps the style."""

    def __init__(self, panel: LatentExplorerPanel):
        super().__init__()
        self.panel = panel
        self.seed = QSpinBox()
        self.seed.setRange(0, 10**6)
        self.count = QSpinBox()
        self.count.setRange(1, 16)
        self.count.setValue(8)
        self.view = DecodedView("The class sweep appears here.")
        self.grid_shape = (0, 0)
        lay = QVBoxLayout(self)
        lay.addLayout(_tool_row("latents: seed", self.seed, "count", self.count))
        lay.addWidget(QLabel("Each row is one class; each column one latent z swept across the classes (style kept, class changed)."))
        lay.addWidget(self.view, 1)
        self.seed.valueChanged.connect(lambda _v: self.request_render())
        self.count.valueChanged.connect(lambda _v: self.request_render())

    def refresh(self, first: bool) -> None:
        if self.panel.data is not None:
            self.view.set_reference(self.panel.data.reference)
        self.request_render()

    def render(self) -> None:
        d = self.panel.data
        if d is None or d.num_classes == 0:
            return
        m, k = self.count.value(), d.num_classes
        z = d.model.prior_sample(m, torch.Generator().manual_seed(self.seed.value())).float().cpu().numpy()
        zz = np.tile(z, (k, 1))
        labels = np.repeat(np.arange(k), m)
        decoded = self.panel.decode(zz, labels)
        self.grid_shape = (k, m)
        if decoded.ndim == 4:
            h = decoded.shape[2] + 1
            names = [d.class_names[c] if c < len(d.class_names) else str(c) for c in range(k)]
            self.view.show_decodes(decoded, ncols=m, captions=[(1, 1 + r * h, 12, 8, names[r][:6]) for r in range(k)])
        else:
            self.view.show_decodes(decoded)


class CodebookTab(QWidget):
    """VQ-VAE: code usage histogram, the code map of an example, decoding after edits."""

    def __init__(self, panel: LatentExplorerPanel):
        super().__init__()
        self.panel = panel
        self.hist = pg.PlotWidget(title="Code usage over the validation examples")
        self.hist.setMenuEnabled(False)
        self.hist.setMouseEnabled(False, False)
        style_plot(self.hist)
        self.usage_label = QLabel("")
        self.example = QSpinBox()
        self.example.setRange(0, 0)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.table.setToolTip("Type a code number into a cell to change that part of the image")
        self.reset_button = QPushButton("Reset codes")
        self.original = DecodedView("The example")
        self.edited = DecodedView("Its decode")
        self.codes: np.ndarray | None = None
        views = QHBoxLayout()
        for title, v in (("example", self.original), ("decode of the code map", self.edited)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(v, 1)
            views.addLayout(col)
        right = QVBoxLayout()
        right.addLayout(_tool_row("example", self.example, self.reset_button))
        right.addWidget(self.table, 1)
        right.addLayout(views, 1)
        left = QVBoxLayout()
        left.addWidget(self.hist, 1)
        left.addWidget(self.usage_label)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addLayout(right, 1)
        self.example.valueChanged.connect(lambda _v: self._load_example())
        self.reset_button.clicked.connect(self._load_example)
        self.table.cellChanged.connect(self._cell_changed)

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None or d.vq_usage is None:
            return
        usage = d.vq_usage
        self.hist.clear()
        order = np.argsort(-usage, kind="stable")
        self.hist.addItem(pg.BarGraphItem(x=np.arange(len(usage)), height=usage[order], width=0.9, brush=pg.mkBrush(70, 130, 200)))
        self.hist.getPlotItem().setLabel("bottom", "codes, most used first")
        used = int((usage > 0).sum())
        p = usage / max(usage.sum(), 1)
        perplexity = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
        self.usage_label.setText(f"{used} of {len(usage)} codes used; perplexity {perplexity:.1f}; {len(usage) - used} dead")
        if d.examples is not None:
            self.example.setMaximum(len(d.examples) - 1)
        self._load_example()

    def _load_example(self) -> None:
        d = self.panel.data
        if d is None or d.examples is None:
            return
        i = self.example.value()
        x = torch.as_tensor(d.examples[i : i + 1])
        self.codes = d.model.codes(x)[0].cpu().numpy()
        h, w = self.codes.shape
        self.table.blockSignals(True)
        self.table.setRowCount(h)
        self.table.setColumnCount(w)
        for r in range(h):
            for c in range(w):
                self.table.setItem(r, c, QTableWidgetItem(str(int(self.codes[r, c]))))
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        self.original.show_decodes(d.examples[i : i + 1])
        self._decode()

    def set_code(self, row: int, col: int, code: int) -> None:
        """Edit one cell of the code map (as typing into the table does) and decode."""
        self.table.item(row, col).setText(str(code))

    def _cell_changed(self, row: int, col: int) -> None:
        d = self.panel.data
        if d is None or self.codes is None:
            return
        item = self.table.item(row, col)
        try:
            code = int(item.text())
        except ValueError:
            code = -1
        if not 0 <= code < d.model.num_codes:
            self.table.blockSignals(True)
            item.setText(str(int(self.codes[row, col])))
            self.table.blockSignals(False)
            self.panel.status.setText(f"A code must be a whole number from 0 to {d.model.num_codes - 1}.")
            return
        self.codes[row, col] = code
        self._decode()

    def _decode(self) -> None:
        d = self.panel.data
        assert d is not None and self.codes is not None
        with torch.no_grad():
            out = d.model.decode_codes(torch.as_tensor(self.codes)[None]).float().cpu().numpy()
        self.edited.show_decodes(out)


register_panel("Latent", "Latent", LatentExplorerPanel)
