"""Train from the window: signals arrive, pause / step / resume / stop work, closing mid-run is clean."""

from __future__ import annotations

import json

from genstudio.core.runs import RunFolder

from .conftest import fast_points_run


def test_train_pause_step_resume_stop(window, qtbot):
    fast_points_run(window, qtbot)
    assert window.start_training()
    s = window.session
    with qtbot.waitSignals([s.metrics, s.preview], timeout=30_000):
        pass
    qtbot.waitUntil(lambda: bool(window.training_view.curves.plots and window.training_view.samples.frames), timeout=10_000)
    assert "Loss" in window.training_view.curves.plots  # the model's metric group is one plot

    window.act_pause.trigger()
    assert window.act_pause.text() == "Resume"
    qtbot.waitUntil(lambda: RunFolder(window.shown_run).meta.get("status") == "paused", timeout=10_000)
    qtbot.wait(150)
    s.drain()
    paused_at = s.step
    qtbot.wait(300)
    s.drain()
    assert s.step == paused_at  # paused means paused

    with qtbot.waitSignal(s.checkpoint, timeout=10_000) as ck:
        window.act_save.trigger()  # "Save checkpoint now" works while paused
    assert ck.args[0].step == paused_at

    with qtbot.waitSignal(s.metrics, timeout=10_000) as sig:
        window.act_step.trigger()
    assert sig.args[0][-1].step == paused_at + 1  # exactly one step

    window.act_pause.trigger()  # resume
    assert window.act_pause.text() == "Pause"
    qtbot.waitUntil(lambda: s.step > paused_at + 20, timeout=10_000)

    with qtbot.waitSignal(s.finished, timeout=20_000) as fin:
        window.act_stop.trigger()
    assert fin.args[0].status == "stopped"
    qtbot.waitUntil(lambda: window.session is None, timeout=20_000)
    run = RunFolder(window.shown_run)
    assert run.latest_checkpoint() == fin.args[0].step  # stop saves a checkpoint
    assert window.act_train.isEnabled() and window.act_resume_run.isEnabled()
    assert window.runs_browser.table.rowCount() == 1


def test_resume_stopped_run(window, qtbot):
    fast_points_run(window, qtbot, steps=60)
    window.model_panel.run_form.set_values({"steps": 60})
    window.start_training()
    s = window.session
    qtbot.waitUntil(lambda: s.step >= 5, timeout=30_000)
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=20_000)
    stopped_at = RunFolder(window.shown_run).meta["step"]
    assert window.resume_shown_run(steps=stopped_at + 30)
    qtbot.waitUntil(lambda: window.session is None, timeout=30_000)
    meta = RunFolder(window.shown_run).meta
    assert meta["status"] == "completed" and meta["step"] == stopped_at + 30
    steps = window.training_view.curves.store.get("loss").steps
    assert steps[0] == 1 and steps[-1] == stopped_at + 30  # history before the resume is kept


def test_close_window_mid_training(window, qtbot, qtlog):
    fast_points_run(window, qtbot)
    window.start_training()
    s = window.session
    qtbot.waitSignal(s.metrics, timeout=30_000).wait()
    run_dir = window.shown_run
    window.close()
    qtbot.waitUntil(lambda: window.session is None, timeout=30_000)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    meta = RunFolder(run_dir).meta
    assert meta["status"] == "stopped"
    assert RunFolder(run_dir).latest_checkpoint() == meta["step"]
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]


def test_model_raising_mid_run_shows_dialog(window, qtbot, errors):
    fast_points_run(window, qtbot, fail_at=5)
    window.start_training()
    with qtbot.waitSignal(window.session.finished, timeout=30_000) as fin:
        pass
    assert fin.args[0].status == "failed"
    qtbot.waitUntil(lambda: window.session is None, timeout=10_000)
    assert errors and "failed on purpose" in errors[0][1]
    assert "Traceback" in errors[0][2] and "train_step" in errors[0][2]
    assert json.loads((window.shown_run / "meta.json").read_text())["status"] == "failed"
    assert window.act_train.isEnabled()  # the window stays usable
    assert window.training_view.banner.isVisible()


def test_divergence_names_the_term(window, qtbot, errors):
    fast_points_run(window, qtbot, diverge_at=4)
    window.start_training()
    with qtbot.waitSignal(window.session.finished, timeout=30_000) as fin:
        pass
    assert fin.args[0].status == "diverged"
    assert "<b>loss</b>" in window.training_view.banner.text()
    assert not errors  # divergence is explained in place, not a crash dialog


def test_bad_input_before_start_is_a_message(window, qtbot, errors, tmp_path):
    fast_points_run(window, qtbot)
    window.model_panel.model_form.set_values({"hidden": 4})
    # A run folder that already exists makes the engine refuse before the first event.
    from genstudio.ui import run_controller

    target = tmp_path / "runs" / "taken"
    target.mkdir(parents=True)
    (target / "x").write_text("x")
    orig = run_controller.new_run_dir
    run_controller.new_run_dir = lambda *a: target
    try:
        window.start_training()
    finally:
        run_controller.new_run_dir = orig
    qtbot.waitUntil(lambda: window.session is None, timeout=20_000)
    assert errors and "already exists" in errors[0][1]
    assert window.act_train.isEnabled()
