"""The completion tab: hide part of validation images (presets, or a rectangle dragged with the mouse) and
let ``complete`` fill it; originals, masked inputs and several completions side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from genstudio.models.autoregressive import inspect as ar

from ...images import tile_grid
from ...widgets import TopImageView, titled
from ..controls import tool_row
from ..jobs import PanelJob
from .pixel_grid import PixelGridView


class CompletionTab(QWidget):
    """Hide part of validation images and let the model fill it, several times."""

    completed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.rect: tuple[int, int, int, int] | None = None
        self.result: torch.Tensor | None = None
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(ar.MASK_PRESETS))
        self.preset_combo.setToolTip("Which part to hide; or drag a rectangle over the first example")
        self.first_spin = QSpinBox()
        self.first_spin.setToolTip("First validation example")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 8)
        self.count_spin.setValue(4)
        self.count_spin.setToolTip("Examples to complete")
        self.per_spin = QSpinBox()
        self.per_spin.setRange(1, 8)
        self.per_spin.setValue(4)
        self.per_spin.setToolTip("Completions drawn for each example")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.run_button = QPushButton("Complete")
        # Both drawn at the top, right under their captions: centred in the height, the masked examples sat
        # ~150 px below theirs at 1366x768 and 1920x1080.
        self.editor = PixelGridView(placeholder="the masked examples: drag a rectangle to hide it", top=True)
        self.editor.setMinimumSize(160, 160)
        self.result_view = TopImageView(placeholder="Press Complete: originals, masked inputs and completions appear here")
        self.message = QLabel("columns: original · masked (blue: hidden) · completions. Known pixels are kept exactly.")
        self.message.setWordWrap(True)
        self.job = PanelJob(self, self.run_button, self.message, failure="completion failed: {exc}")
        self.job.done.connect(self._on_done)
        controls = tool_row("hide", self.preset_combo, "examples from", self.first_spin, "count", self.count_spin,
                            "completions each", self.per_spin, "seed", self.seed_spin, self.run_button)
        views = QHBoxLayout()
        views.addWidget(titled("masked input (drag to draw a rectangle)", self.editor, wrap=True), 1)
        views.addWidget(titled("original · masked · completions", self.result_view, wrap=True), 3)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addLayout(views, 1)
        lay.addWidget(self.message)
        self.run_button.clicked.connect(self.run)
        self.editor.dragged.connect(self._dragged)
        for w in (self.first_spin, self.count_spin):
            w.valueChanged.connect(lambda _v: self._draw_editor())
        self.preset_combo.currentIndexChanged.connect(lambda _i: self._draw_editor())
        self.setEnabled(False)

    def set_model(self, model: Any, examples: torch.Tensor) -> None:
        self.model, self.examples = model, examples
        self.first_spin.setRange(0, max(0, len(examples) - 1))
        self.setEnabled(True)
        self._draw_editor()

    def mask(self) -> torch.Tensor:
        m = self.model
        return ar.completion_mask(self.preset_combo.currentText(), m.height, m.width, self.rect)

    def _batch(self) -> torch.Tensor:
        a = self.first_spin.value()
        return self.examples[a : a + self.count_spin.value()]

    def _valid_mask(self) -> torch.Tensor | None:
        """The mask to complete with, or None (with the reason shown) when there is none yet."""
        if self.model is None or self.examples is None:
            return None
        try:
            return self.mask()
        except ValueError as e:
            self.message.setText(str(e))
            return None

    def _draw_editor(self) -> None:
        mask = self._valid_mask()
        if mask is None:
            return
        x = self._batch()
        self.editor.set_grid(ar.masked_picture(x, mask), 1 if len(x) == 1 else 2)

    def _dragged(self, _k: int, top: int, left: int, bottom: int, right: int) -> None:
        self.rect = (top, left, bottom, right)
        self.preset_combo.setCurrentText("rectangle")
        self._draw_editor()

    def run(self) -> None:
        mask = self._valid_mask()
        if mask is None:
            return
        model, x, per, seed = self.model, self._batch(), self.per_spin.value(), self.seed_spin.value()
        hidden = int((mask == 0).sum())
        text = f"completing {len(x)} examples x {per}: {hidden} hidden pixels each, drawn in the model's order…"
        self.job.start(lambda _state: (x, mask, per, ar.complete_examples(model, x, mask, per, seed)), text)

    def _on_done(self, result: tuple[torch.Tensor, torch.Tensor, int, torch.Tensor]) -> None:
        x, mask, per, out = result
        self.result = out
        ones = torch.ones(x.shape[1:], dtype=torch.bool)
        rows = []
        for k in range(len(x)):
            rows.append(ar.generation_picture(x[k : k + 1], ones))
            rows.append(ar.masked_picture(x[k : k + 1], mask))
            rows.append(ar.generation_picture(out[k * per : (k + 1) * per], ones))
        pictures = np.concatenate(rows)
        self.result_view.set_array(tile_grid(pictures.transpose(0, 3, 1, 2), per + 2, pad=1, pad_value=128))
        self.message.setText(f"{len(x)} examples · columns: original, masked (blue: hidden), {per} completions "
                             f"(seed {self.seed_spin.value()}). Known pixels are kept exactly.")
        self.completed.emit()
