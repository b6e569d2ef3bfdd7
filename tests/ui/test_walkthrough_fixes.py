"""Window-level bugs found by trying the studio as a new user would (notes/walkthrough.md), one test each."""

from __future__ import annotations

import pytest


def test_compare_window_fits_the_screen(window, qtbot):
    """Compare runs opens as a floating window; on a small screen it must not hang off the bottom or the side."""
    dock = window.show_compare()
    qtbot.waitUntil(dock.isVisible, timeout=5_000)
    avail = window.screen().availableGeometry()
    geo = dock.frameGeometry()
    assert dock.isFloating()
    assert avail.contains(geo), (geo, avail)


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    """A two-step ddpm run on mnist5k: the dataset the first launch loads, so opening it changes no data."""
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    run = {"steps": 2, "batch_size": 8, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    spec = RunSpec.create("ddpm", "mnist5k", run, {"base_channels": 8, "timesteps": 40, "attention": False}, {})
    out = tmp_path_factory.mktemp("walkthrough") / "ddpm-mnist5k-20261206-152243"
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


def test_an_opened_run_leaves_no_estimate_in_progress_on_the_form(window, qtbot, ddpm_run):
    """Opening a run fills the form read-only; the measurement its settings started is dropped, and so is its
    "Estimating the time of the run…" (it stayed on the form for good): the form says what the shown run took."""
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=60_000)
    assert window.dataset_panel.dataset_id() == "mnist5k"
    assert window.open_run(ddpm_run)
    assert window.model_panel.is_read_only()
    label = window.model_panel.estimate_label
    assert "Estimating" not in label.text(), label.text()
    qtbot.wait(1_500)  # past the debounce: nothing comes back to write on the read-only form
    assert label.text().startswith("<b>This run:</b> 2 of 2 steps in "), label.text()
    assert "Estimating" not in label.text() and "Estimated" not in label.text()


def test_training_started_during_an_estimate_leaves_no_estimate_in_progress(window, qtbot):
    """Train pressed while the form's step time is still being measured (as the first launch's --train does):
    the measurement is dropped, and its "Estimating the time of the run…" went with it (it stayed for the run)."""
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=60_000)
    window.model_panel.run_form.set_values({"steps": 2, "batch_size": 8, "preview_every_s": 0, "eval_every": 0})
    assert window.estimator.busy()
    label = window.model_panel.estimate_label
    assert "Estimating" in label.text()
    assert window.start_training()
    assert "Estimating" not in label.text(), label.text()
    qtbot.waitUntil(lambda: window.session is None, timeout=120_000)
    assert "Estimating" not in label.text() and "Estimated" not in label.text(), label.text()


def test_a_narrow_run_title_keeps_its_step_and_cuts_the_folder(window, qtbot, ddpm_run):
    """The run title elides at its end (the folder name), never in the middle of "step 352 / 1,200"."""
    assert window.open_run(ddpm_run)
    title = window.training_view.title
    window._show_meta({"model": "ddpm", "dataset": "mnist5k", "status": "stopped", "step": 352, "total_steps": 1200})
    title.resize(title.fontMetrics().horizontalAdvance("ddpm on mnist5k · stopped · step 352 / 1,200 · ddpm-mn"), title.height())
    shown = title.text()
    assert shown.endswith("…") and shown.startswith("ddpm on mnist5k · stopped · step 352 / 1,200 · "), shown
    assert title.toolTip().endswith("ddpm-mnist5k-20261206-152243")


def test_a_folder_that_loads_nothing_hides_the_previous_sets_histogram(window, qtbot, tmp_path):
    """After mnist5k, a folder with no readable image: the empty class histogram (mnist5k's axes) goes, so the
    list of skipped files sits right under the message instead of below an empty plot."""
    dp = window.dataset_panel
    qtbot.waitUntil(dp.is_usable, timeout=60_000)
    assert dp.histogram.isVisibleTo(dp)
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    (folder / "b.jpg").write_bytes(b"")
    dp.source_box.setCurrentIndex(2)
    dp.path_edit.setText(str(folder))
    dp.reload()
    qtbot.waitUntil(lambda: dp.error is not None and not dp.is_loading(), timeout=20_000)
    assert not dp.histogram.isVisibleTo(dp)
    assert dp.problems.isVisibleTo(dp) and dp.problems.count() == 2


def test_the_estimate_times_steps_with_the_threads_the_run_will_use(qtbot, monkeypatch):
    """The form's estimate ran with torch's default (every core) before the first run, the run with one core
    fewer: on a busy 2-core machine the first launch read 15 s a step for a 0.6 s step."""
    import torch

    from genstudio.core import device
    from genstudio.core.estimate import StepTiming
    from genstudio.core.spec import RunSpec
    from genstudio.ui import estimate_job

    seen: list[int] = []

    def fake_measure(spec, dataset, cancel):
        seen.append(torch.get_num_threads())
        return StepTiming(0.5, 3, spec.run.batch_size, spec.run.batch_size)

    before = torch.get_num_threads()
    monkeypatch.setattr(estimate_job, "measure_step", fake_measure)
    monkeypatch.setattr(device, "default_threads", lambda gui: 1 if gui else 3)
    torch.set_num_threads(3)  # torch's default on a 3-core machine: every core
    try:
        est = estimate_job.StepEstimator(debounce_ms=0)
        spec = RunSpec.create("toy", "moons", {"steps": 100}, {}, {"n_points": 200})
        est.request(lambda: spec, object())
        qtbot.waitUntil(lambda: est.measurements == 1, timeout=20_000)
        assert seen == [1]
        assert "Estimated time" in est.last_text
    finally:
        torch.set_num_threads(before)
