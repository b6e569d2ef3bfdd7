"""Fixtures for the studio window: isolated settings and runs folder, a window that always shuts down."""

from __future__ import annotations

import pytest

import genstudio.ui  # noqa: F401  (applies the shiboken refcount guard before Qt objects pile up)


@pytest.fixture
def settings(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, settings, tmp_path):
    from genstudio.ui.main_window import MainWindow

    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.show()
    yield w
    w.shutdown(30_000)


@pytest.fixture
def errors(monkeypatch):
    """Record error dialogs instead of showing them."""
    from genstudio.ui import dialogs

    shown: list[tuple[str, str, str]] = []

    def fake(parent, title, message, details=""):
        shown.append((title, message, details))
        return None

    monkeypatch.setattr(dialogs, "show_error", fake)
    return shown


def fast_points_run(window, qtbot, dataset="moons", steps=100_000, **model):
    """Choose a small 2-D set and the toy model, with frequent metrics and previews."""
    window.dataset_panel.options_form.set_values({"n_points": 500})
    window.dataset_panel.select(dataset)
    window.model_panel.select("toy")
    window.model_panel.run_form.set_values(
        {"steps": steps, "batch_size": 32, "log_every": 1, "sample_every": 25, "checkpoint_every": 0, "eval_every": 0, "preview_n": 64}
    )
    if model:
        window.model_panel.model_form.set_values(model)
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
