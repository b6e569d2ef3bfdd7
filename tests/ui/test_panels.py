"""The dataset panel, the generated model form, the capability -> panel mapping, the entry point."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genstudio.core.spec import RunConfig


def test_form_refuses_invalid_values(window, qtbot):
    from .conftest import fast_points_run

    fast_points_run(window, qtbot, steps=100)
    form = window.model_panel.model_form
    lr = form.fields["lr"]
    assert lr.widget.text() == "5.00e-02"  # log fields in scientific notation
    lr.widget.setText("abc")
    assert "lr" in form.errors() and "expects float" in form.errors()["lr"]
    assert lr.error_label.isVisibleTo(form) and "red" not in lr.widget.styleSheet() and lr.widget.styleSheet()
    assert not window.act_train.isEnabled()
    assert "expects float" in window.act_train.toolTip()
    lr.widget.setText("5")  # above max=1.0: shown, not clamped
    assert "at most 1.0" in form.errors()["lr"] and lr.widget.text() == "5"
    lr.widget.setText("2e-3")
    assert not form.errors() and window.act_train.isEnabled()
    assert form.values()["lr"] == pytest.approx(2e-3)

    steps = window.model_panel.run_form.fields["steps"]
    steps.widget.setValue(0)  # the spin box does not clamp to the config's min
    assert "at least 1" in window.model_panel.run_form.errors()["steps"]
    assert not window.act_train.isEnabled()
    window.model_panel.reset()
    assert window.model_panel.run_form.values()["steps"] == RunConfig().steps
    assert window.act_train.isEnabled()


def test_form_help_is_the_tooltip():
    from genstudio.ui.config_form import ConfigForm

    form = ConfigForm(RunConfig)
    assert "number of training steps" in form.fields["steps"].widget.toolTip()
    assert form.values()["device"] == "auto"


def test_dataset_panel_shows_corrupt_image_in_folder(qtbot, tmp_path):
    from genstudio.ui.dataset_panel import DatasetPanel

    folder = tmp_path / "imgs"
    for cls in ("cats", "dogs"):
        (folder / cls).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(np.random.default_rng(i).integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(folder / cls / f"{i}.png")
    bad = folder / "cats" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is not an image")
    panel = DatasetPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.select("folder", str(folder))
    qtbot.waitUntil(panel.is_usable, timeout=20_000)
    items = [panel.problems.item(i).text() for i in range(panel.problems.count())]
    assert any("broken.png" in t for t in items)
    assert panel.problems.isVisible() and "Problems (1)" in panel.problems_label.text()
    assert "6" in panel.summary_label.text() and "2 classes" in panel.summary_label.text()
    assert panel.image_view.has_image()


def test_dataset_panel_missing_path_is_not_usable(qtbot, tmp_path):
    from genstudio.ui.dataset_panel import DatasetPanel

    panel = DatasetPanel()
    qtbot.addWidget(panel)
    panel.select("csv", str(tmp_path / "nope.csv"))
    qtbot.waitUntil(lambda: panel.error is not None, timeout=20_000)
    assert not panel.is_usable()
    assert "nope.csv" in panel.state_label.text()


def test_model_panel_refuses_incompatible_data(window, qtbot):
    window.dataset_panel.select("moons")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=20_000)
    from genstudio.core import registry
    from tests.toy_models import ToyGaussian

    image_only = type("ImageOnlyToy", (ToyGaussian,), {"data_kinds": ("image",)})
    registry.register_model("toy-image-only", image_only)
    try:
        window.model_panel.refresh_models()
        assert window.model_panel.select("toy-image-only")
        assert "image data" in window.model_panel.compat.text()
        assert not window.act_train.isEnabled()
    finally:
        registry.unregister(model_id="toy-image-only")


def test_capability_panels_most_specific_wins(monkeypatch):
    from genstudio.ui import panels

    # An isolated registry: the real panels (registered by their own issues) stay untouched.
    monkeypatch.setattr(panels, "PANELS", {})
    panels.register_panel("Latent", "Latent walk", lambda ctx: None)
    panels.register_panel("Encoder", "Encoder", lambda ctx: None)
    titles = [t for t, _ in panels.panels_for(["Latent", "Encoder", "Likelihood"])]
    assert titles == ["Encoder"]
    assert [t for t, _ in panels.panels_for(["Latent"])] == ["Latent walk"]
    assert panels.panels_for(["Likelihood"]) == []


def test_capability_panel_appears_for_a_run(window, qtbot):
    from PySide6.QtWidgets import QLabel

    from genstudio.ui import panels

    from .conftest import fast_points_run

    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    saved = dict(panels.PANELS)
    panels.PANELS.clear()  # only the test's panel; the built-in ones are restored below
    panels.register_panel("Likelihood", "Density", lambda ctx: QLabel(f"density of {ctx.run_dir.name}"))
    try:
        fast_points_run(window, qtbot, steps=20)
        window.start_training()
        qtbot.waitUntil(lambda: window.training_view.tabs.count() == 2, timeout=30_000)
        assert window.training_view.tabs.tabText(1) == "Density"
        assert "density of" in window.training_view.panel_widgets[0].text()
        qtbot.waitUntil(lambda: window.session is None, timeout=30_000)
    finally:
        panels.PANELS.clear()
        panels.PANELS.update(saved)


def test_main_without_display_explains(monkeypatch, capsys):
    from genstudio.ui import app

    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setattr(app.sys, "platform", "linux")
    assert app.main([]) == 2
    err = capsys.readouterr().err
    assert "QT_QPA_PLATFORM=offscreen" in err and "genstudio train" in err


def test_main_rejects_unknown_model(capsys):
    from genstudio.ui import app

    assert app.main(["--model", "no-such-model"]) == 2
    assert "unknown model" in capsys.readouterr().err


def test_settings_remember_choices(qtbot, settings, tmp_path):
    from genstudio.ui.main_window import MainWindow

    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.dataset_panel.select("circles")
    w.model_panel.select("toy")
    w.model_panel.model_form.set_values({"hidden": 17})
    w.set_theme("dark")
    w.close()
    w2 = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w2)
    assert w2.dataset_panel.dataset_id() == "circles"
    assert w2.model_panel.model_id() == "toy"
    assert w2.model_panel.model_form.values()["hidden"] == 17
    assert w2.theme == "dark"
    w2.set_theme("light")
    qtbot.waitUntil(lambda: not w2.dataset_panel.is_loading(), timeout=20_000)


def test_switching_models_leaves_no_stray_windows(window, qtbot):
    from PySide6.QtWidgets import QApplication

    for mid in window.model_panel._by_family.get("test", []) + ["toy"]:
        window.model_panel.select(mid)
    window.dataset_panel.select("circles")
    window.dataset_panel.select("moons")
    qtbot.wait(50)
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert visible == [window]  # an old form reparented to None would show up as a window of its own
