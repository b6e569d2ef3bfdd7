"""The classes tab (``Conditional`` models): a grid of class by latent sample; each column is one latent
swept across the classes (style kept, class changed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from PySide6.QtWidgets import QLabel, QSpinBox, QVBoxLayout

from ..controls import tool_row
from .decoded_view import DecodedView
from .lazy_tab import LazyTab

if TYPE_CHECKING:
    from .session import LatentSession


class ClassTab(LazyTab):
    """Class by latent sample: row k decodes every latent with class k; a column keeps the style."""

    def __init__(self, panel: LatentSession):
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
        lay.addLayout(tool_row("latents: seed", self.seed, "count", self.count))
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
