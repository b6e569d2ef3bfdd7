"""The flow panel on tiny runs: density heatmap, the layer slider bending the grid, log-det maps,
IAF/MAF speed text, and temperature samples with a small invertibility error on an image flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt

from genstudio.core.engine import train
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.ui.panels import PanelContext, panels_for
from genstudio.ui.panels.builtin import load_builtin_panels
from genstudio.ui.panels.flow.panel import FlowPanel
from genstudio.ui.panels.flow.prepare import reference_entropy
from genstudio.ui.panels.flow_math import polyline_arrays, robust_range

RUN = {"batch_size": 64, "log_every": 10, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


def tiny_run(tmp_path, model, dataset, steps=30, data=None, **over):
    out = tmp_path / model
    spec = RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    return out


def open_panel(qtbot, run_dir):
    meta = RunFolder(run_dir).meta
    assert "Invertible" in meta["capabilities"] and "Latent" in meta["capabilities"]
    panel = FlowPanel(PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
    qtbot.addWidget(panel)
    panel.resize(1300, 600)
    panel.show()
    qtbot.waitUntil(lambda: panel.view is not None, timeout=60_000)
    return panel


def test_registered_for_invertible_models():
    load_builtin_panels()
    assert "Flow" in [t for t, _ in panels_for(["Latent", "Encoder", "Likelihood", "Invertible"])]


def test_drawing_helpers_and_reference_entropy():
    xs, ys, connect = polyline_arrays(np.arange(12, dtype=float).reshape(2, 3, 2))
    assert xs.tolist() == [0, 2, 4, 6, 8, 10] and connect.tolist() == [1, 1, 0, 1, 1, 0]
    (x0, x1), _ = robust_range(np.concatenate([np.random.default_rng(0).uniform(0, 1, (500, 2)), [[1e6, 1e6]]]))
    assert -0.5 < x0 < 0 and 1 < x1 < 1.5  # one stray point does not zoom the view out
    assert reference_entropy("8gaussians", 0.05)[0] == pytest.approx(2.832)
    assert reference_entropy("checkerboard", 0.05)[0] == pytest.approx(math.log(32))
    moons, source = reference_entropy("moons", 0.05)
    assert moons == pytest.approx(0.28, abs=0.03) and "Monte Carlo" in source  # the figure test_flows states
    assert reference_entropy("swissroll", 0.05) == (None, "")


def test_points_density_slider_and_logdet(qtbot, tmp_path):
    run = tiny_run(tmp_path, "realnvp", "moons", steps=40, data={"n_points": 2000}, couplings=4, hidden=32, lr=3e-3)
    panel = open_panel(qtbot, run)
    view = panel.view
    assert panel.pages.currentIndex() == 0
    # The density heatmap is drawn, finite and not flat; its mass over the view is at most about 1.
    assert panel.density_image.shape == (200, 200) and np.isfinite(panel.density_image).all()
    assert panel.density_image.max() > panel.density_image.min() > -1e-12
    assert 0.3 < view.points.maps.mass() < 1.05
    # The whole flow's log-det map is drawn from the start.
    assert panel.logdet_choice.currentIndex() == 0 and panel.logdet_image is view.points.maps.logdet_total
    assert panel.logdet_item.image is not None and panel.logdet_item.image.shape == (200, 200)
    assert "Validation NLL" in panel.readout.text() and "differential entropy of moons" in panel.readout.text()
    # The images fill their plots: each one's rectangle is exactly the axes' range, at any shape of the plot.
    for size in ((1300, 600), (700, 900)):
        panel.resize(*size)
        qtbot.wait(50)
        for plot, item in ((panel.density_plot, panel.density_item), (panel.logdet_plot, panel.logdet_item)):
            rect = item.mapRectToView(item.boundingRect())
            (vx0, vx1), (vy0, vy1) = plot.getPlotItem().getViewBox().viewRange()
            x0, x1, y0, y1 = view.points.extent
            assert (rect.left(), rect.right(), rect.top(), rect.bottom()) == pytest.approx((x0, x1, y0, y1), rel=1e-6)
            assert (vx0, vx1, vy0, vy1) == pytest.approx((x0, x1, y0, y1), rel=1e-6), f"{size}: the axes show more than the image"
    # Moving the slider changes the drawn grid; the first stage is the regular grid itself.
    assert panel.stage == 0
    regular = panel.drawn_grid.copy()
    assert np.allclose(regular[0, :, 0], regular[0, 0, 0])  # a vertical line is straight in data space
    last = panel.slider.maximum()
    assert last == len(view.stage_labels) - 1 == 4 + 1
    panel.slider.setValue(last)
    assert panel.stage == last and not np.allclose(panel.drawn_grid, regular)
    assert "the base z" in panel.stage_label.text()
    # The log-det of one stage differs from the whole flow's; a coupling's is not constant.
    qtbot.keyClick(panel.slider, Qt.Key.Key_Left)
    panel.logdet_choice.setCurrentIndex(1)
    stage_map = panel.logdet_image.copy()
    panel.logdet_choice.setCurrentIndex(0)
    assert not np.allclose(stage_map, panel.logdet_image)
    assert stage_map.std() > 0
    # base -> data: at stage 0 the pulled-back prior samples are the model's samples.
    panel.direction.setCurrentIndex(1)
    panel.slider.setValue(0)
    assert np.allclose(panel.warp_points_item.getData()[0], view.points.inverse_samples[0][:, 0])
    assert not panel.sample_item.isVisible()
    panel.show_samples_box.setChecked(True)
    assert panel.sample_item.isVisible()
    assert view.invertibility_error < 1e-4 and "invertibility error" in panel.readout.text()
    panel.shutdown()


def test_maf_and_iaf_say_which_direction_is_fast(qtbot, tmp_path):
    for model, fast in (("maf", "density is the fast direction"), ("iaf", "sampling is the fast direction")):
        run = tiny_run(tmp_path, model, "8gaussians", steps=5, data={"n_points": 500}, flow_layers=2, hidden=16)
        panel = open_panel(qtbot, run)
        text = panel.speed_label.text()
        assert fast in text and "sampling 1,000" in text and "density of grid points 40,000" in text
        assert "gap" in panel.readout.text()
        panel.shutdown()


def test_image_flow_temperatures_latents_and_invertibility(qtbot, tmp_path):
    run = tiny_run(tmp_path, "realnvp", "digits", steps=10, scales=2, channels=8, blocks=0)
    panel = open_panel(qtbot, run)
    assert panel.pages.currentIndex() == 1
    report = panel.view.image
    assert sorted(report.samples) == [0.0, 0.5, 0.7, 0.85, 1.0]
    assert panel.temperature_view.has_image()
    grid = panel.temperature_view.image()
    assert grid.height() == 5 * (8 + 1) + 1 and grid.width() == 8 * (8 + 1) + 1  # 5 temperatures x 8 samples
    assert len(panel.latent_views) == 2 and all(v.has_image() for _, v in panel.latent_views)
    assert panel.temperature_view.target_rect().top() == 0  # right under its caption, not centred below a gap
    # Each scale's heatmaps sit right under their title and under the example, across the column (beside the
    # example they were ~90 px wide at 1920x1080, centred far below their titles).
    qtbot.wait(50)
    example_bottom = panel.example_view.mapTo(panel, panel.example_view.rect().bottomLeft()).y()
    for label, view in panel.latent_views:
        drawn = view.target_rect()
        assert drawn.top() == 0 and view.mapTo(panel, view.rect().topLeft()).y() > example_bottom
        assert view.mapTo(panel, view.rect().topLeft()).y() - label.mapTo(panel, label.rect().bottomLeft()).y() <= 8
        assert drawn.width() >= 150, drawn
    # In the room the tab has at 1366x768 the column still fits: its caption keeps the height its lines need.
    panel.resize(915, 570)
    qtbot.wait(50)
    cap = panel.latent_caption
    assert cap.height() >= cap.heightForWidth(cap.width()), (cap.height(), cap.heightForWidth(cap.width()))
    assert panel.view.invertibility_error < 1e-3
    text = panel.readout.text()
    assert "bits/dim" in text and "exact" in text and "invertibility error" in text
    panel.shutdown()


def test_view_extent_is_a_square_around_the_data():
    from genstudio.ui.panels.flow_math import view_extent

    x0, x1, y0, y1 = view_extent(np.zeros((0, 2)), (0.0, 4.0, 0.0, 1.0), margin=0.25)
    assert (x0, x1) == (-1.0, 5.0) and (y0, y1) == (-2.5, 3.5)
