"""The priors tab (VAEs): the same seed decoded from the N(0, I) prior and from the mixture fitted to the
encoded training set, side by side, so the user sees why ex-post density estimation (Ghosh et al. 2020)
lowers the FID: N(0, I) also lands in the holes between the digits' codes, where the decoder blurs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSpinBox, QVBoxLayout

from ..controls import tool_row
from .decoded_view import DecodedView
from .lazy_tab import LazyTab

if TYPE_CHECKING:
    from .session import LatentSession

#: (sample option, column title) for each prior the tab shows.
PRIORS = (
    ("standard", "z ~ N(0, I): the prior the VAE trained with"),
    ("mixture", "z ~ Gaussian mixture fitted to the encoded training set (the default for samples)"),
)


def has_priors(model: object) -> bool:
    """Whether ``model`` samples from a fitted mixture as well as N(0, I) (the VAE family)."""
    return hasattr(model, "latent_sample") and hasattr(model, "fitted_mixture")


class PriorsTab(LazyTab):
    """Samples from each prior with one seed: one grid per prior."""

    def __init__(self, panel: LatentSession):
        super().__init__()
        self.panel = panel
        self.seed = QSpinBox()
        self.seed.setRange(0, 10**6)
        self.count = QSpinBox()
        self.count.setRange(1, 64)
        self.count.setValue(36)
        # Drawn at the top, right under their captions: centred in the free height they sat ~90 px below
        # them at 1920x1080, with a gap that read as the captions belonging to nothing.
        self.views = {name: DecodedView("Samples appear here.", top=True) for name, _ in PRIORS}
        grid = QGridLayout()
        for col, (name, title) in enumerate(PRIORS):
            label = QLabel(title)
            label.setWordWrap(True)
            label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)  # a one-line title beside a two-line one
            grid.addWidget(label, 0, col)
            grid.addWidget(self.views[name], 1, col)
            grid.setColumnStretch(col, 1)
        grid.setRowStretch(1, 1)
        caption = QLabel(
            "The encoder never fills N(0, I): its codes cluster, and decoding z from the gaps between them "
            "gives blurred, ambiguous digits. A mixture fitted to the codes (Ghosh et al. 2020) draws z where "
            "the data is. Samples, previews, genstudio sample and eval use the mixture unless the run sets prior = standard."
        )
        caption.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row("seed", self.seed, "samples", self.count))
        lay.addWidget(caption)
        lay.addLayout(grid, 1)
        self.seed.valueChanged.connect(lambda _v: self.request_render())
        self.count.valueChanged.connect(lambda _v: self.request_render())

    def refresh(self, first: bool) -> None:
        if self.panel.data is not None:
            for view in self.views.values():
                view.set_reference(self.panel.data.reference)
        self.request_render()

    def render(self) -> None:
        d = self.panel.data
        if d is None or not has_priors(d.model):
            return
        for name, _ in PRIORS:
            g = torch.Generator().manual_seed(self.seed.value())  # one seed for both: only the prior differs
            with torch.no_grad():
                z = d.model.latent_sample(self.count.value(), g, name).float().cpu().numpy()
            self.views[name].show_decodes(self.panel.decode(z))
