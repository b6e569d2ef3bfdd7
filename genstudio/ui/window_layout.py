"""The window's docks and geometry: fitting the screen, the compact dock column, dock sizes, docks collapsed to a strip, the theme, saved state."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget, QScrollArea, QTabBar, QTabWidget, QWidget

from genstudio.core.recipes import load_recipes

from .dock_strip import StripDock
from .panels.controls import fitted
from .theme import apply_theme

SETTINGS_VERSION = 1


def _scrolled(w: QWidget) -> QScrollArea:
    """A dock's scroll area: it sizes ``w`` by its minimum height, not by the height its word-wrapped labels
    prefer at the dock's width (that made the Data dock 853 px tall in a 761 px view at 1920x1080, so the
    class histogram was cut at the bottom with room to spare)."""
    area = QScrollArea()
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(w.minimumSizeHint().width() + 20)
    area.setWidget(fitted(w))
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class WindowLayoutMixin:
    """Docks, geometry and saved state of MainWindow (a mixin: it uses the window's docks and panels)."""

    #: Below this screen width the Data and Model docks share one column (tabbed), so the centre
    #: (curves, samples, lab tabs) keeps about 900 px on a 1366x768 laptop instead of 630.
    COMPACT_BELOW = 1600

    def _compact_docks(self) -> bool:
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None or screen.availableGeometry().width() >= self.COMPACT_BELOW:
            return False
        self.tabifyDockWidget(self.data_dock, self.model_dock)
        self.data_dock.raise_()
        return True

    def _fit_to_screen(self) -> None:
        """Open at a size that fits the screen the window is on (a 1366x768 laptop included).

        At least 1500x950 and 92 % of a larger screen; on a smaller screen the window
        takes the available area less a margin for the frame, and the panels scroll
        or elide instead of pushing the window past the screen.
        """
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(1500, 950)
            return
        avail = screen.availableGeometry()
        # A large screen gives the window most of itself (the centre needs the width); a small one all of it.
        w = min(max(1500, int(avail.width() * 0.92)), avail.width() - 16)
        h = min(max(950, int(avail.height() * 0.92)), avail.height() - 40)
        self.resize(max(640, w), max(480, h))
        self.move(avail.x() + (avail.width() - self.width()) // 2, avail.y() + max(0, (avail.height() - self.height() - 30) // 2))

    def _dock(self, title: str, name: str, widget: QWidget, area) -> StripDock:
        d = StripDock(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        d.toggleRequested.connect(lambda d=d: self.set_dock_collapsed(d, not d.is_collapsed()))
        self.addDockWidget(area, d)
        return d

    # -- docks collapsed to a strip ------------------------------------------------------------
    def _all_docks(self) -> list[StripDock]:
        return [d for d in self.findChildren(StripDock) if d.parent() is self]

    def set_dock_collapsed(self, dock: StripDock, collapsed: bool) -> None:
        """Collapse a dock to a strip (the centre takes its room) or expand it to the size it had.

        Docks tabbed with it collapse too: they share one column, which can only
        be as narrow as its widest member.
        """
        if dock.isFloating():
            return
        group = [dock] + [d for d in self.tabifiedDockWidgets(dock) if isinstance(d, StripDock)]
        for d in group:
            d.set_collapsed(collapsed)
        area = self.dockWidgetArea(dock)
        if len(group) > 1 and dock.strip_is_vertical():
            # A collapsed column's tabs stand on their side along its edge instead of needing its width.
            side = QTabWidget.TabPosition.West if area == Qt.DockWidgetArea.LeftDockWidgetArea else QTabWidget.TabPosition.East
            self.setTabPosition(area, side if collapsed else QTabWidget.TabPosition.South)
        QTimer.singleShot(0, self, self._hide_stray_tab_bars)  # the window as context: dropped if it is gone
        if not collapsed:
            vertical = dock.strip_is_vertical()
            size = dock.expanded_size or (380 if vertical else 160)
            orientation = Qt.Orientation.Horizontal if vertical else Qt.Orientation.Vertical
            # The layout takes the lifted maximum on its next pass; size the dock after it.
            QTimer.singleShot(0, self, lambda: self.resizeDocks([dock], [size], orientation))

    def _hide_stray_tab_bars(self) -> None:
        """Hide the dock tab bars Qt left behind a dock (a collapsed column would show them).

        Tabbing two dock groups (Runs + Start, then Data + Model) leaves a second,
        unused tab bar for the second group, parked under its docks (seen with
        PySide6 6.x). A tab bar in use sits beside its docks; one that overlaps a
        docked dock widget is the stale one.
        """
        docked = [d.geometry() for d in self._all_docks() if d.isVisible() and not d.isFloating()]
        for bar in self.findChildren(QTabBar):
            if bar.parent() is self and bar.isVisible() and any(bar.geometry().intersects(g) for g in docked):
                bar.hide()

    def collapsed_docks(self) -> list[str]:
        return sorted(d.objectName() for d in self._all_docks() if d.is_collapsed())

    def _save_collapsed(self, s) -> None:
        s.setValue("window/collapsed_docks", ",".join(self.collapsed_docks()))
        for d in self._all_docks():
            if d.expanded_size:
                s.setValue(f"window/expanded_size/{d.objectName()}", d.expanded_size)

    def _restore_collapsed(self, s) -> None:
        names = {n for n in str(s.value("window/collapsed_docks", "") or "").split(",") if n}
        for d in self._all_docks():
            if d.objectName() in names and not d.is_collapsed():
                self.set_dock_collapsed(d, True)
        for d in self._all_docks():
            try:
                size = int(s.value(f"window/expanded_size/{d.objectName()}", 0) or 0)
            except (TypeError, ValueError):
                size = 0
            if size > 0:
                d.expanded_size = size

    def _reset_layout(self) -> None:
        for d in self._all_docks():
            d.set_collapsed(False)
        for area in (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea):
            self.setTabPosition(area, QTabWidget.TabPosition.South)
        self.restoreState(self._default_state, SETTINGS_VERSION)
        for d in (self.data_dock, self.model_dock, self.runs_dock, self.start_dock):
            d.show()
        self._default_dock_sizes()

    # -- theme ----------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        self.theme = apply_theme(app, name)
        if self.theme in self.theme_actions:
            self.theme_actions[self.theme].setChecked(True)
        self.training_view.curves.restyle()
        self.training_view.samples.restyle()
        from .widgets import style_plot

        style_plot(self.dataset_panel.scatter)
        style_plot(self.dataset_panel.histogram)
        if self.compare_dock is not None:
            self.compare_dock.widget().restyle()

    # -- saved state -------------------------------------------------------------------------------
    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(SETTINGS_VERSION))
        self._save_collapsed(s)
        s.setValue("window/theme", self.theme)
        s.setValue("curves/smoothing", self.training_view.curves.smoothing.value())
        s.setValue("curves/log_y", self.training_view.curves.log_y.isChecked())
        self.dataset_panel.save_settings(s)
        self.model_panel.save_settings(s)
        self.runs_browser.save_settings(s)
        s.sync()

    def restore_settings(self, runs_root_given: bool = False) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self._layout_restored = self.restoreState(state, SETTINGS_VERSION)
        self._restore_collapsed(s)
        self.set_theme(str(s.value("window/theme", "light")))
        try:
            self.training_view.curves.smoothing.setValue(int(s.value("curves/smoothing", 60)))
        except (TypeError, ValueError):
            pass
        self.training_view.curves.log_y.setChecked(str(s.value("curves/log_y", "false")).lower() == "true")
        if not runs_root_given:
            self.runs_browser.restore_settings(s)
        had_model = self.model_panel.restore_settings(s, dataset_id=str(s.value("dataset/id", "") or ""))
        had_data = self.dataset_panel.restore_settings(s)
        if not had_model and not had_data:
            # The first launch: a recipe that trains in minutes (recipes.toml's first_launch), and the Start page in front.
            first = load_recipes().first()
            if first is not None:
                self.apply_recipe(first)
                self._pending_tab = None  # the first launch stays on Training until the user asks
            self.start_dock.raise_()
        elif not had_data:
            self.dataset_panel.reload()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._layout_restored:
            # First launch: docks get room for their previews (resizeDocks needs a laid-out window).
            self._layout_restored = True
            QTimer.singleShot(0, self._default_dock_sizes)
        QTimer.singleShot(0, self, self._hide_stray_tab_bars)

    #: Below this available screen height (a 1366x768 laptop: 728), a run put on screen collapses the bottom
    #: docks to their bar: their smallest list still took ~160 px of the centre's ~520.
    SHORT_BELOW = 900

    def _centre_room(self) -> None:
        """A run is on screen: the bottom dock gives its height back to the curves and lab tabs.

        The Start page's recipe cards are for choosing a run, not for watching one;
        the Runs list (behind the same tab) is raised and the strip shrinks to its minimum.
        On a short screen the bottom docks collapse to their bar, once: a user who
        expands them again keeps them open for the next run opened.
        """
        if self.start_dock in self.tabifiedDockWidgets(self.runs_dock):
            self.runs_dock.raise_()
        if self.runs_dock.isFloating() or self.runs_dock.is_collapsed():
            return
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None and screen.availableGeometry().height() < self.SHORT_BELOW and not getattr(self, "_bottom_collapsed_once", False):
            self._bottom_collapsed_once = True
            self.set_dock_collapsed(self.runs_dock, True)
            return
        self.resizeDocks([self.runs_dock], [self.runs_dock.minimumSizeHint().height()], Qt.Orientation.Vertical)

    #: The Data dock's width while a run trains and it shows its strip of examples.
    DATA_STRIP_WIDTH = 240

    def _data_strip(self, training: bool) -> None:
        """A run trains: the Data dock shows a strip of examples and narrows, so the centre gets the room.

        When no run trains, the full view (grid, histogram, problems) and the
        dock's width return. A Data dock that shares its column (tabbed, the
        laptop layout), floats or is collapsed keeps its width.
        """
        self.dataset_panel.set_compact(training)
        d, area = self.data_dock, self.data_dock.widget()
        full = getattr(self, "_data_full_width", 0)
        if not training and full:
            area.setMinimumWidth(self._data_min_width)
            self._data_full_width = 0
            if d.is_collapsed():
                d.expanded_size = full  # collapsed during the run: expanding gives the full view its width back
        alone = not d.isFloating() and not d.is_collapsed() and not any(t.isVisible() for t in self.tabifiedDockWidgets(d))
        if not alone:
            return
        if training and d.width() > self.DATA_STRIP_WIDTH:
            self._data_full_width, self._data_min_width = d.width(), area.minimumWidth()
            area.setMinimumWidth(min(self._data_min_width, self.DATA_STRIP_WIDTH))  # the form's width is not needed by the strip
            self.resizeDocks([d], [self.DATA_STRIP_WIDTH], Qt.Orientation.Horizontal)
        elif not training and full:
            self.resizeDocks([d], [full], Qt.Orientation.Horizontal)

    def _default_dock_sizes(self) -> None:
        if self._compact:
            self.resizeDocks([self.data_dock], [400], Qt.Orientation.Horizontal)
        else:
            self.resizeDocks([self.data_dock, self.model_dock], [380, 360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.runs_dock], [160], Qt.Orientation.Vertical)
