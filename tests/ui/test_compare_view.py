"""The Compare runs view: rows, numeric sort, filters, CSV, grids and curves side by side, NFE vs quality, evaluation."""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.metrics import compare as cmp


def fake_run(root, name, model="toy", dataset="digits", evals=(), val=None, caps=(), step=100, created=None, loss_scale=10.0):
    spec = RunSpec.create(model, dataset, {"steps": step}, {}, {})
    meta = {
        "model": model, "dataset": dataset, "total_steps": step, "device": "cpu", "num_params": 5000,
        "capabilities": list(caps), "family": "diffusion" if "Denoiser" in caps else "test",
        "created": created if created is not None else time.time(),
    }  # fmt: skip
    run = RunFolder.create(root / name, spec, meta)
    run.update_meta(status="completed", step=step, wall_time_s=30.0)
    run.append_metrics([{"step": s, "split": "train", "elapsed_s": s / 10, "loss": loss_scale / s} for s in range(10, step + 1, 10)])
    if val is not None:
        run.append_metrics([{"step": step, "split": "val", "elapsed_s": 2.0, **val}])
    for e in evals:
        cmp.append_eval(run.path, e)
    from genstudio.core.previews import save_png

    save_png(run.sample_path(step), np.full((12, 12, 3), 100, np.uint8))
    return run


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    fake_run(root, "r-fid12", evals=[{"checkpoint_step": 100, "fid": 12.3, "fid_floor": 2.1}], created=1.0)
    fake_run(root, "r-fid3", evals=[{"checkpoint_step": 100, "fid": 3.5, "fid_floor": 2.1}], created=2.0, loss_scale=5.0)
    fake_run(root, "r-fid100", model="vae", evals=[{"checkpoint_step": 100, "fid": 100.0, "bits_per_dim": 0.2, "likelihood": "bound", "likelihood_data": "grey as Bernoulli"}], created=3.0)
    fake_run(root, "r-none", dataset="mnist5k", val={"bpd": 1.1}, created=4.0)
    return root


@pytest.fixture
def view(qtbot, runs):
    from genstudio.ui.compare.view import CompareView

    v = CompareView([runs], poll_ms=100)
    qtbot.addWidget(v)
    v.resize(1300, 850)
    v.show()
    yield v
    v.shutdown()
    qtbot.waitUntil(lambda: not v.queue.busy(), timeout=60_000)


def column(v, label):
    return [c.label for c in v.model.columns].index(label)


def shown(v, label):
    c = column(v, label)
    return [v.proxy.index(i, c).data() for i in range(v.proxy.rowCount())]


def test_rows_show_values_floors_and_sources(view):
    assert view.model.rowCount() == 4
    names = shown(view, "run")
    assert names == ["r-none", "r-fid100", "r-fid3", "r-fid12"]  # newest first until sorted
    fid = dict(zip(names, shown(view, "FID")))
    assert fid == {"r-none": "", "r-fid100": "100", "r-fid3": "3.5 (floor 2.1)", "r-fid12": "12.3 (floor 2.1)"}
    bpd = dict(zip(names, shown(view, "bits/dim")))
    assert bpd["r-fid100"] == "0.2 (bound; grey as Bernoulli)" and bpd["r-none"] == "1.1 (exact)"
    src = dict(zip(names, shown(view, "metrics from")))
    assert src["r-fid3"] == "eval @ 100" and src["r-none"] == "training log @ 100"
    assert shown(view, "steps")[0] == "100 / 100" and shown(view, "wall time")[0] == "0:30"
    assert shown(view, "params")[0] == "5.0 k"


def test_numeric_sort_with_missing_last(view):
    c = column(view, "FID")
    view.table.sortByColumn(c, Qt.SortOrder.AscendingOrder)
    assert shown(view, "run") == ["r-fid3", "r-fid12", "r-fid100", "r-none"]  # as text, "100" would come before "12.3"
    view.table.sortByColumn(c, Qt.SortOrder.DescendingOrder)
    assert shown(view, "run") == ["r-fid100", "r-fid12", "r-fid3", "r-none"]


def test_filters_hide_rows_and_default_dataset(view):
    view.filter_edit.setText("fid1")
    assert sorted(shown(view, "run")) == ["r-fid100", "r-fid12"]
    view.filter_edit.setText("")
    view.dataset_combo.setCurrentText("mnist5k")
    assert shown(view, "run") == ["r-none"]
    view.dataset_combo.setCurrentText("all")
    view.model_combo.setCurrentText("vae")
    assert shown(view, "run") == ["r-fid100"]
    view.model_combo.setCurrentText("all")
    view.likelihood_only.setChecked(True)
    assert shown(view, "run") == ["r-fid100", "r-none"]  # only bits/dim rows, sorted by it
    cell = view.proxy.index(0, view.column_index("metric:bits_per_dim"))
    assert "(bound; grey as Bernoulli)" in cell.data()
    assert "not a probability of the data" in cell.data(Qt.ItemDataRole.ToolTipRole)
    assert view.status.text() == ""  # one kind of likelihood data shown: nothing to warn about
    view.likelihood_only.setChecked(False)
    view.set_default_dataset("digits")
    assert view.dataset_combo.currentText() == "digits" and view.proxy.rowCount() == 3


def test_csv_export_of_visible_rows(view, tmp_path):
    view.dataset_combo.setCurrentText("digits")
    view.table.sortByColumn(column(view, "FID"), Qt.SortOrder.AscendingOrder)
    out = view.export_csv(tmp_path / "out.csv")
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == ["r-fid3", "r-fid12", "r-fid100"]
    assert [float(r["FID"]) for r in rows] == [3.5, 12.3, 100.0]
    assert rows[0]["FID floor"] == "2.1" and rows[2]["FID floor"] == "" and rows[2]["bits/dim likelihood"] == "bound"
    assert "evaluation" not in rows[0]  # the UI-only status column is not data


def test_two_selected_runs_show_two_grids_and_two_curves(view, qtbot):
    paths = [str(view.model.rows[i].path) for i in (1, 2)]
    view.select_paths(paths)
    assert view.selected_paths() and sorted(view.selected_paths()) == sorted(paths)
    assert len(view.grids.views) == 2 and all(v.has_image() for v in view.grids.views)
    assert "r-fid100" in view.grids.captions[0].text()
    assert view.curves.metric.currentData() == ("loss", "train")
    assert sorted(view.curves.curves) == sorted(paths)
    x, y = view.curves.curves[paths[1]].getData()
    assert len(x) == 10 and x[0] == 10
    view.curves.smooth.setChecked(False)
    _, y = view.curves.curves[paths[1]].getData()
    assert y[0] == pytest.approx(5.0 / 10)  # r-fid3's loss, raw
    view.curves.xaxis.setCurrentIndex(1)
    x, _ = view.curves.curves[paths[1]].getData()
    assert x[0] == pytest.approx(1.0)  # elapsed_s


def test_follows_new_runs_and_keeps_selection(view, qtbot, runs):
    keep = str(view.model.rows[0].path)
    view.select_paths([keep])
    fake_run(runs, "r-late", evals=[{"checkpoint_step": 100, "kid": 0.02}], created=9.0)
    qtbot.waitUntil(lambda: view.model.rowCount() == 5, timeout=5_000)
    assert "KID" in [c.label for c in view.model.columns]
    assert view.selected_paths() == [keep]


def test_nfe_vs_quality_reads_cache_then_computes_missing(view, qtbot, runs):
    d = fake_run(runs, "r-ddpm", model="ddpm", caps=["Denoiser"], created=10.0)
    d.checkpoint_dir.mkdir(exist_ok=True)
    (d.checkpoint_dir / "latest.json").write_text('{"step": 100}')
    for k, fid in ((5, 40.0), (20, 15.0)):
        cmp.append_eval(d.path, {"checkpoint_step": 100, "sampler": "ddim", "steps": k, "nfe": k, "fid": fid, "fid_floor": 3.0, "sweep": "nfe"})
    calls = []

    def fake_eval(run_dir, n, checkpoint, device, sampler=None, steps=None, save=True, should_stop=None):
        calls.append(steps)
        assert checkpoint == 100 and sampler == "ddim" and n == 300
        return {"checkpoint_step": 100, "nfe": steps, "fid": 60.0 / steps + 3.0, "fid_floor": 3.0}

    view.evaluator = fake_eval
    qtbot.waitUntil(lambda: view.model.rowCount() == 5, timeout=5_000)
    view.select_paths([str(d.path)])
    nfe = view.nfe
    assert nfe.row is not None and nfe.row.path == d.path and nfe.metric.currentData() == "fid" and nfe.metric.currentText() == "FID"
    x, y = nfe.curve_item.getData()
    assert list(y) == [40.0, 15.0] and nfe.floor_line is not None and nfe.floor_line.value() == 3.0
    nfe.steps_edit.setText("5, 10, 20")
    view.n_spin.setValue(300)
    qtbot.mouseClick(nfe.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.queue.busy(), timeout=10_000)
    assert calls == [10]  # 5 and 20 came from evals.jsonl
    x, y = nfe.curve_item.getData()
    assert list(y) == [40.0, 9.0, 15.0]
    nfe.set_row(view.model.row_of(str(d.path)))  # reopening reads, does not recompute
    qtbot.mouseClick(nfe.run_button, Qt.MouseButton.LeftButton)
    assert calls == [10] and "already" in nfe.status.text()
    nfe.steps_edit.setText("5, x")
    qtbot.mouseClick(nfe.run_button, Qt.MouseButton.LeftButton)
    assert "whole number" in nfe.status.text()


def test_nfe_panel_needs_a_diffusion_run(view):
    view.select_paths([str(view.model.rows[0].path)])
    assert view.nfe.row is None and not view.nfe.run_button.isEnabled()
    assert "diffusion" in view.nfe.run_label.text()


def test_evaluation_errors_show_in_the_row_and_cancel_drops_the_rest(view, qtbot):
    import threading

    gate = threading.Event()
    seen = []

    def failing(run_dir, n, checkpoint, device, save=True, should_stop=None):
        seen.append(run_dir)
        gate.wait(10)
        raise RuntimeError("no checkpoint to evaluate")

    view.evaluator = failing
    paths = [str(r.path) for r in view.model.rows[:3]]
    view.select_paths(paths)
    assert view.evaluate_selected() == 3
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5_000)
    assert view.cancel_button.isEnabled() and view.progress.isVisible()
    view.cancel_evaluation()
    gate.set()
    qtbot.waitUntil(lambda: not view.queue.busy(), timeout=10_000)
    assert len(seen) == 1  # the two queued were dropped
    ev = view.model.eval_column
    texts = {view.model.index(i, ev).data(Qt.ItemDataRole.UserRole): view.model.index(i, ev).data() for i in range(view.model.rowCount())}
    assert texts[seen[0]] == "error: RuntimeError: no checkpoint to evaluate"
    assert all(texts[p] == "" for p in paths if p != seen[0])
    assert "failed" in view.status.text() and "no checkpoint" in view.status.text()
    assert "Traceback" in view.model.index(paths.index(seen[0]), ev).data(Qt.ItemDataRole.ToolTipRole)


def test_real_tiny_run_evaluated_through_the_button(qtbot, tmp_path):
    from genstudio.core import engine
    from genstudio.ui.compare.view import CompareView

    root = tmp_path / "runs"
    spec = RunSpec.create("toy", "moons", {"steps": 20, "log_every": 5, "sample_every": 10, "eval_every": 0}, {}, {"n_points": 300})
    events = list(engine.train(spec, root / "toy-moons"))
    assert events[-1].status == "completed"
    v = CompareView([root], poll_ms=100)
    qtbot.addWidget(v)
    v.show()
    assert v.model.rows[0].source == ""  # neither evaluated nor validated yet
    v.select_paths([str(v.model.rows[0].path)])
    v.n_spin.setValue(200)
    qtbot.mouseClick(v.eval_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not v.queue.busy(), timeout=60_000)
    assert "failed" not in v.status.text(), v.status.text()
    recs = cmp.read_evals(root / "toy-moons")
    assert len(recs) == 1 and recs[0]["checkpoint_step"] == 20
    row = v.model.rows[0]
    assert row.source == "eval" and "mmd2" in row.metrics and "nll_nats" in row.metrics
    assert "MMD²" in [c.label for c in v.model.columns]
    assert v.selected_paths() == [str(row.path)]


def test_main_window_opens_compare_filtered_to_the_dataset(window, qtbot, tmp_path):
    fake_run(tmp_path / "runs", "a", dataset="digits")
    fake_run(tmp_path / "runs", "b", dataset="moons")
    window.dataset_panel.select("moons")
    window.act_compare.trigger()
    view = window.compare_dock.widget()
    assert window.compare_dock.isVisible() and view.model.rowCount() == 2
    assert view.dataset_combo.currentText() == "moons" and view.proxy.rowCount() == 1
    assert window.act_compare.shortcut().toString() == "Ctrl+Shift+C"
    other = tmp_path / "other"
    fake_run(other, "c", dataset="moons")
    window.runs_browser.set_root(other)  # the table follows the runs folder
    assert view.roots == [other] and view.model.rowCount() == 1
    from PySide6.QtGui import QPalette
    from PySide6.QtWidgets import QApplication

    light = view.curves.plot.backgroundBrush().color()
    window.set_theme("dark")  # the plots follow the theme
    dark = QApplication.palette().color(QPalette.ColorRole.Base)
    assert dark != light and view.curves.plot.backgroundBrush().color() == dark == view.nfe.plot.backgroundBrush().color()


def test_add_folder_of_runs_or_a_single_run(view, tmp_path):
    assert not view.add_folder(tmp_path / "nope") and "not a folder" in view.status.text()
    (tmp_path / "empty").mkdir()
    assert not view.add_folder(tmp_path / "empty") and "No run folders" in view.status.text()
    solo = fake_run(tmp_path / "elsewhere", "solo", created=20.0)
    assert view.add_folder(solo.path)
    assert view.model.rowCount() == 5 and shown(view, "run")[0] == "solo"
    assert view.add_folder(tmp_path / "runs") and view.model.rowCount() == 5  # already listed: each run once


def stoppable_evaluator(seen: list, stopped: list, bound_s: float = 60.0):
    """An evaluation of many short batches that asks ``should_stop`` between them, as evaluate_run does."""
    from genstudio.metrics.quality import EvaluationCancelled

    def evaluate(run_dir, n, checkpoint, device, save=True, should_stop=None):
        seen.append(run_dir)
        deadline = time.monotonic() + bound_s  # a bound, so a broken stop flag fails the test instead of hanging it
        while time.monotonic() < deadline:
            if should_stop is not None and should_stop():
                stopped.append(run_dir)
                raise EvaluationCancelled("evaluation cancelled")
            time.sleep(0.02)
        return {"checkpoint_step": 100, "fid": 1.0}

    return evaluate


def test_cancel_stops_the_running_evaluation_between_batches(view, qtbot):
    seen, stopped = [], []
    view.evaluator = stoppable_evaluator(seen, stopped)
    paths = [str(r.path) for r in view.model.rows[:3]]
    before = {p: len(cmp.read_evals(p)) for p in paths}
    view.select_paths(paths)
    assert view.evaluate_selected() == 3
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=5_000)
    assert view.cancel_button.isEnabled()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.queue.busy(), timeout=30_000)  # far less than the evaluation's 60 s
    assert stopped == seen  # the running one saw the flag and stopped; the queued two never started
    ev = view.model.eval_column
    texts = {view.model.index(i, ev).data(Qt.ItemDataRole.UserRole): view.model.index(i, ev).data() for i in range(view.model.rowCount())}
    assert texts[seen[0]] == "cancelled" and all(texts[p] == "" for p in paths if p != seen[0])
    assert view.status.text() == "Evaluation cancelled." and not view.cancel_button.isEnabled() and view.eval_button.isEnabled()
    assert {p: len(cmp.read_evals(p)) for p in paths} == before  # nothing half-done was saved


def test_evaluate_run_asks_should_stop_between_batches_and_saves_nothing(tmp_path):
    from genstudio.core import engine
    from genstudio.metrics.evaluate import EvaluationCancelled, evaluate_run

    out = tmp_path / "toy-moons"
    spec = RunSpec.create("toy", "moons", {"steps": 5, "log_every": 5, "sample_every": 0, "eval_every": 0}, {}, {"n_points": 600})
    assert list(engine.train(spec, out))[-1].status == "completed"
    asked = []
    result = evaluate_run(out, n=100, device="cpu", save=False, should_stop=lambda: asked.append(1) and False)
    assert "mmd2" in result and len(asked) >= 3  # validation, sampling, scoring
    for stop_at in range(1, len(asked) + 1):  # whichever batch the flag comes at, the evaluation ends there
        calls = []
        with pytest.raises(EvaluationCancelled):
            evaluate_run(out, n=100, device="cpu", save=True, should_stop=lambda: calls.append(1) or len(calls) >= stop_at)
        assert len(calls) == stop_at
    assert not (out / "evals.jsonl").exists()
