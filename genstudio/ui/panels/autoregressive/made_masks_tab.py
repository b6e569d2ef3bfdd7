"""The MADE masks tab: each layer's connectivity mask and their product, which in generation order is
strictly lower-triangular (Germain et al. 2015)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from genstudio.models.autoregressive import inspect as ar

from ...widgets import ImageView, titled
from ..controls import tool_row


class MadeMasksTab(QWidget):
    """The per-layer masks and their product, the autoregressive triangle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.connectivity: ar.MADEConnectivity | None = None
        self.set_combo = QComboBox()
        self.set_combo.setToolTip("Mask set (connectivity-agnostic training cycles through several)")
        self.layers_box = QWidget()
        self.layers_lay = QHBoxLayout(self.layers_box)
        self.layers_lay.setContentsMargins(0, 0, 0, 0)
        self.product_view = ImageView(placeholder="product")
        self.order_view = ImageView(placeholder="order")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        bottom = QHBoxLayout()
        bottom.addWidget(titled("paths input → output, rows and columns in generation order (log scale; "
                                 "nonzero only below the diagonal)", self.product_view, wrap=True), 2)
        bottom.addWidget(titled("generation order of the pixels (dark: first)", self.order_view, wrap=True), 1)
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row("mask set", self.set_combo))
        lay.addWidget(QLabel("Each layer's mask (white: weight kept), out x in, input layer first; units sorted by degree, "
                             "inputs and outputs in generation order:"))
        lay.addWidget(self.layers_box, 2)
        lay.addLayout(bottom, 3)
        lay.addWidget(self.summary)
        self.set_combo.currentIndexChanged.connect(lambda _i: self.draw())

    def set_model(self, model: Any) -> None:
        self.model = model
        self.set_combo.blockSignals(True)
        self.set_combo.clear()
        for s in range(model.config.num_masks):
            self.set_combo.addItem(str(s), s)
        self.set_combo.blockSignals(False)
        self.draw()

    def draw(self) -> None:
        if self.model is None:
            return
        conn = ar.made_connectivity(self.model, max(0, self.set_combo.currentIndex()), sort_units=True)
        self.connectivity = conn
        while self.layers_lay.count():
            item = self.layers_lay.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for name, m in zip(conn.names, conn.layer_masks):
            view = ImageView(placeholder=name)
            view.setMinimumSize(100, 100)
            view.set_array(ar.mask_picture(m))
            self.layers_lay.addWidget(titled(name, view, wrap=True))
        self.product_view.set_array(ar.mask_picture(conn.in_order()))
        self.order_view.set_array(ar.order_picture(self.model))
        d = conn.paths.shape[0]
        reach = (conn.paths > 0).sum(1)
        ok = "strictly lower-triangular: every output sees only earlier inputs" if conn.is_autoregressive() else "NOT autoregressive: some output sees itself or a later input"
        self.summary.setText(f"{d} outputs · product {ok} · connected input→output pairs: {int((conn.paths > 0).sum())} "
                             f"of the {d * (d - 1) // 2} allowed · output with most inputs sees {int(reach.max())}")
