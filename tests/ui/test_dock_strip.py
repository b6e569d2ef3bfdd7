"""Docks collapse to a strip and expand again with one click; the state is kept with the layout.

Geometric checks on the offscreen platform (its screen is 800x800, so the
window opens in the laptop layout, Data and Model tabbed into one column,
unless a test asks for the wide layout).
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QTabBar

STRIP = 40  # pixels: a collapsed dock is at most this thick


def settle(qtbot, ms: int = 50) -> None:
    qtbot.wait(ms)
    QApplication.processEvents()


def idle(qtbot, w) -> None:
    """Wait for the window's background jobs (the data load, the step-time estimate) before closing it."""
    qtbot.waitUntil(lambda: not w.dataset_panel.is_loading() and not w.estimator.busy(), timeout=60_000)


@pytest.fixture
def wide_window(qtbot, settings, tmp_path, monkeypatch):
    """The wide layout (Data left, Model right, not tabbed), as on a 1920x1080 screen."""
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 0)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1600, 900)
    w.show()
    qtbot.waitExposed(w)
    settle(qtbot, 100)
    yield w
    w.shutdown(30_000)


def test_a_side_dock_collapses_to_a_named_strip_and_the_centre_takes_its_room(wide_window, qtbot):
    w = wide_window
    centre = w.centralWidget()
    before_centre, before_data, before_model = centre.width(), w.data_dock.width(), w.model_dock.width()
    assert before_data > 200
    qtbot.mouseClick(w.data_dock.title_bar.collapse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.data_dock.width() <= STRIP, timeout=5_000)
    settle(qtbot)
    assert w.data_dock.is_collapsed() and not w.data_dock.widget().isVisible()
    strip = w.data_dock.title_bar.vertical_title
    assert strip.isVisible() and strip.text() == "Data" and strip.height() > strip.width()  # the name, on its side
    assert centre.width() >= before_centre + before_data - STRIP - 10
    assert not w.model_dock.is_collapsed() and abs(w.model_dock.width() - before_model) <= 2  # only the Data dock
    # One click on the strip's button expands it to the width it had.
    qtbot.mouseClick(w.data_dock.title_bar.collapse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(w.data_dock.width() - before_data) <= 2, timeout=5_000)
    assert w.data_dock.widget().isVisible() and not w.data_dock.title_bar.vertical_title.isVisible()
    assert abs(centre.width() - before_centre) <= 2


def test_clicking_the_strips_name_expands_it_too(wide_window, qtbot):
    w = wide_window
    w.set_dock_collapsed(w.model_dock, True)
    qtbot.waitUntil(lambda: w.model_dock.width() <= STRIP, timeout=5_000)
    qtbot.mouseClick(w.model_dock.title_bar.vertical_title, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.model_dock.width() > 200, timeout=5_000)
    assert not w.model_dock.is_collapsed()


def test_the_bottom_dock_collapses_to_its_title_bar(window, qtbot):
    settle(qtbot, 100)
    centre = window.centralWidget()
    before = centre.height()
    window.set_dock_collapsed(window.runs_dock, True)
    qtbot.waitUntil(lambda: window.runs_dock.height() <= STRIP, timeout=5_000)
    settle(qtbot)
    assert window.start_dock.is_collapsed()  # tabbed with it: they share the strip
    assert centre.height() > before + 40
    assert not window.runs_dock.title_bar.vertical_title.isVisible()  # a bar, not a vertical strip
    shown = next(d for d in (window.runs_dock, window.start_dock) if not d.visibleRegion().isEmpty())
    assert shown.width() >= window.width() - 20  # the bar spans the window, its name readable
    title = shown.title_bar.title
    assert title.isVisible() and title.width() >= title.fontMetrics().horizontalAdvance(shown.windowTitle())
    window.set_dock_collapsed(window.runs_dock, False)
    qtbot.waitUntil(lambda: not window.runs_dock.is_collapsed() and window.runs_dock.widget().isVisible(), timeout=5_000)
    qtbot.waitUntil(lambda: abs(centre.height() - before) <= 4, timeout=5_000)


def test_a_tabbed_column_collapses_as_one_and_no_stale_tab_bar_shows_through(window, qtbot):
    """The laptop layout: Data and Model share a column, so collapsing one collapses both."""
    settle(qtbot, 100)
    assert window.data_dock in window.tabifiedDockWidgets(window.model_dock)
    centre_before = window.centralWidget().width()
    window.set_dock_collapsed(window.data_dock, True)
    qtbot.waitUntil(lambda: window.data_dock.width() <= STRIP, timeout=5_000)
    settle(qtbot)
    assert window.model_dock.is_collapsed()
    assert window.centralWidget().width() > centre_before + 200
    # Every tab bar still showing lies beside the strip, none across the centre.
    centre_left = window.centralWidget().geometry().left()
    for bar in window.findChildren(QTabBar):
        if bar.parent() is window and bar.isVisible() and bar.geometry().top() < window.runs_dock.geometry().top():
            assert bar.geometry().right() < centre_left, bar.geometry()


def test_the_collapsed_state_survives_a_restart_of_the_window(qtbot, settings, tmp_path, monkeypatch):
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 0)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1600, 900)
    w.show()
    qtbot.waitExposed(w)
    settle(qtbot, 100)
    width = w.data_dock.width()
    w.set_dock_collapsed(w.data_dock, True)
    qtbot.waitUntil(lambda: w.data_dock.width() <= STRIP, timeout=5_000)
    idle(qtbot, w)
    w.close()  # saves the layout
    w.shutdown(30_000)
    w2 = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w2)
    try:
        w2.resize(1600, 900)  # the offscreen screen is smaller than the saved geometry: the same size as before
        w2.show()
        qtbot.waitExposed(w2)
        qtbot.waitUntil(lambda: w2.data_dock.width() <= STRIP, timeout=5_000)
        assert w2.collapsed_docks() == ["dock_data"] and not w2.data_dock.widget().isVisible()
        assert not w2.model_dock.is_collapsed()
        # Expanding after the restart gives back the width it had before it was collapsed.
        w2.set_dock_collapsed(w2.data_dock, False)
        qtbot.waitUntil(lambda: abs(w2.data_dock.width() - width) <= 2, timeout=5_000)
        idle(qtbot, w2)
        w2.close()
    finally:
        w2.shutdown(30_000)
    w3 = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w3)
    try:
        w3.resize(1600, 900)
        w3.show()
        settle(qtbot, 100)
        assert w3.collapsed_docks() == []  # expanded before closing: opens expanded
        assert w3.data_dock.width() > 200
    finally:
        w3.shutdown(30_000)


def test_reset_layout_expands_every_dock(wide_window, qtbot):
    w = wide_window
    w.set_dock_collapsed(w.data_dock, True)
    w.set_dock_collapsed(w.runs_dock, True)
    qtbot.waitUntil(lambda: w.data_dock.width() <= STRIP, timeout=5_000)
    w._reset_layout()
    settle(qtbot, 100)
    assert w.collapsed_docks() == []
    assert w.data_dock.widget().isVisible() and w.runs_dock.widget().isVisible()


def test_a_floating_dock_does_not_collapse_and_a_collapsed_one_expands_when_floated(wide_window, qtbot):
    w = wide_window
    w.set_dock_collapsed(w.model_dock, True)
    w.model_dock.setFloating(True)
    settle(qtbot)
    assert not w.model_dock.is_collapsed() and w.model_dock.widget().isVisible()
    assert not w.model_dock.title_bar.collapse_button.isEnabled()
    w.set_dock_collapsed(w.model_dock, True)
    assert not w.model_dock.is_collapsed()


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_with_every_dock_collapsed_nothing_is_cut_or_outside_the_window(qtbot, settings, tmp_path, monkeypatch, size):
    from genstudio.ui.main_window import MainWindow
    from tests.ui.test_layout_fits import layout_problems

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", size[0] + 1 if size[0] < 1600 else 0)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    try:
        w.resize(*size)
        w.show()
        qtbot.waitExposed(w)
        settle(qtbot, 100)
        for d in (w.data_dock, w.model_dock, w.runs_dock):
            w.set_dock_collapsed(d, True)
        qtbot.waitUntil(lambda: w.data_dock.width() <= STRIP and w.model_dock.width() <= STRIP and w.runs_dock.height() <= STRIP, timeout=5_000)
        settle(qtbot)
        assert not layout_problems(w)
        idle(qtbot, w)
    finally:
        w.shutdown(30_000)
