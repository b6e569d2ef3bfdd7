"""A lab panel in its scroll area fills the view and scrolls only when it cannot fit.

A panel with a word-wrapped label has height-for-width, and a resizable scroll
area then sizes it by its layout's *preferred* height (its plots' size hints):
the GAN tab came out 1,574 px tall in a 430 px view at 1366x768, so every lab
tab scrolled with its plots stretched. The training view's holder sizes it by
its minimum height instead.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication, QLabel, QScrollArea, QVBoxLayout, QWidget


def _panel() -> QWidget:
    panel = QWidget()
    lay = QVBoxLayout(panel)
    status = QLabel("A status line long enough to wrap when the panel is narrow, as the lab panels' are. " * 3)
    status.setWordWrap(True)
    lay.addWidget(status)
    for _ in range(3):
        lay.addWidget(pg.PlotWidget(), 1)  # a plot prefers 640 x 480
    return panel


def _shown(qtbot, content: QWidget, panel: QWidget) -> tuple[QScrollArea, QWidget]:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(content)
    qtbot.addWidget(area)
    area.resize(900, 430)
    area.show()
    QApplication.processEvents()
    return area, panel


def test_a_panel_with_wrapped_text_fills_its_view_instead_of_its_preferred_height(qtbot):
    from genstudio.ui.panels.controls import fitted

    panel = _panel()
    area, _ = _shown(qtbot, fitted(panel), panel)
    assert panel.minimumSizeHint().height() < area.viewport().height()
    assert panel.height() <= area.viewport().height() and not area.verticalScrollBar().isVisible()
    assert panel.height() >= area.viewport().height() - 2  # it fills the view
    # The same panel set straight into the scroll area (as before) is sized by its preferred height: it scrolls.
    plain = _panel()
    area, _ = _shown(qtbot, plain, plain)
    assert plain.height() > 2 * area.viewport().height() and area.verticalScrollBar().isVisible()
