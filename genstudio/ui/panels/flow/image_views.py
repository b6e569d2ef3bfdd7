"""The flow panel's image page: samples at temperatures 0 to 1 (Glow section 5: z scaled by T), and the
latent of a validation example split into its scales, one diverging heatmap per channel. A mixin of
:class:`.panel.FlowPanel`."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from genstudio.models.flows import inspect as fi

from ...images import tile_grid
from ...widgets import ImageView, TopImageView, caption
from .plane_views import LOGDET_MAP
from .prepare import IMAGE_SAMPLES


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


PLAIN_PRIOR_CAPTION = "Samples at temperature T (rows; z ~ T · N(0, I), the same z in every row)"
CLASS_PRIOR_CAPTION = "Samples at temperature T (rows; columns: classes 0, 1, ...; z ~ μ_y + T · σ_y · N(0, I), the same noise in every row)"


class ImageViews:
    """Mixin (before QWidget): samples at several temperatures and a validation example's latent."""

    def _build_image_page(self) -> QWidget:
        page = QWidget()
        self.temperature_view = TopImageView(placeholder="samples at several temperatures")  # under its caption
        self.example_view = ImageView(placeholder="validation example")
        self.example_view.setMaximumSize(170, 170)  # with the heatmaps under it, the column fits 1366x768
        self.latent_row = QHBoxLayout()
        self.latent_views: list[tuple[QLabel, ImageView]] = []
        left = QVBoxLayout()
        self.temperature_caption = caption(PLAIN_PRIOR_CAPTION)
        left.addWidget(self.temperature_caption)
        left.addWidget(self.temperature_view, 1)
        right = QVBoxLayout()
        self.latent_caption = caption("A validation example and its latent z = f(x), one heatmap per channel and scale (blue < 0 < red)")
        right.addWidget(self.latent_caption)
        # The latent's scales under the example, across the column's width: beside it they shared what the
        # example left (heatmaps ~90 px wide at 1920x1080, their titles far above them).
        right.addWidget(self.example_view, 0, Qt.AlignmentFlag.AlignHCenter)
        right.addLayout(self.latent_row)
        right.addStretch(1)  # keeps each scale's title just above its heatmaps
        body = QHBoxLayout(page)
        body.addLayout(left, 1)
        body.addLayout(right, 1)
        return page

    def _set_image(self, r: fi.ImageReport) -> None:
        self.temperature_caption.setText(CLASS_PRIOR_CAPTION if r.class_prior else PLAIN_PRIOR_CAPTION)
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
            view = TopImageView()  # right under its title
            view.setMaximumHeight(170)
            view.set_array(heatmap_rgb(part.numpy(), limit=3.0))
            col.addWidget(label)
            col.addWidget(view, 1)
            self.latent_row.addWidget(box, 1)
            self.latent_views.append((label, view))
