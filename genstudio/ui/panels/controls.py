"""Small layout helpers the lab panels share."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QScrollArea, QVBoxLayout, QWidget


def tool_row(*items: QWidget | str) -> QHBoxLayout:
    """A row of controls, a string becoming its label, packed to the left."""
    row = QHBoxLayout()
    for it in items:
        row.addWidget(QLabel(it) if isinstance(it, str) else it)
    row.addStretch(1)
    return row


class MinimumHeightLayout(QVBoxLayout):
    """A layout that reports no height-for-width, so that a scroll area sizes its content by its minimum height.

    A panel with a word-wrapped label has height-for-width; a resizable scroll area then gives it the
    height its layout *prefers* at that width (the plots' size hints: 1,574 px for the GAN tab on a 430 px
    high view at 1366x768), so every lab tab scrolled and its plots were stretched taller than the screen.
    Sized by its minimum instead, a panel fills the view and scrolls only when it cannot fit.
    """

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt naming)
        return False


def fitted(panel: QWidget) -> QWidget:
    """``panel`` in a box its scroll area sizes by the panel's minimum height (see :class:`MinimumHeightLayout`)."""
    box = QWidget()
    lay = MinimumHeightLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(panel)
    return box


def scrolled(panel: QWidget) -> QScrollArea:
    """``panel`` in a frameless scroll area that it fills, scrolling only below its minimum size."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    area.setWidget(fitted(panel))
    return area
