"""The completion tab: keep the top rows of validation images' code maps, let the prior draw the rest, and
decode: completion in code space, where each code stands for a patch of the image."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from ...images import tile_grid
from ...widgets import ImageView
from ..controls import tool_row
from ..jobs import PanelJob


def complete_examples(model: Any, x: torch.Tensor, labels: torch.Tensor | None, rows: int, per: int, seed: int) -> np.ndarray:
    """Pictures N x (per + 3) x C x H x W: the image, its VQ-VAE reconstruction, the kept rows alone (the rest from
    the codebook's mean vector), and ``per`` completions of the other rows drawn by the prior."""
    with torch.no_grad():
        codes = model.codes(x)
        h, w = model.grid
        keep = torch.zeros(h, w, dtype=torch.bool)
        keep[:rows] = True
        rep = codes.repeat_interleave(per, 0)
        lab = labels.repeat_interleave(per, 0) if labels is not None else None
        done = model.complete_codes(rep, keep, torch.Generator().manual_seed(seed), labels=lab)
        recon = model.decode_codes(codes)
        kept = model.decode_partial(codes, keep)
        filled = model.decode_codes(done).view(len(x), per, *x.shape[1:])
    cols = [x.cpu()[:, None], recon.cpu()[:, None], kept.cpu()[:, None], filled.cpu()]
    return torch.cat(cols, 1).float().numpy()


class CompletionTab(QWidget):
    """Top rows of the code map kept, the rest drawn by the prior."""

    completed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.result: np.ndarray | None = None
        self.rows_spin = QSpinBox()
        self.rows_spin.setToolTip("Rows of the code grid kept from the image; the prior draws the rows below")
        self.first_spin = QSpinBox()
        self.first_spin.setToolTip("First validation example")
        self.count_spin = QSpinBox()
        self.count_spin.setRange(1, 8)
        self.count_spin.setValue(4)
        self.per_spin = QSpinBox()
        self.per_spin.setRange(1, 8)
        self.per_spin.setValue(4)
        self.per_spin.setToolTip("Completions drawn for each example")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.run_button = QPushButton("Complete")
        self.view = ImageView(placeholder="Press Complete: each row shows an example, its reconstruction, the kept rows and completions")
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.job = PanelJob(self, self.run_button, self.message, failure="completion failed: {exc}")
        self.job.done.connect(self._on_done)
        lay = QVBoxLayout(self)
        lay.addLayout(tool_row("code rows kept", self.rows_spin, "examples from", self.first_spin, "count", self.count_spin,
                               "completions each", self.per_spin, "seed", self.seed_spin, self.run_button))
        lay.addWidget(self.view, 1)
        lay.addWidget(self.message)
        self.run_button.clicked.connect(self.run)
        self.setEnabled(False)

    def set_model(self, model: Any, examples: torch.Tensor, labels: torch.Tensor) -> None:
        first = self.model is None
        self.model, self.examples = model, examples
        self.labels = labels if getattr(model, "conditional", False) else None
        h, _ = model.grid
        self.rows_spin.setRange(1, max(1, h - 1))
        if first:
            self.rows_spin.setValue(max(1, h // 2))
        self.first_spin.setRange(0, max(0, len(examples) - 1))
        self.setEnabled(len(examples) > 0)
        self.message.setText(f"columns: image · VQ-VAE reconstruction · the kept code rows alone · completions. The prior "
                             f"sees the kept rows of the {h} x {model.grid[1]} code grid (one code per "
                             f"{model.data_info.shape[1] // h} x {model.data_info.shape[2] // model.grid[1]} pixels) and draws the rest.")

    def run(self) -> None:
        if self.model is None or self.examples is None or not len(self.examples):
            return
        a = self.first_spin.value()
        n = self.count_spin.value()
        x = self.examples[a : a + n]
        labels = self.labels[a : a + n] if self.labels is not None else None
        model, rows, per, seed = self.model, self.rows_spin.value(), self.per_spin.value(), self.seed_spin.value()
        text = f"completing {len(x)} examples x {per}: {rows} code rows kept, the rest drawn…"
        self.job.start(lambda _state: complete_examples(model, x, labels, rows, per, seed), text)

    def _on_done(self, pictures: np.ndarray) -> None:
        self.result = pictures
        n, cols = pictures.shape[:2]
        u8 = (np.clip(pictures.reshape(n * cols, *pictures.shape[2:]), 0, 1) * 255 + 0.5).astype(np.uint8)
        self.view.set_array(tile_grid(u8, ncols=cols, pad=1, pad_value=80))
        self.message.setText(f"{n} examples · columns: image, VQ-VAE reconstruction, the kept {self.rows_spin.value()} code rows alone, "
                             f"{cols - 3} completions (seed {self.seed_spin.value()}). The kept codes are the image's own.")
        self.completed.emit()
