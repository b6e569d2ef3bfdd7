"""The interpolation tab: between two examples (or two seeds), linear or spherical (slerp), in N frames,
exportable as a GIF."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pathlib import Path

import numpy as np
import torch
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton, QSpinBox, QVBoxLayout

from ...images import to_hwc_uint8
from ..controls import tool_row
from ..latent_math import interpolate
from .decoded_view import DecodedView
from .lazy_tab import LazyTab

if TYPE_CHECKING:
    from .session import LatentSession


class InterpolationTab(LazyTab):
    """Between two examples (or seeds), linear or slerp, in N frames; Export GIF."""

    def __init__(self, panel: LatentSession):
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
        # The strip is drawn at the top, right under the line that says what it interpolates: centred in the
        # tab's height it floated ~170 px below the controls with its caption at the bottom (1366x768).
        self.view = DecodedView("The interpolation strip appears here.", top=True)
        self.info = QLabel("")
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row(self.a_label, self.a_spin, self.a_current, self.b_label, self.b_spin, self.b_current))
        lay.addLayout(tool_row("mode", self.mode, "frames", self.frames_spin, self.export_button))
        lay.addWidget(self.info)
        lay.addWidget(self.view, 1)
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
