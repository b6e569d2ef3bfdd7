"""The Markov-chain tab: the intuition behind the forward process. A small transition matrix applied
again and again forgets where it started and converges to its stationary distribution, as
q(x_t | x_0) forgets x_0 and converges to N(0, I)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from ...widgets import plot_widget
from ..diffusion_math import stationary_distribution


class MarkovChainView(QWidget):
    """Edit a 3-state transition matrix and watch p_k = p_0 P^k converge to the stationary distribution."""

    DEFAULT = np.array([[0.9, 0.075, 0.025], [0.15, 0.8, 0.05], [0.25, 0.25, 0.5]])
    STEPS = 40

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        n = len(self.DEFAULT)
        self.table = QTableWidget(n, n)
        self.table.setHorizontalHeaderLabels([f"to {k}" for k in range(n)])
        self.table.setVerticalHeaderLabels([f"from {k}" for k in range(n)])
        self.table.setToolTip("Transition probabilities; each row is rescaled to sum to 1")
        self.table.setMaximumWidth(300)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setMaximumHeight(self.table.horizontalHeader().sizeHint().height() + n * 30 + 4)
        self.start_combo = QComboBox()
        for k in range(n):
            self.start_combo.addItem(f"start in state {k}", k)
        self.reset_button = QPushButton("Reset matrix")
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.plot = plot_widget("p_k(state) = (p_0 P^k)(state); dashed: stationary pi")
        self.plot.setLabel("bottom", "step k")
        self.plot.addLegend(offset=(-10, 5), colCount=3)  # one row, top right: the curves start top left and settle lower
        colours = [(40, 110, 200), (220, 90, 40), (60, 160, 80)]
        self.curves = [self.plot.plot(pen=pg.mkPen(c, width=2), name=f"state {k}") for k, c in enumerate(colours)]
        self.stationary_lines = [pg.InfiniteLine(angle=0, pen=pg.mkPen(c, width=1, style=Qt.PenStyle.DashLine)) for c in colours]
        for line in self.stationary_lines:
            self.plot.addItem(line)
        left = QVBoxLayout()
        explain = QLabel(
            "The forward process is a Markov chain too: each step forgets a little of where it started, and "
            "q(x_t | x_0) converges to N(0, I) whatever x_0 was. Here a 3-state chain does the same."
        )
        explain.setWordWrap(True)
        explain.setMaximumWidth(300)
        left.addWidget(explain)
        left.addWidget(self.table)
        left.addWidget(self.start_combo)
        left.addWidget(self.reset_button)
        left.addWidget(self.result)
        left.addStretch(1)
        lay = QHBoxLayout(self)
        lay.addLayout(left)
        lay.addWidget(self.plot, 1)
        self.reset_button.clicked.connect(self.reset)
        self.table.itemChanged.connect(lambda _: self.update_chain())
        self.start_combo.currentIndexChanged.connect(lambda _: self.update_chain())
        self.reset()

    def reset(self) -> None:
        self.set_matrix(self.DEFAULT)

    def set_matrix(self, P: np.ndarray) -> None:
        self.table.blockSignals(True)
        for i in range(P.shape[0]):
            for j in range(P.shape[1]):
                self.table.setItem(i, j, QTableWidgetItem(f"{P[i, j]:.3g}"))
        self.table.blockSignals(False)
        self.update_chain()

    def matrix(self) -> np.ndarray | None:
        """The edited matrix with rows normalised, or None (with the reason shown) when an entry is invalid."""
        n = self.table.rowCount()
        P = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                item = self.table.item(i, j)
                try:
                    P[i, j] = float(item.text()) if item is not None else 0.0
                except ValueError:
                    self.result.setText(f"entry ({i}, {j}) is not a number: '{item.text()}'")
                    return None
        if (P < 0).any():
            self.result.setText("probabilities cannot be negative")
            return None
        sums = P.sum(1, keepdims=True)
        if (sums <= 0).any():
            self.result.setText("every row needs a positive entry")
            return None
        return P / sums

    def update_chain(self) -> None:
        P = self.matrix()
        if P is None:
            return
        p = np.zeros(len(P))
        p[self.start_combo.currentData() or 0] = 1.0
        history = [p]
        for _ in range(self.STEPS):
            p = p @ P
            history.append(p)
        h = np.stack(history)
        for k, curve in enumerate(self.curves):
            curve.setData(np.arange(len(h)), h[:, k])
        pi = stationary_distribution(P)
        if pi is None:
            for line in self.stationary_lines:
                line.hide()
            self.result.setText("this chain has no unique stationary distribution (it is reducible): where it ends depends on where it starts")
            return
        for line, v in zip(self.stationary_lines, pi):
            line.setValue(float(v))
            line.show()
        tv = 0.5 * np.abs(h[-1] - pi).sum()
        self.result.setText(
            "stationary pi = (" + ", ".join(f"{v:.3f}" for v in pi) + f")\ntotal variation to pi after {self.STEPS} steps: {tv:.2e}"
        )
