"""The Model panel's run form starts from the model's own run defaults (the same ones `genstudio train` uses)."""

from __future__ import annotations

import pytest

from genstudio.core.spec import RunConfig, RunSpec, model_run_defaults


@pytest.fixture
def panel(qtbot, settings):
    from genstudio.ui.model_panel import ModelPanel

    p = ModelPanel(settings=settings)
    qtbot.addWidget(p)
    return p


def steps(panel) -> int:
    return panel.run_form.values()["steps"]


def test_the_form_shows_each_models_default_steps(panel):
    for model in ("ddpm", "gated-pixelcnn", "vae", "dcgan", "cascade", "made"):
        assert panel.select(model)
        assert steps(panel) == model_run_defaults(model).get("steps", RunConfig.steps), model
        assert "steps" not in panel.run_form.changed_values()  # at its default: nothing to store in a preset
    panel.select("ddpm")
    assert "default: 1200" in panel.run_form.fields["steps"].widget.toolTip()


def test_the_data_kind_picks_its_default_and_the_form_and_the_command_line_agree(panel):
    panel.select("realnvp")
    batch = lambda: panel.run_form.values()["batch_size"]  # noqa: E731
    panel.set_dataset("digits", "image", (1, 8, 8))
    assert (steps(panel), batch()) == (2000, 32)  # images train in batches of 32
    panel.set_dataset("moons", "points", (2,))
    assert (steps(panel), batch()) == (2000, 64)  # 2-D points keep the run's 64
    cli = RunSpec.create("realnvp", "moons", data_kind="points").run
    assert (steps(panel), batch()) == (cli.steps, cli.batch_size)


def test_values_set_on_purpose_stay_when_the_model_or_data_changes(panel, qtbot):
    panel.select("ddpm")
    panel.run_form.set_values({"steps": 77})
    panel.select("vae")
    assert steps(panel) == 77  # typed or from a preset: not replaced by the next model's default
    panel.set_dataset("moons", "points", (2,))
    assert steps(panel) == 77
    panel.reset()
    assert steps(panel) == 3000  # Defaults: the model's own
    # A user editing the field directly is kept too.
    panel.run_form.fields["steps"].widget.setValue(1234)
    panel.select("ddpm")
    assert steps(panel) == 1234


def test_an_opened_runs_steps_are_shown_even_when_they_equal_another_kinds_default(window, qtbot, tmp_path):
    """Opening a ddpm run on moons that trained 1,200 steps (ddpm's image default) shows 1,200, not the points default."""
    from genstudio.core.runs import RunFolder

    spec = RunSpec.create("ddpm", "moons", {"steps": 1200})
    run = RunFolder.create(tmp_path / "runs" / "r", spec, {"model": "ddpm", "dataset": "moons", "total_steps": 1200})
    run.update_meta(status="completed", step=1200)
    assert window.open_run(run.path)
    qtbot.waitUntil(lambda: window.dataset_panel.is_usable() and window.dataset_panel.dataset_id() == "moons", timeout=30_000)
    qtbot.wait(50)
    assert window.model_panel.model_id() == "ddpm"
    assert steps(window.model_panel) == 1200


def test_the_window_trains_the_number_of_steps_the_form_shows(window, qtbot):
    window.dataset_panel.select("digits")
    window.model_panel.select("gated-pixelcnn")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    run = window.build_spec().run
    assert run.steps == 1800 == steps(window.model_panel)
    assert run.batch_size == 16 == window.model_panel.run_form.values()["batch_size"]  # its batches too
