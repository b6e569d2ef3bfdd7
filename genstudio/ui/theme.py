"""Light and dark themes as QPalettes on the Fusion style (plots follow the palette)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("light", "dark")


def dark_palette() -> QPalette:
    p = QPalette()
    c = QColor
    role = QPalette.ColorRole
    p.setColor(role.Window, c(45, 45, 48))
    p.setColor(role.WindowText, c(220, 220, 220))
    p.setColor(role.Base, c(30, 30, 32))
    p.setColor(role.AlternateBase, c(50, 50, 54))
    p.setColor(role.ToolTipBase, c(60, 60, 64))
    p.setColor(role.ToolTipText, c(230, 230, 230))
    p.setColor(role.PlaceholderText, c(140, 140, 140))
    p.setColor(role.Text, c(220, 220, 220))
    p.setColor(role.Button, c(55, 55, 58))
    p.setColor(role.ButtonText, c(220, 220, 220))
    p.setColor(role.BrightText, c(255, 80, 80))
    p.setColor(role.Link, c(90, 160, 255))
    p.setColor(role.Highlight, c(42, 130, 218))
    p.setColor(role.HighlightedText, c(255, 255, 255))
    for r in (role.Text, role.ButtonText, role.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, r, c(120, 120, 120))
    return p


def light_palette() -> QPalette:
    p = QPalette()
    c = QColor
    role = QPalette.ColorRole
    p.setColor(role.Window, c(240, 240, 240))
    p.setColor(role.WindowText, c(20, 20, 20))
    p.setColor(role.Base, c(255, 255, 255))
    p.setColor(role.AlternateBase, c(245, 245, 245))
    p.setColor(role.ToolTipBase, c(255, 255, 220))
    p.setColor(role.ToolTipText, c(20, 20, 20))
    p.setColor(role.PlaceholderText, c(130, 130, 130))
    p.setColor(role.Text, c(20, 20, 20))
    p.setColor(role.Button, c(235, 235, 235))
    p.setColor(role.ButtonText, c(20, 20, 20))
    p.setColor(role.BrightText, c(200, 0, 0))
    p.setColor(role.Link, c(0, 90, 200))
    p.setColor(role.Highlight, c(48, 120, 210))
    p.setColor(role.HighlightedText, c(255, 255, 255))
    for r in (role.Text, role.ButtonText, role.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, r, c(150, 150, 150))
    return p


def apply_theme(app: QApplication, name: str) -> str:
    name = name if name in THEMES else "light"
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if name == "dark" else light_palette())
    return name
