"""The GAN view on tiny runs: heatmap, arrows and points on 2-D data, D histograms
on images, stepping D or G in the sandbox, slow-motion play, drawn data."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtCore import QPointF, Qt

from genstudio.core.engine import train
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.ui.panels import PanelContext, panels_for
from genstudio.ui.panels.builtin import load_builtin_panels
from genstudio.ui.panels.gan_view import arrow_segments, heatmap_grid, view_extent

RUN = {"batch_size": 32, "log_every": 10, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


def tiny_run(tmp_path, model, dataset, steps=20, data=None, **over):
    out = tmp_path / model
    spec = RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    return out


def open_panel(qtbot, run_dir):
    from genstudio.ui.panels.gan_view import GanViewPanel

    meta = RunFolder(run_dir).meta
    assert "Adversarial" in meta["capabilities"]
    panel = GanViewPanel(PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
    qtbot.addWidget(panel)
    panel.resize(1200, 700)
    panel.show()
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)
    return panel


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
    assert panel.fakes.shape == (500, 2)
    xs, ys = panel.arrows
    assert len(xs) == 2 * 150 and np.isfinite(xs).all()
    assert "modes covered" in panel.modes_text

    model = panel.data.model
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    heat0 = panel.heat.copy()
    qtbot.mouseClick(panel.step_d, Qt.MouseButton.LeftButton)  # D only: G untouched
    assert all(torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    assert not np.allclose(heat0, panel.heat)
    d1 = [p.clone() for p in model.discriminator.parameters()]
    fakes0 = panel.fakes.copy()
    qtbot.mouseClick(panel.step_g, Qt.MouseButton.LeftButton)  # G only: D untouched, the fakes move
    assert all(torch.equal(a, b) for a, b in zip(d1, model.discriminator.parameters()))
    assert not np.allclose(fakes0, panel.fakes)
    assert panel.sandbox_steps == 2 and len(panel.history["d_loss"]) == 2
    assert "d_loss" in panel.last_stats and "g_loss" in panel.last_stats

    # Play at full speed for a moment, then pause.
    panel.speed.setValue(9)
    panel.play.setChecked(True)
    qtbot.waitUntil(lambda: panel.sandbox_steps >= 10, timeout=10_000)
    panel.play.setChecked(False)
    assert not panel.timer.isActive()
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
    stats = panel.step("both")
    assert {"d_loss", "g_loss", "gp", "w_dist"} <= set(stats)
    assert "drawn points" in panel.readout.text()
    csv = panel.save_drawing(tmp_path / "drawn.csv")
    from genstudio.data.dataset import DataOptions, load_dataset

    ds = load_dataset("csv", DataOptions(path=str(csv)))
    assert len(ds) == 24
    panel.clear_drawing()
    assert panel.training_points()[0].shape[0] == len(panel.data.real)


def test_image_gans_show_d_histograms(qtbot, tmp_path):
    run = tiny_run(tmp_path, "cgan", "digits", steps=10, hidden=32, layers=2)
    panel = open_panel(qtbot, run)
    assert panel.hist.isVisible() and not panel.plot.isVisible() and not panel.draw_box.isVisible()
    real_counts, fake_counts = panel.hist_counts
    assert real_counts.sum() == min(500, len(panel.data.real)) and fake_counts.sum() == 500
    panel.step("both", 2)
    assert panel.sandbox_steps == 2
