"""The GAN view on tiny runs: heatmap, arrows and points on 2-D data, D histograms
on images, stepping D or G in the sandbox (on its own thread, never the GUI's),
slow-motion play, pause, drawn data, failures shown, closing during play."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from genstudio.core.engine import train
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.ui.panels import PanelContext, panels_for
from genstudio.ui.panels.builtin import load_builtin_panels
from genstudio.ui.panels.gan_math import arrow_segments, heatmap_grid, view_extent

RUN = {"batch_size": 32, "log_every": 10, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


def tiny_run(tmp_path, model, dataset, steps=20, data=None, **over):
    out = tmp_path / model
    spec = RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    return out


def open_panel(qtbot, run_dir):
    from genstudio.ui.panels.gan.panel import GanViewPanel

    meta = RunFolder(run_dir).meta
    assert "Adversarial" in meta["capabilities"]
    panel = GanViewPanel(PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    return panel


def settle(qtbot, panel):
    """Wait until the sandbox's worker has run every step asked for and the panel shows the result."""
    qtbot.waitUntil(panel.idle, timeout=60_000)


def click(qtbot, panel, button):
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle(qtbot, panel)


def test_geometry_helpers():
    grid = heatmap_grid((0.0, 2.0, 0.0, 1.0), 4)
    assert grid.shape == (16, 2) and np.allclose(grid[0], [0.25, 0.125]) and np.allclose(grid[-1], [1.75, 0.875])
    xs, ys = arrow_segments(np.zeros((2, 2)), np.array([[1.0, 0.0], [0.0, 2.0]]), span=10.0, fraction=0.1)
    assert np.allclose(xs, [0, 0.5, 0, 0]) and np.allclose(ys, [0, 0, 0, 1.0])  # the longest arrow is 1 = 0.1 * 10
    assert view_extent(np.zeros((0, 2)), (0.0, 1.0, 0.0, 2.0), margin=0.5) == (-0.5, 1.5, -1.0, 3.0)


def test_registered_for_adversarial_models():
    load_builtin_panels()
    assert "GAN" in [t for t, _ in panels_for(["Latent", "Adversarial"])]


def test_points_heatmap_arrows_steps_and_modes(qtbot, tmp_path):
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 1000}, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    assert panel.plot.isVisible() and not panel.hist.isVisible()
    assert panel.heat.shape == (64, 64) and 0 <= panel.heat.min() <= panel.heat.max() <= 1
    # The heatmap image covers exactly the view's extent (64 cells, not one cell stretched over everything).
    rect = panel.heat_item.mapRectToParent(panel.heat_item.boundingRect())
    x0, x1, y0, y1 = panel.extent
    assert np.allclose([rect.left(), rect.right(), rect.top(), rect.bottom()], [x0, x1, y0, y1], atol=1e-6)
    assert panel.fakes.shape == (500, 2)
    xs, ys = panel.arrows
    assert len(xs) == 2 * 150 and np.isfinite(xs).all()
    assert "modes covered" in panel.modes_text
    assert not panel.losses.isVisible()  # no sandbox step yet: no empty loss axes

    model = panel.data.model
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    heat0 = panel.heat.copy()
    click(qtbot, panel, panel.step_d)  # D only: G untouched
    assert all(torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    assert not np.allclose(heat0, panel.heat)
    d1 = [p.clone() for p in model.discriminator.parameters()]
    fakes0 = panel.fakes.copy()
    click(qtbot, panel, panel.step_g)  # G only: D untouched, the fakes move
    assert all(torch.equal(a, b) for a, b in zip(d1, model.discriminator.parameters()))
    assert not np.allclose(fakes0, panel.fakes)
    assert panel.sandbox_steps == 2 and len(panel.history["d_loss"]) == 2
    assert panel.losses.isVisible()  # the loss plot comes with the first steps
    assert "d_loss" in panel.last_stats and "g_loss" in panel.last_stats

    # Play at full speed for a moment, then pause.
    panel.speed.setValue(9)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: panel.sandbox_steps >= 10, timeout=10_000)
    # The label shows the rate play achieves beside the slider's target (8 steps per 16 ms tick).
    qtbot.waitUntil(lambda: "achieved" in panel.speed_label.text(), timeout=10_000)
    assert panel.speed_label.text().startswith("up to 500 steps/s") and 0 < panel.achieved_rate() < 1000
    panel.play.setChecked(False)
    assert "achieved" not in panel.speed_label.text()
    settle(qtbot, panel)  # paused: the worker stops after its tick and the panel shows its last step
    paused = panel.sandbox_steps
    assert panel.history["step"][-1] == paused and panel.worker.steps == paused
    # A single step while paused is exactly one step, of D alone.
    g1 = [p.clone() for p in model.generator.parameters()]
    click(qtbot, panel, panel.step_d)
    assert panel.sandbox_steps == paused + 1 and all(torch.equal(a, b) for a, b in zip(g1, model.generator.parameters()))
    panel.grab().save(str(tmp_path / "gan_view.png"))


def test_drawn_points_become_the_training_data(qtbot, tmp_path):
    run = tiny_run(tmp_path, "wgan-gp", "moons", data={"n_points": 500}, hidden=32, layers=2, d_steps=2)
    panel = open_panel(qtbot, run)
    assert panel.data.model.d_output_kind == "score"
    panel.draw_box.setChecked(True)
    vb = panel.plot.getPlotItem().vb
    pt = panel.plot.mapFromScene(vb.mapViewToScene(QPointF(0.5, 0.25)))
    qtbot.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=pt)
    assert len(panel.drawn) == 1 and np.allclose(panel.drawn[0].mean(0), [0.5, 0.25], atol=0.15)
    panel.add_drawn_points(-0.5, 0.5)
    real, labels = panel.training_points()
    assert real.shape == (24, 2) and labels is None
    panel.step("both")
    settle(qtbot, panel)
    assert {"d_loss", "g_loss", "gp", "w_dist"} <= set(panel.last_stats)
    assert "drawn points" in panel.readout.text()
    csv = panel.save_drawing(tmp_path / "drawn.csv")
    from genstudio.data.dataset import DataOptions, load_dataset

    ds = load_dataset("csv", DataOptions(path=str(csv)))
    assert len(ds) == 24
    panel.clear_drawing()
    assert panel.training_points()[0].shape[0] == len(panel.data.real)
    # The worker trains on what the panel shows: drawn points, then the run's data again.
    assert len(panel.worker._real) == len(panel.data.real) and not panel.worker._drawn


def test_image_view_helpers(tmp_path):
    from genstudio.ui.panels.gan_math import rank_by_score, sandbox_window, score_histograms
    from genstudio.ui.panels.run_data import read_loss_history

    most, least = rank_by_score(np.array([0.2, 0.9, 0.5, 0.1]), k=2)
    assert most.tolist() == [1, 2] and least.tolist() == [3, 0]
    edges, r, f = score_histograms(np.array([0.9, 0.95]), np.array([0.05, 0.5, 0.51]), "probability", bins=10)
    assert edges[0] == 0 and edges[-1] == 1 and r.tolist() == [0] * 9 + [2] and f.sum() == 3 and f[0] == 1
    edges, r, f = score_histograms(np.array([-3.0]), np.array([5.0]), "score", bins=4)
    assert edges[0] == -3 and edges[-1] == 5 and r[0] == 1 and f[-1] == 1
    assert sandbox_window(5000, 3) == (4800, 5004) and sandbox_window(100, 50, first_step=10.0) == (10.0, 151)
    run = tiny_run(tmp_path, "lsgan", "digits", steps=30, hidden=32, layers=2)
    losses = read_loss_history(run)
    assert losses.step.tolist() == [10, 20, 30] and np.isfinite(losses.d_loss).all() and len(losses.g_loss) == 3


def test_image_gans_show_d_histograms(qtbot, tmp_path):
    run = tiny_run(tmp_path, "cgan", "digits", steps=10, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    assert panel.image_view.isVisible() and not panel.plot.isVisible() and not panel.draw_box.isVisible()
    assert not panel.losses.isVisible()  # on images the sandbox continues the run's curves in the image view
    real_counts, fake_counts = panel.hist_counts
    assert real_counts.sum() == min(128, len(panel.data.real)) and fake_counts.sum() == 128
    panel.step("both", 2)
    settle(qtbot, panel)
    assert panel.sandbox_steps == 2
    assert "sandbox steps" in panel.sandbox_label.text()


def test_dcgan_has_the_adversarial_view(qtbot, tmp_path):
    """DCGAN gets the tab: D(x) / D(G(z)) histograms, D and G curves side by side, most / least real, Step D / G."""
    from genstudio.core.capabilities import capabilities_of

    run = tiny_run(tmp_path, "dcgan", "digits", steps=20, g_channels=8, d_channels=8, z_dim=16)
    panel = open_panel(qtbot, run)
    model = panel.data.model
    assert "Adversarial" in capabilities_of(model) and model.d_output_kind == "probability"
    view = panel.image_view
    assert view.isVisible() and not panel.plot.isVisible()
    assert "private copy" in panel.sandbox_label.text() and "not changed" in panel.sandbox_label.text()
    real_counts, fake_counts = view.counts
    assert real_counts.sum() == min(128, len(panel.data.real)) and fake_counts.sum() == 128
    assert 0 <= min(view.means) <= max(view.means) <= 1
    most, least = view.strip_scores["fake_most"], view.strip_scores["fake_least"]
    assert len(most) == 8 and most.min() >= least.max() and np.all(np.diff(most) <= 0)
    assert view.strips["fake_most"].has_image() and view.strips["real_least"].has_image()
    # The run's losses were logged at steps 10 and 20; the sandbox continues after the checkpoint (step 20).
    run_x, _ = view.run_curves["d_loss"].getData()
    assert run_x.tolist() == [10, 20] and view.checkpoint_lines["g_loss"].value() == 20
    # No model view for dcgan: the image view takes the width (an empty side column kept ~160 px at 1366x768),
    # and the readout is a line under it that says what fills it.
    qtbot.wait(50)
    assert view.geometry().right() >= panel.width() - 30, (view.geometry(), panel.width())
    assert panel.readout.isVisible() and panel.readout.y() > view.geometry().bottom()
    assert "Step D, Step G" in panel.readout.text()

    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    hist0 = view.counts[1].copy()
    click(qtbot, panel, panel.step_d)  # D only: G untouched
    assert all(torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    d1 = [p.clone() for p in model.discriminator.parameters()]
    click(qtbot, panel, panel.step_g)  # G only: D untouched
    assert all(torch.equal(a, b) for a, b in zip(d1, model.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert panel.sandbox_steps == 2 and "2 sandbox steps" in panel.sandbox_label.text()
    sx, sy = view.sandbox_curves["d_loss"].getData()
    assert sx.tolist() == [21, 22] and np.isfinite(sy).all()
    assert panel.data.batch_size == 32  # the sandbox steps at the run's own batch size
    assert "one sandbox step in the background" in panel.readout.text()
    assert not np.array_equal(hist0, view.counts[1]) or not np.allclose(most, view.strip_scores["fake_most"])
    # The run's own checkpoint is untouched by the sandbox.
    from genstudio.core.loading import load_run_model

    on_disk, _, _ = load_run_model(run, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(g0, on_disk.generator.parameters()))
    panel.grab().save(str(tmp_path / "gan_image_view.png"))


# -- the sandbox steps off the GUI thread -------------------------------------------------------------------


def record_step_threads(model):
    """Wrap the sandbox model's step functions and optimisers: each call records the thread it ran on."""
    seen: list[tuple[str, threading.Thread]] = []

    def wrap(obj, name, label):
        inner = getattr(obj, name)

        def recorded(*args, **kwargs):
            seen.append((label, threading.current_thread()))
            return inner(*args, **kwargs)

        setattr(obj, name, recorded)

    wrap(model, "discriminator_step", "discriminator_step")
    wrap(model, "generator_step", "generator_step")
    for key, opt in model.optimizers().items():
        wrap(opt, "step", f"optimiser {key}")
    return seen


def play_and_step(qtbot, panel):
    """Step D, Step G, then play at full speed for a few ticks and pause: what a user does."""
    click(qtbot, panel, panel.step_d)
    click(qtbot, panel, panel.step_g)
    panel.speed.setValue(9)
    start = panel.sandbox_steps
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: panel.sandbox_steps >= start + 16, timeout=30_000)
    panel.play.setChecked(False)
    settle(qtbot, panel)


def test_the_sandbox_steps_on_a_worker_thread_and_the_gui_tick_runs_no_optimiser_step(qtbot, tmp_path):
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    seen = record_step_threads(panel.data.model)
    gui = threading.main_thread()
    assert threading.current_thread() is gui  # the test (and Qt's event loop) runs on the GUI thread
    play_and_step(qtbot, panel)
    optimiser_steps = [t for label, t in seen if label.startswith("optimiser")]
    assert len(optimiser_steps) >= 18  # D and G each stepped: the recording works
    assert {label for label, _ in seen} >= {"discriminator_step", "generator_step", "optimiser d", "optimiser g"}
    assert sum(t is gui for _, t in seen) == 0, "optimiser steps ran on the GUI thread"
    assert {t.name for _, t in seen} == {"genstudio-gan-sandbox"}
    assert panel.sandbox_steps == panel.worker.steps >= 18 and "in the background" in panel.readout.text()


def test_a_synchronous_sandbox_fails_the_thread_check(qtbot, tmp_path, monkeypatch):
    # The old path (kept for the latency benchmark's "before" case) steps inside the click and the timer
    # tick: the same recording sees every optimiser step on the GUI thread, so the check above catches it.
    from genstudio.ui.panels.gan.panel import GanViewPanel

    monkeypatch.setattr(GanViewPanel, "step_on_gui_thread", True)
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    seen = record_step_threads(panel.data.model)
    play_and_step(qtbot, panel)
    on_gui = sum(t is threading.main_thread() for _, t in seen)
    assert on_gui == len(seen) > 0 and not panel.worker_thread_alive()
    assert "on the UI thread" in panel.readout.text()


def test_closing_during_play_stops_the_worker(qtbot, tmp_path):
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    worker = panel.worker
    panel.speed.setValue(9)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: worker.steps >= 8, timeout=30_000)
    assert panel.worker_thread_alive()
    thread = worker.thread
    panel.close()  # as closing the tab or the window does (TrainingView.set_panels calls shutdown)
    assert not thread.is_alive()  # shutdown waited for the step in progress, then the loop ended
    after = worker.steps
    qtbot.wait(100)
    assert worker.steps == after


def test_closing_the_window_stops_a_playing_sandbox(window, qtbot, tmp_path):
    from genstudio.ui.panels.gan.panel import GanViewPanel

    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    assert window.open_run(run)
    tabs = window.training_view.tabs
    titles = [tabs.tabText(i) for i in range(tabs.count())]
    tabs.setCurrentIndex(titles.index("GAN"))
    panel = next(w for w in window.training_view.panel_widgets if isinstance(w, GanViewPanel))
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: panel.sandbox_steps >= 3, timeout=30_000)
    thread = panel.worker.thread
    assert thread.is_alive()
    window.close()
    assert not thread.is_alive()


def test_a_failing_step_is_shown_in_the_panel(qtbot, tmp_path):
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    model = panel.data.model

    def broken(*args, **kwargs):
        raise RuntimeError("D's loss is NaN")

    model.discriminator_step = broken
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: "The sandbox stopped" in panel.status.text(), timeout=30_000)
    assert "RuntimeError: D's loss is NaN" in panel.status.text() and "broken" in panel.status.toolTip()
    assert not panel.play.isChecked()
    qtbot.waitUntil(lambda: not panel.worker_thread_alive(), timeout=10_000)
    # A G step still works: the worker starts its loop again.
    click(qtbot, panel, panel.step_g)
    assert panel.sandbox_steps == 1 and "sandbox steps" in panel.status.text()


@pytest.mark.parametrize("what", ["d", "g", "both"])
def test_worker_without_qt_steps_and_snapshots(tmp_path, what):
    """The worker's step and snapshot are plain Python: run on the calling thread, its history follows."""
    from genstudio.ui.panels.gan.prepare import prepare_gan_view
    from genstudio.ui.panels.gan.worker import SandboxWorker

    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2)
    worker = SandboxWorker(prepare_gan_view(run))
    worker.advance(what, 3)
    snap = worker.snapshot()
    assert snap.steps == 3 and snap.heat.shape == (64, 64) and snap.fakes.shape == (500, 2)
    assert ("d_loss" in snap.stats) == (what != "g") and ("g_loss" in snap.stats) == (what != "d")
    steps, d_loss, g_loss = worker.history_since(0)
    assert steps == [3.0] and len(d_loss) == len(g_loss) == 1 and worker.history_since(1) == ([], [], [])


@pytest.mark.parametrize("on_gui_thread", [False, True], ids=["worker", "old-synchronous-path"])
def test_an_image_gan_view_computes_d_scores_histograms_and_strips_off_the_gui_thread(qtbot, tmp_path, monkeypatch, on_gui_thread):
    """While a DCGAN's sandbox steps and plays, D's forward pass on real and fake images, the histograms, the
    ranking and the strips' pictures run on the worker's thread; the UI thread only draws them, and the run's
    curves are drawn once, not at every view. The old synchronous path is shown caught by the same recording."""
    from genstudio.ui.panels.gan import worker as worker_module
    from genstudio.ui.panels.gan.panel import GanViewPanel

    monkeypatch.setattr(GanViewPanel, "step_on_gui_thread", on_gui_thread)
    run = tiny_run(tmp_path, "dcgan", "digits", steps=20, g_channels=8, d_channels=8, z_dim=16)
    panel = open_panel(qtbot, run)
    seen: list[tuple[str, threading.Thread]] = []
    model = panel.data.model
    discriminate, scores_view = model.discriminate, worker_module.scores_view
    model.discriminate = lambda *a, **k: seen.append(("D forward", threading.current_thread())) or discriminate(*a, **k)
    monkeypatch.setattr(worker_module, "scores_view", lambda *a, **k: seen.append(("scores view", threading.current_thread())) or scores_view(*a, **k))
    view = panel.image_view
    run_sets = []
    original = view.run_curves["d_loss"].setData
    view.run_curves["d_loss"].setData = lambda *a, **k: run_sets.append(1) or original(*a, **k)
    shown = view.counts[1].copy(), view.strip_scores["fake_most"].copy()
    play_and_step(qtbot, panel)
    assert {label for label, _ in seen} == {"D forward", "scores view"}
    on_gui = [label for label, t in seen if t is threading.main_thread()]
    if on_gui_thread:
        assert on_gui, "the recording must see the synchronous path's work on the GUI thread"
        return
    assert on_gui == [], f"on the GUI thread: {sorted(set(on_gui))}"
    assert not np.array_equal(shown[0], view.counts[1]) or not np.allclose(shown[1], view.strip_scores["fake_most"])
    assert run_sets == []  # the run's curves did not change: not redrawn at each view
    assert len(panel.draw_costs_ms()) >= 2  # what the latency benchmark reads
    assert view.sandbox_curves["d_loss"].opts["symbol"] is None or len(view.sandbox_curves["d_loss"].getData()[0]) <= 60
