"""The manifold tab: decodes over a grid of two latent dimensions, the others held at the current point
(Kingma & Welling 2014, figure 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QComboBox, QLabel, QSpinBox, QVBoxLayout

from ..controls import tool_row
from ..latent_math import grid_latents
from .decoded_view import DecodedView
from .lazy_tab import LazyTab

if TYPE_CHECKING:
    from .session import LatentSession


class ManifoldTab(LazyTab):
    """Decodes over a grid of two latent dimensions, the others held at the current point."""

    def __init__(self, panel: LatentSession):
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
        lay.addLayout(tool_row("x: dimension", self.dim_x, "y: dimension", self.dim_y, "grid", self.size))
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
