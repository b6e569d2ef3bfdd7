"""The "Latent" tab: puts the map, manifold, traversal, interpolation, class and codebook tabs together,
keeps the current point they start from, and decodes on the UI thread (a few ms for the 28 x 28
defaults, ``benchmarks/latent_decode.py``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from .. import PanelContext, register_panel
from ..live import CheckpointPanel
from .class_tab import ClassTab
from .codebook_tab import CodebookTab
from .interpolation_tab import InterpolationTab
from .manifold_tab import ManifoldTab
from .map_tab import MapTab
from .prepare import ExplorerData, prepare_explorer
from .priors_tab import PriorsTab, has_priors
from .traversal_tab import TraversalTab


class LatentExplorerPanel(CheckpointPanel):
    """The "Latent" tab: map, manifold grid, traversals, interpolation, class sweep, codebook."""

    #: The current point changed (a click on the map, a slider); carries the latent.
    current_changed = Signal(object)
    #: New data arrived from the background (a checkpoint was loaded).
    data_ready = Signal()

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the explorer", parent)
        self.data: ExplorerData | None = None
        self.current: np.ndarray | None = None
        self.last_decode_ms = 0.0

        self.status = QLabel("Loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class fed to the decoder of a conditional model")
        self.class_label = QLabel("Class")
        self.reload_button = QPushButton("Reload checkpoint")
        self.reload_button.setToolTip("Load the run's latest checkpoint again and re-encode the data")
        self.use_reload_button(self.reload_button)
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
        self.priors_tab = PriorsTab(self)
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
    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], ExplorerData]:
        method = self.map_tab.projection_method()
        return lambda: prepare_explorer(run_dir, method, snapshot=snapshot)

    def show_loaded(self, data: ExplorerData) -> None:
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
        self._show_optional_tab(self.priors_tab, "Priors", has_priors(data.model))
        self.tabs.setEnabled(True)
        self.update_status()
        for tab in (self.map_tab, self.manifold_tab, self.traversal_tab, self.interp_tab, self.class_tab, self.codebook_tab, self.priors_tab):
            if self.tabs.indexOf(tab) >= 0:
                tab.refresh(first)
        self.data_ready.emit()

    def _show_optional_tab(self, tab: QWidget, title: str, show: bool) -> None:
        i = self.tabs.indexOf(tab)
        if show and i < 0:
            self.tabs.addTab(tab, title)
        elif not show and i >= 0:
            self.tabs.removeTab(i)

    def update_status(self) -> None:
        d = self.data
        if d is None:
            return
        # Decode times are shown where the decode happens (under the map, under the sliders): a status line
        # that changed on every slider move would re-lay out the panel each time.
        parts = [self.weights_text(d.step), f"latent dim {d.latent_dim}", d.source, f"map: {d.projection.kind}"]
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
        super().shutdown()
        self.map_tab.job.cancel()
        self.data = None


register_panel("Latent", "Latent", LatentExplorerPanel)
