"""Runs browser (including a run written by another process), curves, samples, pure helpers."""

from __future__ import annotations

import time

import numpy as np
import pytest

from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec


def _train_headless(out, steps=30):
    from genstudio.core import engine

    spec = RunSpec.create("toy", "moons", {"steps": steps, "log_every": 2, "sample_every": 10, "eval_every": 0}, {}, {"n_points": 300})
    events = list(engine.train(spec, out))
    assert events[-1].status == "completed"
    return spec


def test_runs_browser_lists_and_opens(window, qtbot, tmp_path):
    out = tmp_path / "runs" / "toy-run"
    _train_headless(out)
    window.runs_browser.refresh()
    t = window.runs_browser.table
    assert t.rowCount() == 1
    cells = [t.item(0, c).text() for c in range(1, 6)]
    assert cells[0] == "toy" and cells[1] == "moons" and cells[2] == "30 / 30" and cells[3] == "completed"
    assert t.item(0, 0).data(0x1) is not None  # a thumbnail (DecorationRole)
    window.runs_browser._open_row(0)
    assert window.shown_run == out
    assert window.training_view.curves.store.get("loss").n == 15
    assert len(window.training_view.samples.frames) == 3  # steps 10, 20 and the final grid
    assert window.act_resume_run.isEnabled()


def test_follows_a_run_written_by_another_process(window, qtbot, tmp_path):
    spec = RunSpec.create("toy", "moons", {"steps": 100}, {}, {})
    run = RunFolder.create(tmp_path / "runs" / "live", spec, {"model": "toy", "dataset": "moons", "total_steps": 100})
    lock = run.lock()  # what a training process holds; without it a "running" run has crashed
    run.update_meta(status="running", step=0)
    run.append_metrics([{"step": 1, "split": "train", "elapsed_s": 0.1, "loss": 3.0}])
    window.runs_browser.refresh()
    assert window.open_run(run.path)
    assert window.follower is not None and not window.act_resume_run.isEnabled()
    store = window.training_view.curves.store
    assert store.get("loss").n == 1
    run.append_metrics([{"step": s, "split": "train", "elapsed_s": 0.1 * s, "loss": 3.0 / s} for s in range(2, 6)])
    qtbot.waitUntil(lambda: store.get("loss").n == 5, timeout=5_000)
    from genstudio.core.previews import save_png

    save_png(run.sample_path(5), np.zeros((16, 16, 3), np.uint8))
    qtbot.waitUntil(lambda: len(window.training_view.samples.frames) == 1, timeout=5_000)
    time.sleep(0.01)
    run.update_meta(status="stopped", step=5)
    lock.release()
    qtbot.waitUntil(lambda: window.follower is None, timeout=5_000)
    assert "stopped" in window.training_view.title.full_text()  # the label may be elided; its full text is the tooltip


def hover_faults(view, pos, series: dict[str, np.ndarray]) -> list[str]:
    """Hover the "Losses" plot at scene point ``pos``; what the readout or the cursor gets wrong ([] when nothing).

    ``series`` maps a readout label to the smoothed values of a train curve at steps 1, 2, ...: the
    readout must name the step nearest the pointer and each curve's value there, and the cursor
    line must stand on that step.
    """
    from genstudio.ui.metric_store import ema

    plot = view.plots["Losses"]
    x = plot.item.vb.mapSceneToView(pos).x()
    steps = np.arange(1, len(next(iter(series.values()))) + 1)
    step = int(steps[np.argmin(np.abs(steps - x))])
    view.readout.setText(" ")  # nothing left over from an earlier hover may count
    plot.cursor.setVisible(False)
    view._on_mouse((pos,))
    text = view.readout.text()
    faults = []
    if f"step {step:,} " not in text:
        faults.append(f"the readout {text!r} does not name step {step:,} under the pointer (x = {x:.1f})")
    for label, values in series.items():
        want = f"{label} = {ema(values, view.smoothing_weight)[step - 1]:.4g}"
        if want not in text:
            faults.append(f"the readout {text!r} lacks {want!r}")
    if not plot.cursor.isVisible() or plot.cursor.value() != step:
        faults.append(f"the cursor is at {plot.cursor.value()} (visible: {plot.cursor.isVisible()}), not at step {step}")
    return faults


def test_curves_redraw_and_hover(qtbot, monkeypatch):
    from PySide6.QtCore import QPointF

    from genstudio.ui.curves_view import CurvesView

    v = CurvesView()
    qtbot.addWidget(v)
    v.resize(800, 500)
    v.show()
    v.reset({"Losses": ["d", "g"]})
    steps = np.arange(1, 2001)
    d, g = 1.0 / steps, 2.0 + np.sin(steps / 50)
    for s in steps:
        v.store.add(int(s), {"d": d[s - 1], "g": g[s - 1]})
    v.store.add(2000, {"d": 0.5}, split="val")
    v.redraw()
    assert list(v.plots) == ["Losses"]
    assert set(v.plots["Losses"].curves) == {("d", "train"), ("g", "train"), ("d", "val")}
    x, y = v.plots["Losses"].curves[("g", "train")].smooth.getData()
    assert len(x) > 0
    qtbot.wait(20)
    rect = v.plots["Losses"].item.vb.sceneBoundingRect()
    at = [QPointF(rect.left() + f * rect.width(), rect.center().y()) for f in (0.25, 0.75)]
    shown = []
    v.hovered.connect(shown.append)
    for pos in at:
        assert hover_faults(v, pos, {"d": d, "g": g}) == []
        # The validation point was measured at step 2,000 only: the readout says so instead of
        # passing it off as a value at the hovered step.
        assert "d (val) = 0.5 @ 2,000" in v.readout.text()
    assert shown[-1] == v.readout.text() and len(shown) == 2
    # Off every plot: the readout clears and the cursor hides.
    v._on_mouse((QPointF(rect.right() + 500, rect.bottom() + 500),))
    assert v.readout.text().strip() == "" and not v.plots["Losses"].cursor.isVisible()
    # A real mouse move reaches the readout (through the rate-limiting proxy).
    v.graphics.scene().sigMouseMoved.emit(at[0])
    qtbot.waitUntil(lambda: shown[-1].strip() != "", timeout=5_000)
    assert hover_faults(v, at[0], {"d": d, "g": g}) == [] and shown[-2] == shown[-1]
    # The check rejects a hover that shows nothing and one stuck on the last step.
    monkeypatch.setattr(v, "_on_mouse", lambda args: None)
    assert hover_faults(v, at[0], {"d": d, "g": g})
    monkeypatch.setattr(v, "_on_mouse", lambda args: v.readout.setText(f"<b>Losses</b> · step 2,000 · d = {d[-1]:.4g} · g = {g[-1]:.4g}"))
    assert hover_faults(v, at[0], {"d": d, "g": g})
    monkeypatch.undo()
    v.log_y.setChecked(True)
    v.redraw()
    assert hover_faults(v, at[1], {"d": d, "g": g}) == []  # log y changes the axis, not the steps


def test_samples_view_replays_and_exports(qtbot, tmp_path):
    from genstudio.core.events import Preview
    from genstudio.ui.samples_view import SamplesView

    v = SamplesView()
    qtbot.addWidget(v)
    for step in (10, 20, 30):
        v.add_preview(Preview(step=step, image=np.full((20, 20, 3), step, np.uint8)))
    assert v.slider.maximum() == 2 and v.current().step == 30
    v.slider.setValue(0)
    assert v.current().step == 10
    v.add_preview(Preview(step=40, image=np.zeros((20, 20, 3), np.uint8)))
    assert v.current().step == 10  # looking at an old grid: do not jump
    out = tmp_path / "grid.png"
    assert v.export_png(str(out)) and out.stat().st_size > 0
    v.clear(np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32))
    v.add_preview(Preview(step=1, points=np.zeros((10, 2), np.float32)))
    assert v.stack.currentWidget() is v.plot


def test_ema_and_nearest():
    from genstudio.ui.metric_store import ema, nearest_index

    x = np.array([1.0, 1.0, 1.0, 5.0])
    assert np.allclose(ema(x, 0.0), x)
    y = ema(x, 0.5)
    assert y[0] == 1.0 and y[3] == pytest.approx(3.0)
    z = ema(np.array([1.0, np.nan, 3.0]), 0.5)
    assert np.isnan(z[1]) and z[2] == pytest.approx(2.0)
    steps = np.array([10.0, 20.0, 30.0])
    assert nearest_index(steps, 24) == 1 and nearest_index(steps, 26) == 2 and nearest_index(steps, -5) == 0


def test_tile_grid_and_pick():
    from genstudio.ui.examples import pick_examples
    from genstudio.ui.images import tile_grid

    g = tile_grid(np.ones((5, 1, 4, 4), np.uint8) * 200, ncols=3, pad=1)
    assert g.shape == (2 * 5 + 1, 3 * 5 + 1, 1)
    labels = np.repeat(np.arange(10), 100)  # sorted by label, like mnist5k
    idx = pick_examples(labels, 20)
    assert len(set(labels[idx])) == 10


def test_incremental_ema_matches_full():
    from genstudio.ui.metric_store import ema, ema_continue

    x = np.random.default_rng(1).normal(size=500)
    full = ema(x, 0.9)
    head = ema(x[:300], 0.9)
    assert np.allclose(np.concatenate([head, ema_continue(x[300:], 0.9, head[-1])]), full)


def test_runs_browser_shows_a_live_runs_step_and_wall_time_from_its_metrics(window, tmp_path):
    # meta.json of a live run changes only at checkpoints: the row must read metrics.jsonl's tail instead.
    spec = RunSpec.create("toy", "moons", {"steps": 2000}, {}, {})
    run = RunFolder.create(tmp_path / "runs" / "live", spec, {"model": "toy", "dataset": "moons", "total_steps": 2000})
    lock = run.lock()
    try:
        run.update_meta(status="running", step=0)
        run.append_metrics([{"step": s, "split": "train", "elapsed_s": 0.5 * s, "loss": 1.0} for s in range(10, 130, 10)])
        run.append_metrics([{"step": 120, "split": "val", "elapsed_s": 61.0, "loss": 1.0}])
        with open(run.metrics_path, "a") as f:
            f.write('{"step": 130, "split": "tr')  # the training thread is mid-line
        window.runs_browser.refresh()
        t = window.runs_browser.table
        assert t.item(0, 3).text() == "120 / 2,000"
        assert t.item(0, 5).text() == "1:00"
    finally:
        lock.release()


def test_opening_a_run_fills_the_form_read_only_and_train_a_copy_unlocks_it(window, qtbot, tmp_path):
    out = tmp_path / "runs" / "toy-run"
    spec = RunSpec.create("toy", "circles", {"steps": 30, "log_every": 2, "sample_every": 10, "eval_every": 0, "batch_size": 48}, {"hidden": 23}, {"n_points": 300})
    from genstudio.core import engine

    assert list(engine.train(spec, out))[-1].status == "completed"
    window.model_panel.select("ddpm")
    window.runs_browser.refresh()
    assert window.open_run(out)
    mp, dp = window.model_panel, window.dataset_panel
    assert mp.model_id() == "toy" and dp.dataset_id() == "circles"
    assert mp.model_form.values()["hidden"] == 23
    assert mp.run_form.values()["batch_size"] == 48 and mp.run_form.values()["steps"] == 30
    assert dp.options_form.values()["n_points"] == 300
    assert mp.is_read_only() and not mp.model_form.isEnabled() and not dp.dataset_box.isEnabled()
    qtbot.waitUntil(dp.is_usable, timeout=20_000)
    assert not window.act_train.isEnabled()  # Train would start what the form shows: not until it is a copy
    assert mp.shown_run_box.isVisible() and "toy-run" in mp.shown_run_label.text()
    mp.copy_button.click()
    assert not mp.is_read_only() and mp.model_form.isEnabled() and dp.dataset_box.isEnabled()
    assert mp.model_form.values()["hidden"] == 23  # the copy keeps the run's settings
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
