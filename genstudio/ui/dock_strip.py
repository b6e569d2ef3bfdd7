"""Docks that collapse to a strip, so the centre (curves, samples, lab tabs) gets the room.

A :class:`StripDock` has its own title bar: a collapse button, the title, and
the float and close buttons the native bar had. Collapsed, a dock on the left
or right becomes a thin vertical strip that shows its name (the title bar
turned on its side, Qt's ``DockWidgetVerticalTitleBar``), and a dock at the
top or bottom becomes its title bar alone; one click on the strip's button (or
its name) expands it again to the size it had. The window decides which docks
collapse together (docks tabbed into one column share it) and remembers the
state with its layout (``window_layout.py``).
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QBoxLayout, QDockWidget, QLabel, QMainWindow, QSizePolicy, QStyle, QToolButton, QVBoxLayout, QWidget

#: Qt's QWIDGETSIZE_MAX: "no maximum" for setMaximumWidth / setMaximumHeight.
NO_MAX = 16777215


class VerticalLabel(QWidget):
    """A dock's name written top to bottom, for the collapsed strip; a click expands the dock."""

    clicked = Signal()

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._text = text
        self.setToolTip(text)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming, like QLabel
        self._text = text
        self.setToolTip(text)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        fm = self.fontMetrics()
        return QSize(fm.height() + 6, fm.horizontalAdvance(self._text) + 12)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return self.sizeHint()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setPen(self.palette().windowText().color())
        # Turned a quarter clockwise: read from top to bottom, as the vertical tab bars of IDEs do.
        p.translate(self.width(), 0)
        p.rotate(90)
        p.drawText(6, 0, self.height() - 6, self.width(), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self._text)
        p.end()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.clicked.emit()
            event.accept()
            return
        super().mouseReleaseEvent(event)


class DockTitleBar(QWidget):
    """[collapse] title ... [float] [close]; on its side (button over the name) while the dock is a strip.

    Mouse presses it does not handle are ignored, so the dock still moves
    when its title is dragged and floats when it is double-clicked.
    """

    def __init__(self, dock: "StripDock"):
        super().__init__(dock)
        self.dock = dock
        self.collapse_button = QToolButton(self)
        self.collapse_button.setObjectName("dock_collapse")
        self.collapse_button.setAutoRaise(True)
        self.collapse_button.clicked.connect(dock.toggleRequested)
        self.title = QLabel(dock.windowTitle(), self)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.vertical_title = VerticalLabel(dock.windowTitle(), self)
        self.vertical_title.clicked.connect(dock.toggleRequested)
        self.vertical_title.hide()
        style = self.style()
        self.float_button = QToolButton(self)
        self.float_button.setAutoRaise(True)
        self.float_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarNormalButton))
        self.float_button.setToolTip("Float or dock again")
        self.float_button.clicked.connect(lambda: dock.setFloating(not dock.isFloating()))
        self.close_button = QToolButton(self)
        self.close_button.setAutoRaise(True)
        self.close_button.setIcon(style.standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton))
        self.close_button.setToolTip("Close (the View menu shows it again)")
        self.close_button.clicked.connect(dock.close)
        self._layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)
        self._layout.setContentsMargins(4, 1, 2, 1)
        self._layout.setSpacing(2)
        self._layout.addWidget(self.collapse_button)
        self._layout.addWidget(self.title, 1)
        self._layout.addWidget(self.vertical_title, 1)  # the whole strip below the button is its name, and a click expands
        self._layout.addWidget(self.float_button)
        self._layout.addWidget(self.close_button)
        dock.windowTitleChanged.connect(self._retitle)
        self.update_state()

    def _retitle(self, text: str) -> None:
        self.title.setText(text)
        self.vertical_title.setText(text)

    def update_state(self) -> None:
        """Follow the dock: collapsed or not, a vertical strip or not, floating or not."""
        d = self.dock
        vertical = d.is_collapsed() and d.strip_is_vertical()
        self._layout.setDirection(QBoxLayout.Direction.TopToBottom if vertical else QBoxLayout.Direction.LeftToRight)
        self._layout.setContentsMargins(1, 4, 1, 2) if vertical else self._layout.setContentsMargins(4, 1, 2, 1)
        self.title.setVisible(not vertical)
        self.vertical_title.setVisible(vertical)
        self.float_button.setVisible(not d.is_collapsed() and bool(d.features() & QDockWidget.DockWidgetFeature.DockWidgetFloatable))
        self.close_button.setVisible(not d.is_collapsed() and bool(d.features() & QDockWidget.DockWidgetFeature.DockWidgetClosable))
        # Floating, a dock has its own window to shrink: collapsing is for docks beside the centre.
        self.collapse_button.setEnabled(not d.isFloating())
        if d.is_collapsed():
            arrow = {
                Qt.DockWidgetArea.LeftDockWidgetArea: Qt.ArrowType.RightArrow,
                Qt.DockWidgetArea.RightDockWidgetArea: Qt.ArrowType.LeftArrow,
                Qt.DockWidgetArea.TopDockWidgetArea: Qt.ArrowType.DownArrow,
            }.get(d.area(), Qt.ArrowType.UpArrow)
            self.collapse_button.setToolTip(f"Expand {d.windowTitle()}")
        else:
            arrow = {
                Qt.DockWidgetArea.LeftDockWidgetArea: Qt.ArrowType.LeftArrow,
                Qt.DockWidgetArea.RightDockWidgetArea: Qt.ArrowType.RightArrow,
                Qt.DockWidgetArea.TopDockWidgetArea: Qt.ArrowType.UpArrow,
            }.get(d.area(), Qt.ArrowType.DownArrow)
            self.collapse_button.setToolTip(f"Collapse {d.windowTitle()} to a strip (gives the centre its room)")
        self.collapse_button.setArrowType(arrow)
        self.vertical_title.setToolTip(f"{d.windowTitle()}: click to expand")
        self.updateGeometry()


class StripDock(QDockWidget):
    """A dock widget that collapses to a strip and expands back to its size.

    ``toggleRequested`` is emitted by the strip's button; the window answers it
    (it collapses the docks tabbed with this one too). :meth:`set_collapsed`
    does the work for this dock alone.
    """

    toggleRequested = Signal()
    collapsedChanged = Signal(bool)

    def __init__(self, title: str, parent: QMainWindow):
        super().__init__(title, parent)
        self._window = parent
        self._content: QWidget | None = None
        self._collapsed = False
        self.expanded_size = 0  # width (side docks) or height (top / bottom) before collapsing; 0: not known
        self.title_bar = DockTitleBar(self)
        self.setTitleBarWidget(self.title_bar)
        self.dockLocationChanged.connect(lambda _area: self._apply())
        self.topLevelChanged.connect(self._on_floating)
        self.featuresChanged.connect(lambda _f: self.title_bar.update_state())

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 - Qt's name
        """Hold ``widget`` in a holder: collapsed, the holder stays (empty, without a maximum size).

        Hidden outright, the content would take the dock's maximum size down to
        its title bar's in both directions, and a collapsed bottom dock would
        shrink to a button's width instead of spanning the window.
        """
        holder = QWidget(self)
        lay = QVBoxLayout(holder)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(widget)
        self._content = widget
        super().setWidget(holder)

    def widget(self) -> QWidget | None:
        """The content given to :meth:`setWidget` (not its holder)."""
        return self._content

    def area(self) -> Qt.DockWidgetArea:
        return self._window.dockWidgetArea(self)

    def strip_is_vertical(self) -> bool:
        """A collapsed dock beside the centre (left or right) is a vertical strip; above or below it, a bar."""
        return self.area() in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea)

    def is_collapsed(self) -> bool:
        return self._collapsed

    def set_collapsed(self, collapsed: bool) -> None:
        if collapsed and self.isFloating():
            return
        if collapsed == self._collapsed:
            return
        if collapsed:
            w = self.width() if self.strip_is_vertical() else self.height()
            if w > 60:  # a dock not laid out yet (or already tiny) keeps the size it had
                self.expanded_size = w
        self._collapsed = collapsed
        self._apply()
        self.collapsedChanged.emit(collapsed)

    def _apply(self) -> None:
        """Show the content or the strip, for the area the dock is in now."""
        content = self.widget()
        vertical = self._collapsed and self.strip_is_vertical()
        feats = self.features()
        vert_flag = QDockWidget.DockWidgetFeature.DockWidgetVerticalTitleBar
        if vertical != bool(feats & vert_flag):
            self.setFeatures(feats | vert_flag if vertical else feats & ~vert_flag)
        if content is not None:
            content.setVisible(not self._collapsed)
        self.title_bar.update_state()
        self.setMaximumSize(NO_MAX, NO_MAX)
        if self._collapsed:
            hint = self.title_bar.sizeHint()
            if vertical:
                self.setMaximumWidth(hint.width())
            else:
                self.setMaximumHeight(hint.height())

    def _on_floating(self, floating: bool) -> None:
        if floating and self._collapsed:
            self.set_collapsed(False)  # a floating strip would be a window with nothing in it
        self.title_bar.update_state()
