"""While a run trains, the Data dock shows one row of examples instead of its grid and histogram; the full view returns after."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication

from tests.ui.conftest import fast_points_run


@pytest.fixture
def wide_window(qtbot, settings, tmp_path, monkeypatch):
    """The wide layout (the Data dock alone on the left), as on a 1920x1080 screen."""
    from genstudio.ui.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", 0)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(1600, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.shutdown(30_000)


def _train_then_stop(window, qtbot, check_training) -> None:
    assert window.start_training()
    qtbot.waitUntil(lambda: window.session is not None and window.session.step > 0, timeout=60_000)
    QApplication.processEvents()
    check_training()
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    QApplication.processEvents()


def test_an_image_run_shows_a_strip_of_examples_and_gives_the_centre_the_room(wide_window, qtbot):
    w, panel = wide_window, wide_window.dataset_panel
    panel.select("digits")
    w.model_panel.select("toy")
    w.model_panel.run_form.set_values({"steps": 100_000, "batch_size": 16, "log_every": 1, "checkpoint_every": 0, "eval_every": 0, "sample_every": 0})
    qtbot.waitUntil(panel.is_usable, timeout=30_000)
    qtbot.waitUntil(w.act_train.isEnabled, timeout=5_000)
    qtbot.wait(50)
    assert panel.preview.isVisible() and panel.histogram.isVisible() and not panel.strip_view.isVisible()
    full_width, centre_before = w.data_dock.width(), w.centralWidget().width()

    def while_training():
        assert panel.is_compact() and panel.strip_view.isVisible()
        assert not panel.preview.isVisible() and not panel.histogram.isVisible()
        strip = panel.strip_image
        assert strip.isVisible() and strip.has_image() and not panel.strip_scatter.isVisible()
        img = strip.image()
        assert img.width() > 4 * img.height()  # one row of examples
        assert strip.height() <= 80
        assert "1,797" in panel.strip_label.text()  # the summary line stays
        qtbot.waitUntil(lambda: w.data_dock.width() <= w.DATA_STRIP_WIDTH + 40, timeout=5_000)
        assert w.centralWidget().width() > centre_before + 60

    _train_then_stop(w, qtbot, while_training)
    assert not panel.is_compact() and not panel.strip_view.isVisible()
    assert panel.preview.isVisible() and panel.histogram.isVisible()  # as it was
    qtbot.waitUntil(lambda: abs(w.data_dock.width() - full_width) <= 2, timeout=5_000)


def test_a_points_run_shows_a_small_scatter(window, qtbot):
    panel = window.dataset_panel
    fast_points_run(window, qtbot)

    def while_training():
        assert panel.is_compact() and panel.strip_scatter.isVisible() and not panel.strip_image.isVisible()
        assert not panel.scatter.isVisible()
        pts = panel._strip_points.getData()
        assert len(pts[0]) > 100 and np.isfinite(pts[0]).all()

    _train_then_stop(window, qtbot, while_training)
    assert panel.scatter.isVisible() and not panel.strip_view.isVisible()


def test_a_run_that_fails_to_start_leaves_the_full_view(window, qtbot, errors, monkeypatch):
    from genstudio.ui import run_controller

    panel = window.dataset_panel
    fast_points_run(window, qtbot)
    blocked = window.runs_browser.root / "blocked"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the run folder should go")
    monkeypatch.setattr(run_controller, "new_run_dir", lambda *a: blocked)
    window.start_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    assert not panel.is_compact() and panel.scatter.isVisible()


def test_collapsed_during_a_run_the_data_dock_expands_to_its_full_width_after(wide_window, qtbot):
    w, panel = wide_window, wide_window.dataset_panel
    fast_points_run(w, qtbot)
    qtbot.wait(50)
    full_width = w.data_dock.width()

    def collapse_while_training():
        qtbot.waitUntil(lambda: w.data_dock.width() <= w.DATA_STRIP_WIDTH + 40, timeout=5_000)
        w.set_dock_collapsed(w.data_dock, True)
        qtbot.waitUntil(lambda: w.data_dock.width() <= 40, timeout=5_000)

    _train_then_stop(w, qtbot, collapse_while_training)
    assert not panel.is_compact() and w.data_dock.is_collapsed()
    w.set_dock_collapsed(w.data_dock, False)
    qtbot.waitUntil(lambda: abs(w.data_dock.width() - full_width) <= 2, timeout=5_000)
    assert panel.scatter.isVisible()
