"""The mixture behind the distribution under the cursor, for models whose output is a discretized logistic
mixture (PixelCNN++, Salimans et al. 2017, eq. 2): each component's 256-bin masses, scaled by its weight, drawn as
a line over the bars of their sum, and a line naming the components (weight, mean and scale on the 0..255 axis)
and the two edge bins, which hold the tails below 0 and above 255.

A model shows it by having ``mixture_at(x, c, i, j)`` (see
:meth:`genstudio.models.autoregressive.pixelcnn_pp.PixelCNNPP.mixture_at`); for every other model the overlay is
hidden and the bars are the softmax (or Bernoulli) they always were. The Generation tab calls :func:`show_mixture`
after plotting the bars.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtWidgets import QLabel

from .distribution_view import DistributionView

#: Component colours: distinct on the light and the dark theme, none the bars' blue or the drawn value's red.
COMPONENT_COLOURS = [(230, 150, 30), (40, 170, 90), (150, 80, 200), (20, 170, 190), (200, 90, 150),
                     (120, 120, 120), (160, 130, 40), (90, 140, 60), (230, 110, 80), (80, 100, 220)]


def has_mixture(model: Any) -> bool:
    return callable(getattr(model, "mixture_at", None))


class MixtureOverlay:
    """The component curves and caption kept on one :class:`DistributionView`."""

    def __init__(self, view: DistributionView):
        self.view = view
        self.curves: list[pg.PlotDataItem] = []
        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.hide()
        view.layout().addWidget(self.caption)
        self.last: dict[str, np.ndarray] | None = None

    def _curve(self, k: int) -> pg.PlotDataItem:
        while len(self.curves) <= k:
            colour = COMPONENT_COLOURS[len(self.curves) % len(COMPONENT_COLOURS)]
            curve = pg.PlotDataItem(pen=pg.mkPen(*colour, width=2))
            self.view.plot.addItem(curve)
            self.curves.append(curve)
        return self.curves[k]

    def hide(self) -> None:
        for curve in self.curves:
            curve.hide()
        self.caption.hide()
        self.last = None

    def show(self, mixture: dict[str, torch.Tensor], channel_note: str = "") -> None:
        """Draw one example's mixture (the tensors of ``mixture_at`` for a single example)."""
        weights = mixture["weights"][0].double().cpu().numpy()
        comps = mixture["components"][0].double().cpu().numpy()
        means = mixture["means"][0].double().cpu().numpy()
        scales = mixture["scales"][0].double().cpu().numpy()
        probs = mixture["probs"][0].double().cpu().numpy()
        x = np.arange(256)
        for k in range(len(weights)):
            curve = self._curve(k)
            curve.setData(x, weights[k] * comps[k])
            curve.show()
        for curve in self.curves[len(weights):]:
            curve.hide()
        order = np.argsort(-weights)
        parts = [f"<span style='color: rgb{COMPONENT_COLOURS[k % len(COMPONENT_COLOURS)]}'>■</span> "
                 f"{weights[k]:.2f} · μ {means[k]:.0f} · s {scales[k]:.1f}" for k in order]
        text = (f"mixture of {len(weights)} discretized logistics{channel_note} (weight · mean · scale on 0..255; "
                f"lines: weight × component, bars: their sum): " + "  ".join(parts)
                + f"<br>edge bins take the tails: p(0) = {probs[0]:.3g} (all mass below 0.5), "
                  f"p(255) = {probs[255]:.3g} (all mass above 254.5)")
        self.caption.setText(text)
        self.caption.show()
        self.last = {"weights": weights, "components": comps, "probs": probs}


def overlay_of(view: DistributionView) -> MixtureOverlay:
    overlay = getattr(view, "_mixture_overlay", None)
    if overlay is None:
        overlay = MixtureOverlay(view)
        view._mixture_overlay = overlay  # type: ignore[attr-defined]
    return overlay


def show_mixture(view: DistributionView, model: Any, x: torch.Tensor | None, c: int, i: int, j: int) -> MixtureOverlay | None:
    """Overlay the mixture of position (c, i, j) given example ``x`` (1 x C x H x W data), or hide it for other models."""
    overlay = getattr(view, "_mixture_overlay", None)
    if model is None or x is None or not has_mixture(model):
        if overlay is not None:
            overlay.hide()
        return None
    overlay = overlay_of(view)
    note = f" for channel {'RGB'[c]} (weights given the pixel's earlier channels)" if getattr(model, "colours", 1) == 3 else ""
    overlay.show(model.mixture_at(x, c, i, j), note)
    return overlay
