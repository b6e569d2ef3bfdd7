"""Small layout helpers the lab panels share."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget


def tool_row(*items: QWidget | str) -> QHBoxLayout:
    """A row of controls, a string becoming its label, packed to the left."""
    row = QHBoxLayout()
    for it in items:
        row.addWidget(QLabel(it) if isinstance(it, str) else it)
    row.addStretch(1)
    return row
