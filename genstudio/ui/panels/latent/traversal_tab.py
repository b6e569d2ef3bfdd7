"""The traversals tab: one slider per top-ranked latent dimension with a live decode, and a row of
decodes across each dimension's range."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSlider, QVBoxLayout, QWidget

from ..latent_math import traversal_latents
from .decoded_view import DecodedView
from .lazy_tab import LazyTab

if TYPE_CHECKING:
    from .session import LatentSession

MAX_SLIDERS = 10  # traversal sliders shown (the top-ranked dimensions)
TRAVERSAL_ROWS = 8  # dimensions in the traversal row image
TRAVERSAL_STEPS = 9  # decodes per traversal row
SLIDER_TICKS = 200  # slider resolution over a dimension's range


class TraversalTab(LazyTab):
    """Sliders for the top-ranked dimensions with a live decode, and rows of decodes across each range."""

    def __init__(self, panel: LatentSession):
        super().__init__()
        self.panel = panel
        self.sliders: list[tuple[int, QSlider, QLabel]] = []
        self.slider_box = QWidget()
        self.slider_grid = QGridLayout(self.slider_box)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.slider_box)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # the column is sized to its sliders
        self.slider_grid.setColumnStretch(1, 1)
        self._scroll = scroll
        self.live = DecodedView("Move a slider to decode.")
        self.rows = DecodedView("Traversal rows appear here.", top=True)  # right under the caption that says what the rows are
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
        self.rows_label.setWordWrap(True)  # a long caption wraps instead of widening the tab past a laptop screen
        self.rows_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
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
                lbl.setMinimumWidth(lbl.fontMetrics().horizontalAdvance(f"z{j}  {d.score_name} 00.00  = -0.00") + 6)  # its text arrives later
                s = QSlider(Qt.Orientation.Horizontal)
                s.setRange(0, SLIDER_TICKS)
                s.setMinimumWidth(120)  # a slider squeezed to nothing jumps to its end when dragged
                s.setToolTip(f"z{j}: from {d.low[j]:.2f} to {d.high[j]:.2f}")
                s.valueChanged.connect(lambda v, j=j: self._moved(j, v))
                self.slider_grid.addWidget(lbl, row, 0)
                self.slider_grid.addWidget(s, row, 1)
                self.sliders.append((j, s, lbl))
            for row in range(self.slider_grid.rowCount()):
                self.slider_grid.setRowStretch(row, 0)
            self.slider_grid.setRowStretch(len(dims), 1)  # sliders packed at the top
            self._scroll.setMinimumWidth(self.slider_box.minimumSizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width() + 4)
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
