"""The Data dock fits its height (the class histogram was cut at 1920x1080), and on a short screen a run put on
screen collapses the bottom docks, once, so the centre gets their height."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QScrollArea

from genstudio.core.spec import RunSpec


def _toy_run(out):
    from genstudio.core import engine

    spec = RunSpec.create("toy", "moons", {"steps": 10, "log_every": 2, "sample_every": 5, "eval_every": 0}, {}, {"n_points": 300})
    events = list(engine.train(spec, out))
    assert events[-1].status == "completed"
    return out


def test_the_data_dock_shows_the_histogram_without_scrolling_at_1920x1080(qtbot, settings, tmp_path, monkeypatch):
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 0)  # the wide layout, as on a 1920x1080 screen
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1766, 993)  # the window it opens at on 1920x1080
    w.show()
    qtbot.waitExposed(w)
    panel = w.dataset_panel
    panel.select("mnist5k")
    qtbot.waitUntil(panel.is_usable, timeout=60_000)
    qtbot.wait(50)
    QApplication.processEvents()
    area = w.data_dock.widget()
    assert isinstance(area, QScrollArea)
    view = area.viewport()
    # It fits: no scrolling, and the histogram and the problems line lie inside the view.
    assert area.verticalScrollBar().maximum() == 0, (area.widget().height(), view.height())
    for widget in (panel.histogram, panel.problems_label):
        bottom = widget.mapTo(view, widget.rect().bottomLeft()).y()
        assert widget.isVisible() and bottom <= view.height(), (type(widget).__name__, bottom, view.height())
    # The grid is as tall as its picture at the dock's width, not stretched into bands above and below it.
    image = panel.image_view.image()
    expected = panel.preview.width() * image.height() / image.width()
    assert panel.preview.height() <= expected + 1, (panel.preview.height(), expected)
    assert panel.image_view.target_rect().top() <= 1
    w.shutdown(30_000)


def test_the_data_dock_fits_a_laptop_screen_before_any_run(qtbot, settings, tmp_path, monkeypatch):
    """At 1366x768 on first launch (Data and Model docks tabbed, the Start page below) the Data dock scrolled
    56 px, "No problems" below the fold: an empty status line kept its row and the grid asked 200 px."""
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 10_000)  # the compact layout, as on a 1366x768 screen
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1350, 728)  # the window it opens at on 1366x768
    w.show()
    qtbot.waitExposed(w)
    panel = w.dataset_panel
    qtbot.waitUntil(panel.is_usable, timeout=60_000)
    qtbot.wait(50)
    QApplication.processEvents()
    assert w.start_dock.isVisible() and not w.start_dock.is_collapsed()  # the first launch's layout
    area = w.data_dock.widget()
    view = area.viewport()
    assert not panel.state_label.isVisible()  # nothing to say once loaded: no empty row
    assert area.verticalScrollBar().maximum() == 0, (area.widget().minimumSizeHint().height(), view.height())
    bottom = panel.problems_label.mapTo(view, panel.problems_label.rect().bottomLeft()).y()
    assert panel.problems_label.isVisible() and bottom <= view.height(), (bottom, view.height())
    w.shutdown(30_000)


def test_the_preview_of_points_is_a_square_at_most(window, qtbot):
    panel = window.dataset_panel
    panel.select("moons")
    qtbot.waitUntil(lambda: panel.is_usable() and panel.dataset_id() == "moons", timeout=30_000)
    qtbot.wait(50)
    QApplication.processEvents()
    assert panel.preview.currentWidget() is panel.scatter
    assert panel.preview.height() <= max(panel.preview.width(), panel.preview.minimumHeight())


@pytest.fixture
def short_window(qtbot, settings, tmp_path, monkeypatch):
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "SHORT_BELOW", 10_000)  # every screen is short (a 1366x768 laptop)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1350, 728)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown(30_000)


def test_on_a_short_screen_an_opened_run_collapses_the_runs_dock_once(short_window, qtbot, tmp_path):
    w = short_window
    first, second = _toy_run(tmp_path / "runs" / "a"), _toy_run(tmp_path / "runs" / "b")
    w.runs_browser.refresh()
    qtbot.wait(50)
    QApplication.processEvents()
    centre = w.centralWidget().height()
    w.runs_browser._open_row(0)
    assert w.shown_run in (first, second)
    qtbot.waitUntil(lambda: w.runs_dock.height() <= 40, timeout=5_000)
    assert w.runs_dock.is_collapsed() and w.start_dock.is_collapsed()
    QApplication.processEvents()
    assert w.centralWidget().height() >= centre + 60, (centre, w.centralWidget().height())
    # The Data dock, taller now, holds the whole data view: sized by its minimum height, not by the height its
    # wrapped labels prefer at this width (that scrolled it whenever the view was shorter than ~620 px).
    area = w.data_dock.widget()
    assert area.viewport().height() >= area.widget().minimumSizeHint().height()
    assert area.verticalScrollBar().maximum() == 0, (area.widget().height(), area.viewport().height())
    # The user opens the list again to pick another run: it stays open this time.
    w.set_dock_collapsed(w.runs_dock, False)
    qtbot.waitUntil(lambda: w.runs_dock.height() > 60, timeout=5_000)
    w.runs_browser._open_row(1)
    qtbot.wait(50)
    QApplication.processEvents()
    assert not w.runs_dock.is_collapsed() and w.runs_dock.widget().isVisible()


def test_on_a_tall_screen_the_runs_dock_stays(window, qtbot, tmp_path, monkeypatch):
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "SHORT_BELOW", 0)
    run = _toy_run(tmp_path / "runs" / "a")
    assert window.open_run(run)
    qtbot.wait(50)
    assert not window.runs_dock.is_collapsed() and window.runs_dock.widget().isVisible()
