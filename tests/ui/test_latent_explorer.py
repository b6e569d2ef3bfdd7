"""The latent explorer panel on tiny runs trained in the test: map clicks decode,
sliders change the image, the interpolation strip has N frames, class sweeps,
VQ code edits, GANs' prior maps on 2-D data, and a live run's first checkpoint."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from genstudio.core.engine import train
from genstudio.core.events import CheckpointSaved
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.ui.panels import PanelContext, panels_for
from genstudio.ui.panels.builtin import load_builtin_panels

RUN = {"batch_size": 32, "log_every": 10, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


def spec_for(model, dataset, steps=30, data=None, **over):
    return RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {})


def tiny_run(tmp_path, model, dataset, steps=30, data=None, **over):
    out = tmp_path / model
    events = list(train(spec_for(model, dataset, steps, data, **over), out))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    return out


def open_panel(qtbot, run_dir, live=False):
    from genstudio.ui.panels.latent.panel import LatentExplorerPanel

    meta = RunFolder(run_dir).meta
    ctx = PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}, live=live)
    panel = LatentExplorerPanel(ctx)
    qtbot.addWidget(panel)
    panel.resize(1100, 750)
    panel.show()
    return panel


def wait_ready(qtbot, panel):
    qtbot.waitUntil(lambda: panel.data is not None, timeout=30_000)


def click_view(qtbot, plot, x, y):
    """A real left click at view coordinates (x, y) of a pyqtgraph PlotWidget."""
    vb = plot.getPlotItem().vb
    pt = plot.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=pt)


def test_registered_for_latent_models():
    load_builtin_panels()
    assert "Latent" in [t for t, _ in panels_for(["Latent", "Encoder"])]
    assert "Latent" in [t for t, _ in panels_for(["Latent"])]


def test_vae_map_click_sliders_manifold_interpolation(qtbot, tmp_path):
    run = tiny_run(tmp_path, "vae", "digits", latent_dim=2, channels=8, hidden=32)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    d = panel.data
    assert d.projection.kind == "identity" and d.latents.shape[1] == 2 and d.score_name == "KL"
    assert len(panel.map_tab.scatter.data) == len(d.latents) > 100
    # Every class is named on the map, near the median of its points (names that would overlap are pushed apart).
    names = {item.textItem.toPlainText(): (item.pos().x(), item.pos().y()) for item in panel.map_tab.class_items}
    assert set(names) == {d.class_names[c] for c in np.unique(d.labels)}
    span = d.projection.coords.max(0) - d.projection.coords.min(0)
    off = (np.array(names[d.class_names[3]]) - np.median(d.projection.coords[d.labels == 3], axis=0)) / span
    assert np.hypot(*off) < 0.2, off

    # Click on an empty spot between two class centres: a decode appears there and becomes the current point.
    c0, c1 = d.latents[d.labels == 0].mean(0), d.latents[d.labels == 1].mean(0)
    mid = (c0 + c1) / 2 + np.array([0.0, 1e-3], np.float32)
    mx, my = float(mid[0]), float(mid[1])
    panel.map_tab.plot.getPlotItem().vb.setRange(xRange=(mx - 3, mx + 3), yRange=(my - 3, my + 3), padding=0)
    qtbot.wait(50)
    panel.map_tab.decoded.array = None
    click_view(qtbot, panel.map_tab.plot, float(mid[0]), float(mid[1]))
    qtbot.waitUntil(lambda: panel.map_tab.decoded.array is not None, timeout=5_000)
    assert panel.map_tab.decoded.array.shape == (1, 1, 8, 8)
    assert np.allclose(panel.current, mid, atol=0.1)
    assert panel.last_decode_ms > 0
    # An empty spot far from every example decodes exactly there (the latent is 2-D: the map is the latent).
    spot = mid + np.array([2.5, -2.5], np.float32)
    click_view(qtbot, panel.map_tab.plot, float(spot[0]), float(spot[1]))
    qtbot.waitUntil(lambda: "this spot" in panel.map_tab.click_label.text(), timeout=5_000)
    assert np.allclose(panel.current, spot, atol=0.05)
    # Hovering over an example shows it.
    i = int(np.argmin(np.abs(d.projection.coords - mid).sum(1)))
    vb = panel.map_tab.plot.getPlotItem().vb
    qtbot.mouseMove(panel.map_tab.plot.viewport(), panel.map_tab.plot.mapFromScene(vb.mapViewToScene(QPointF(*map(float, d.projection.coords[i])))))
    qtbot.waitUntil(lambda: panel.map_tab.hover_view.array is not None, timeout=5_000)
    assert panel.map_tab.hover_label.text().startswith("example ")

    # Hidden tabs decode nothing; shown, they catch up with the current point.
    assert panel.traversal_tab.rows.array is None and panel.manifold_tab.view.array is None
    panel.tabs.setCurrentWidget(panel.traversal_tab)
    assert panel.traversal_tab.live.array is not None
    # A slider move changes the live decode.
    j, slider, _ = panel.traversal_tab.sliders[0]
    before = panel.traversal_tab.live.array.copy()
    slider.setValue(0 if slider.value() > 100 else 200)
    after = panel.traversal_tab.live.array
    assert not np.allclose(before, after)
    assert panel.traversal_tab.rows.array.shape == (2 * 9, 1, 8, 8)
    assert panel.traversal_tab.rows_label.text().startswith("Rows: every dimension, most used first")

    # The manifold grid over the two dimensions.
    panel.tabs.setCurrentWidget(panel.manifold_tab)
    assert panel.manifold_tab.view.array.shape == (225, 1, 8, 8)
    # With a 2-D latent the grid keeps the map's orientation: z0 across, z1 up.
    assert (panel.manifold_tab.dim_x.currentData(), panel.manifold_tab.dim_y.currentData()) == (0, 1)
    panel.manifold_tab.size.setValue(7)
    assert panel.manifold_tab.view.array.shape == (49, 1, 8, 8)

    # The interpolation strip has N frames, in both modes; export as GIF.
    tab = panel.interp_tab
    panel.tabs.setCurrentWidget(tab)
    tab.frames_spin.setValue(6)
    assert tab.frames.shape == (6, 1, 8, 8)
    a_label = d.class_names[d.labels[tab.a_spin.value()]]
    assert tab.info.text().startswith(f"From A = example {tab.a_spin.value()} (label {a_label}) to B = example")
    assert tab.view.grid.shape[1] == 6 * 9 + 1
    # The strip sits right under its caption, not centred below a gap (seen at 1366x768).
    qtbot.wait(50)
    assert tab.view.image_view.target_rect().top() == 0
    assert tab.info.geometry().bottom() < tab.view.geometry().top()
    tab.mode.setCurrentText("slerp")
    assert tab.frames.shape[0] == 6
    gif = tab.export_gif(tmp_path / "strip.gif")
    assert Image.open(gif).n_frames == 6
    panel.grab().save(str(tmp_path / "vae.png"))


def test_tsne_projection_runs_in_the_background(qtbot, tmp_path):
    run = tiny_run(tmp_path, "ae", "digits", steps=10, latent_dim=6, channels=8, hidden=32)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    assert panel.data.projection.kind == "pca" and panel.data.score_name == "var"
    panel.map_tab.method.setCurrentIndex(2)
    qtbot.waitUntil(lambda: panel.data.projection.kind == "tsne", timeout=60_000)
    x, y = panel.data.projection.coords[5]
    z = panel.map_tab.click_at(float(x), float(y))
    assert np.allclose(z, panel.data.latents[5])  # on a point: that example's exact latent


def test_cvae_class_sweep(qtbot, tmp_path):
    run = tiny_run(tmp_path, "cvae", "digits", latent_dim=4, channels=8, hidden=32, iw_samples=2, iw_examples=2)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    assert panel.tabs.indexOf(panel.class_tab) >= 0 and panel.class_combo.isVisible()
    panel.tabs.setCurrentWidget(panel.class_tab)
    assert panel.class_tab.grid_shape == (10, 8)
    assert panel.class_tab.view.array.shape == (80, 1, 8, 8)
    panel.tabs.setCurrentWidget(panel.traversal_tab)
    before = panel.traversal_tab.live.array.copy()
    panel.class_combo.setCurrentIndex(7)
    assert not np.allclose(before, panel.traversal_tab.live.array)


def test_vq_vae_codebook_edits(qtbot, tmp_path):
    run = tiny_run(tmp_path, "vq-vae", "digits", num_codes=16, code_dim=4, channels=8)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    tab = panel.codebook_tab
    assert panel.tabs.indexOf(tab) >= 0
    n = len(panel.data.examples)
    assert panel.data.vq_usage.sum() == n * 2 * 2  # 8x8 digits: a 2x2 code map each
    assert "codes used" in tab.usage_label.text()
    before = tab.edited.array.copy()
    code = int(tab.codes[0, 0])
    tab.set_code(0, 0, (code + 5) % 16)
    assert tab.codes[0, 0] == (code + 5) % 16
    assert not np.allclose(before, tab.edited.array)
    tab.set_code(0, 1, 99)  # out of range: refused, the cell keeps its code
    assert "from 0 to 15" in panel.status.text() and tab.table.item(0, 1).text() == str(int(tab.codes[0, 1]))


def test_gan_on_points_maps_prior_draws(qtbot, tmp_path):
    run = tiny_run(tmp_path, "gan", "8gaussians", data={"n_points": 500}, hidden=32, layers=2, z_dim=2)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    d = panel.data
    assert d.examples is None and "prior" in d.source and d.projection.kind == "identity"
    assert panel.tabs.indexOf(panel.class_tab) < 0 and panel.tabs.indexOf(panel.codebook_tab) < 0
    z = panel.map_tab.click_at(0.5, -0.25)
    assert panel.map_tab.decoded.array.shape == (1, 2)
    assert panel.map_tab.decoded.currentWidget() is panel.map_tab.decoded.plot
    panel.tabs.setCurrentWidget(panel.interp_tab)
    assert panel.interp_tab.frames.shape == (10, 2)
    assert np.isfinite(z).all()


def test_live_run_loads_on_the_first_checkpoint(qtbot, tmp_path):
    out = tmp_path / "live"
    events = train(spec_for("vae", "digits", 10, channels=8, hidden=32), out)
    panel = open_panel(qtbot, out, live=True)
    qtbot.waitUntil(lambda: "Waiting for the first checkpoint" in panel.status.text(), timeout=20_000)
    assert panel.data is None and not panel.tabs.isEnabled()
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert saved
    panel.hide()  # a hidden tab only notes the checkpoint...
    panel.on_event(saved[-1])
    qtbot.wait(1500)
    assert panel.data is None
    with qtbot.waitSignal(panel.data_ready, timeout=30_000):
        panel.show()  # ...and loads it when shown
    assert panel.data.step == 10
    with qtbot.waitSignal(panel.data_ready, timeout=30_000):
        panel.on_event(saved[-1])  # shown: loads at once
    assert panel.data.step == 10 and panel.tabs.isEnabled()
    panel.shutdown()


def test_a_flow_with_a_class_prior_is_explored_as_one_latent_space(qtbot, tmp_path):
    """Glow's default learns a prior per class, so it is Conditional; its map from z to x is the same for every
    class, so the explorer encodes the examples without labels and offers no class sweep (it once failed to load)."""
    # Not tiny_run: Glow's own "steps" (K per level) would take that helper's step count.
    events = list(train(RunSpec.create("glow", "digits", {**RUN, "steps": 4}, {"channels": 8}), tmp_path / "glow"))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    panel = open_panel(qtbot, tmp_path / "glow")
    wait_ready(qtbot, panel)
    assert panel.data.model.class_prior is not None and panel.data.num_classes == 0
    assert "encoded validation examples" in panel.data.source
    assert panel.tabs.indexOf(panel.class_tab) < 0
    panel.map_tab.click_at(0.0, 0.0)
    assert panel.map_tab.decoded.array.shape[-2:] == (8, 8)
