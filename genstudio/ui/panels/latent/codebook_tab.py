"""The codebook tab (VQ-VAE): code usage over the validation set, the code map of an example, and the
decode after the user edits codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtWidgets import QAbstractItemView, QHBoxLayout, QLabel, QPushButton, QSpinBox, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...widgets import style_plot
from ..controls import tool_row
from .decoded_view import DecodedView

if TYPE_CHECKING:
    from .session import LatentSession


class CodebookTab(QWidget):
    """VQ-VAE: code usage histogram, the code map of an example, decoding after edits."""

    def __init__(self, panel: LatentSession):
        super().__init__()
        self.panel = panel
        self.hist = pg.PlotWidget(title="Code usage over the validation examples")
        self.hist.setMenuEnabled(False)
        self.hist.setMouseEnabled(False, False)
        style_plot(self.hist)
        self.usage_label = QLabel("")
        self.example = QSpinBox()
        self.example.setRange(0, 0)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.AllEditTriggers)
        self.table.setToolTip("Type a code number into a cell to change that part of the image")
        self.reset_button = QPushButton("Reset codes")
        self.original = DecodedView("The example")
        self.edited = DecodedView("Its decode")
        self.codes: np.ndarray | None = None
        views = QHBoxLayout()
        for title, v in (("example", self.original), ("decode of the code map", self.edited)):
            col = QVBoxLayout()
            col.addWidget(QLabel(title))
            col.addWidget(v, 1)
            views.addLayout(col)
        right = QVBoxLayout()
        right.addLayout(tool_row("example", self.example, self.reset_button))
        right.addWidget(self.table, 1)
        right.addLayout(views, 1)
        left = QVBoxLayout()
        left.addWidget(self.hist, 1)
        left.addWidget(self.usage_label)
        lay = QHBoxLayout(self)
        lay.addLayout(left, 1)
        lay.addLayout(right, 1)
        self.example.valueChanged.connect(lambda _v: self._load_example())
        self.reset_button.clicked.connect(self._load_example)
        self.table.cellChanged.connect(self._cell_changed)

    def refresh(self, first: bool) -> None:
        d = self.panel.data
        if d is None or d.vq_usage is None:
            return
        usage = d.vq_usage
        self.hist.clear()
        order = np.argsort(-usage, kind="stable")
        self.hist.addItem(pg.BarGraphItem(x=np.arange(len(usage)), height=usage[order], width=0.9, brush=pg.mkBrush(70, 130, 200)))
        self.hist.getPlotItem().setLabel("bottom", "codes, most used first")
        used = int((usage > 0).sum())
        p = usage / max(usage.sum(), 1)
        perplexity = float(np.exp(-(p[p > 0] * np.log(p[p > 0])).sum()))
        self.usage_label.setText(f"{used} of {len(usage)} codes used; perplexity {perplexity:.1f}; {len(usage) - used} dead")
        if d.examples is not None:
            self.example.setMaximum(len(d.examples) - 1)
        self._load_example()

    def _load_example(self) -> None:
        d = self.panel.data
        if d is None or d.examples is None:
            return
        i = self.example.value()
        x = torch.as_tensor(d.examples[i : i + 1])
        self.codes = d.model.codes(x)[0].cpu().numpy()
        h, w = self.codes.shape
        self.table.blockSignals(True)
        self.table.setRowCount(h)
        self.table.setColumnCount(w)
        for r in range(h):
            for c in range(w):
                self.table.setItem(r, c, QTableWidgetItem(str(int(self.codes[r, c]))))
        self.table.resizeColumnsToContents()
        self.table.blockSignals(False)
        self.original.show_decodes(d.examples[i : i + 1])
        self._decode()

    def set_code(self, row: int, col: int, code: int) -> None:
        """Edit one cell of the code map (as typing into the table does) and decode."""
        self.table.item(row, col).setText(str(code))

    def _cell_changed(self, row: int, col: int) -> None:
        d = self.panel.data
        if d is None or self.codes is None:
            return
        item = self.table.item(row, col)
        try:
            code = int(item.text())
        except ValueError:
            code = -1
        if not 0 <= code < d.model.num_codes:
            self.table.blockSignals(True)
            item.setText(str(int(self.codes[row, col])))
            self.table.blockSignals(False)
            self.panel.status.setText(f"A code must be a whole number from 0 to {d.model.num_codes - 1}.")
            return
        self.codes[row, col] = code
        self._decode()

    def _decode(self) -> None:
        d = self.panel.data
        assert d is not None and self.codes is not None
        with torch.no_grad():
            out = d.model.decode_codes(torch.as_tensor(self.codes)[None]).float().cpu().numpy()
        self.edited.show_decodes(out)
