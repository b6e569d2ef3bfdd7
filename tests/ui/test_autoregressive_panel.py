"""The Autoregressive panel on tiny runs: stepping, hover distributions, receptive fields, completion, MADE masks, WaveNet."""

from __future__ import annotations

import wave

import numpy as np
import pytest
import torch

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
TINY = {
    "gated-pixelcnn": {"channels": 12, "layers": 3, "first_kernel": 3, "output_hidden": 12},
    "pixelcnn": {"hidden": 12, "blocks": 3, "first_kernel": 3, "output_hidden": 12},
    "made": {"hidden": 40, "layers": 2, "order": "random", "num_masks": 2},
    "wavenet": {"residual_channels": 8, "skip_channels": 8, "dilation_layers": 4, "stacks": 1, "output_hidden": 16, "train_window": 128},
}


def make_run(root, model_id, dataset="digits"):
    out = root / model_id
    spec = RunSpec.create(model_id, dataset, {**RUN, "steps": 2}, TINY[model_id])
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ar-runs")
    return {m: make_run(root, m, "waveforms" if m == "wavenet" else "digits") for m in TINY}


def make_panel(qtbot, run_dir):
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    titles = dict(panels_for(["Autoregressive", "Likelihood"]))
    assert "Autoregressive" in titles
    panel = titles["Autoregressive"](PanelContext(run_dir=run_dir, capabilities=["Autoregressive", "Likelihood"]))
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    return panel


def pause_autoplay(gen):
    """The tab plays by itself when first shown: the stepping tests start from a paused, fresh run."""
    gen.play_button.setChecked(False)
    gen.reset()


def step_once(qtbot, gen):
    with qtbot.waitSignal(gen.frame_shown, timeout=10_000):
        gen.step_button.click()
    return gen.image_view._array.copy()


def pixel_block(picture, k, i, j, ncols, h, w):
    """Pixel (i, j) of example k in a tile_grid picture (pad 1)."""
    r, c = divmod(k, ncols)
    return picture[1 + r * (h + 1) + i, 1 + c * (w + 1) + j]


def test_stepping_changes_exactly_the_next_pixels_in_order_and_hover_shows_a_distribution(qtbot, runs):
    panel = make_panel(qtbot, runs["gated-pixelcnn"])
    gen = panel.generation
    model = panel.model
    assert "NLL (exact)" in panel.info.text() and "bits/dim" in panel.info.text()
    pause_autoplay(gen)
    gen.n_spin.setValue(4)
    gen.class_combo.setCurrentIndex(gen.class_combo.findData("cycle"))
    h, w, n, ncols = model.height, model.width, 4, 2
    order = [p for step in model.generation_order() for p in step]
    before = step_once(qtbot, gen)  # first pixel
    ncols = gen.image_view.geometry_[1]  # the columns that fit the view
    assert gen.frame.positions == [order[0]]
    for r in range(1, 12):
        after = step_once(qtbot, gen)
        changed = np.argwhere((after != before).any(-1))
        cells = set()
        for y, x in changed:
            r_, c_ = divmod(int(y) - 1, h + 1), divmod(int(x) - 1, w + 1)
            cells.add((r_[0] * ncols + c_[0], r_[1], c_[1]))
        _, i, j = order[r]
        assert cells == {(k, i, j) for k in range(n)}, f"step {r}: changed {sorted(cells)}, expected pixel {(i, j)}"
        assert gen.frame.positions == [order[r]]
        before = after
    assert "12 of 64 steps" in gen.progress_label.text()
    # Hover a drawn pixel and a pixel not drawn yet: both are distributions (bernoulli: two bars summing to 1).
    for (i, j) in [(0, 3), (5, 5)]:
        point = gen.image_view.widget_point(1, i + 0.5, j + 0.5)
        qtbot.mouseMove(gen.image_view, point.toPoint())
        qtbot.waitUntil(lambda: gen.hover == (1, i, j), timeout=5_000)
        assert gen.distribution.shape == (2,) and gen.distribution.sum() == pytest.approx(1.0, abs=1e-6)
    assert "not drawn yet" in gen.dist_label.text()
    probs = gen.show_distribution(1, 0, 3)
    assert "drawn:" in gen.dist_label.text() and probs.sum() == pytest.approx(1.0, abs=1e-6)
    # Play at full speed finishes the run, and the sample equals model.sample for the seed and labels.
    gen.speed_slider.setValue(gen.speed_slider.maximum())
    gen.play_button.setChecked(True)
    qtbot.waitUntil(lambda: gen.frame is not None and gen.frame.finished, timeout=30_000)
    ref = model.sample_conditional(torch.arange(4) % model.num_classes, torch.Generator().manual_seed(0))
    assert torch.equal(gen.frame.data, ref)
    assert not gen.play_button.isChecked()
    panel.shutdown()


def test_the_tab_plays_by_itself_once_shown_and_its_plot_follows_the_drawing(qtbot, runs):
    from genstudio.models.autoregressive import inspect as ar
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    factory = dict(panels_for(["Autoregressive", "Likelihood"]))["Autoregressive"]
    panel = factory(PanelContext(run_dir=runs["gated-pixelcnn"], capabilities=["Autoregressive", "Likelihood"]))
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.tabs.setCurrentWidget(panel.receptive)  # the Generation tab is hidden: it waits, costing no CPU
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    gen = panel.generation
    qtbot.wait(200)
    assert gen.task is None and gen.frame is None and not gen.play_button.isChecked()
    gen.speed_slider.setValue(gen.speed_slider.maximum())
    panel.tabs.setCurrentWidget(gen)  # shown: it plays without a press
    assert gen.play_button.isChecked() and gen.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: gen.frame is not None and gen.frame.finished, timeout=30_000)
    frame = gen.frame
    # The plot shows the distribution the last drawn pixel of sample 0 came from, computed on the worker.
    assert frame.followed is not None and frame.followed.position == frame.positions[-1]
    c, i, j = frame.followed.position
    labels = gen.labels()
    expected = ar.position_distribution(panel.model, frame.data[:1], c, i, j, None if labels is None else labels[:1])
    assert np.allclose(gen.distribution, expected, atol=1e-6)
    text = gen.dist_label.text()
    assert f"sample 0, pixel ({i}, {j})" in text and "followed while drawing" in text and "drawn:" in text
    assert gen.dist_view.value_line.isVisible()
    assert gen.image_view.outlines[-1][:5] == (0, i, j, 1, 1)  # the followed pixel is boxed on the samples
    # The grid's columns follow the view's shape, keeping the boxes on screen.
    gen.image_view.setMinimumSize(0, 0)
    gen.image_view.setFixedSize(600, 120)
    qtbot.wait(20)
    assert gen.image_view.geometry_[1] == 8 and gen.image_view.outlines[-1][:5] == (0, i, j, 1, 1)  # 8 x 2 in 600 x 120
    gen.image_view.setFixedSize(120, 600)
    qtbot.wait(20)
    assert gen.image_view.geometry_[1] <= 2
    # ... in a box large enough to find on a small grid (a one-pixel box is a 2-3 px dot).
    gen.image_view.setFixedSize(150, 120)  # about 2 screen pixels a data pixel, as on a laptop
    qtbot.wait(20)
    shot = gen.image_view.grab().toImage()
    centre = gen.image_view.widget_point(0, i + 0.5, j + 0.5).toPoint()
    yellow = [dx for dx in range(-8, 9) for dy in range(-8, 9)
              if shot.valid(centre.x() + dx, centre.y() + dy)
              and shot.pixelColor(centre.x() + dx, centre.y() + dy).getRgb()[:3] == (250, 200, 40)]
    assert yellow and max(yellow) - min(yellow) >= 7, yellow  # without the minimum size: 3 px across
    # A second showing does not start another run; the cursor takes over the plot from the worker.
    panel.tabs.setCurrentWidget(panel.receptive)
    panel.tabs.setCurrentWidget(gen)
    assert gen.frame is frame and not gen.play_button.isChecked()
    gen.show_distribution(1, 2, 3)
    assert gen.task.follow is None and "sample 1, pixel (2, 3), given the pixels before it" in gen.dist_label.text()
    # A new setting while playing starts over and keeps playing; while paused it waits for Step or Play.
    gen.speed_slider.setValue(0)
    gen.play_button.setChecked(True)  # finished: New run is needed, and the button says so
    assert not gen.play_button.isChecked()
    gen.seed_spin.setValue(3)
    assert gen.frame is None and not gen.play_button.isChecked()
    gen.play_button.setChecked(True)
    gen.seed_spin.setValue(4)
    assert gen.play_button.isChecked() and gen.task is not None and gen.task.stepper.seed == 4
    panel.shutdown()


def test_pause_stop_and_row_steps(qtbot, runs):
    panel = make_panel(qtbot, runs["pixelcnn"])
    gen = panel.generation
    pause_autoplay(gen)
    gen.n_spin.setValue(2)
    gen.unit_combo.setCurrentIndex(gen.unit_combo.findData("row"))
    step_once(qtbot, gen)
    assert gen.frame.positions == [(0, 0, j) for j in range(panel.model.width)]
    gen.speed_slider.setValue(0)  # one step a second: pausing catches it midway
    gen.play_button.setChecked(True)
    gen.play_button.setChecked(False)
    done = gen.frame.index
    qtbot.wait(300)
    assert gen.frame.index <= done + 1 and not gen.frame.finished
    gen.new_button.click()  # stops the old thread; a fresh run starts at step 0
    assert gen.frame is None
    step_once(qtbot, gen)
    assert gen.frame.index == 1
    # A checkpoint of the live run reloads the model but leaves the run on screen, and stepping goes on.
    from genstudio.core.events import CheckpointSaved

    old_model = panel.model
    with qtbot.waitSignal(panel.model_loaded, timeout=30_000):
        panel.on_event(CheckpointSaved(step=2, path=""))
    assert panel.model is not old_model and gen.frame is not None and gen.frame.index == 1
    step_once(qtbot, gen)
    assert gen.frame.index == 2
    panel.shutdown()
    assert gen.task is None


def test_receptive_field_blind_spot_pixelcnn_not_gated(qtbot, runs):
    results = {}
    for name in ("pixelcnn", "gated-pixelcnn"):
        panel = make_panel(qtbot, runs[name])
        tab = panel.receptive
        panel.tabs.setCurrentWidget(tab)
        i, j = 5, 3
        with qtbot.waitSignal(tab.computed, timeout=20_000):
            tab.set_target(0, i, j)
        results[name] = tab.rf
        assert tab.map_view.has_image() and "blind spot" in tab.summary.text()
        tab.mode_combo.setCurrentIndex(1)  # binary view redraws without recomputing
        picture = tab.map_view._array
        assert tuple(picture[i, j]) == (40, 200, 60)
        panel.shutdown()
    pc, gc = results["pixelcnn"], results["gated-pixelcnn"]
    assert pc.blind[4, 5] and not pc.gradient[4, 5]  # (i - 1, j + 2): earlier in raster order, never reached
    assert not gc.blind.any() and gc.gradient[4, 5] > 0
    assert not pc.leaks.any() and not gc.leaks.any()


def test_completion_keeps_unmasked_pixels_and_draws_a_rectangle(qtbot, runs):
    panel = make_panel(qtbot, runs["gated-pixelcnn"])
    tab = panel.completion
    panel.tabs.setCurrentWidget(tab)
    tab.count_spin.setValue(2)
    tab.per_spin.setValue(3)
    tab.preset_combo.setCurrentText("bottom half")
    with qtbot.waitSignal(tab.completed, timeout=30_000):
        tab.run_button.click()
    x = panel.loaded.examples[:2]
    mask = tab.mask()
    out = tab.result
    assert out.shape == (6, 1, 8, 8)
    keep = mask.expand(6, 1, 8, 8) > 0
    assert torch.equal(out[keep], x.repeat_interleave(3, 0)[keep])
    assert tab.result_view.has_image()
    # Both grids sit right under their captions, not centred below a gap (seen in the screenshots).
    assert tab.editor.height() > tab.editor.target_rect().height() + 20  # room to centre it in
    assert tab.editor.target_rect().top() == 0 and tab.result_view.target_rect().top() == 0
    # Drag a rectangle on the first example: it becomes the mask.
    ed = tab.editor
    a, b = ed.widget_point(0, 1.5, 2.5).toPoint(), ed.widget_point(0, 4.5, 6.5).toPoint()
    from PySide6.QtCore import Qt

    qtbot.mousePress(ed, Qt.MouseButton.LeftButton, pos=a)
    qtbot.mouseRelease(ed, Qt.MouseButton.LeftButton, pos=b)
    assert tab.preset_combo.currentText() == "rectangle" and tab.rect == (1, 2, 5, 7)
    m = tab.mask()[0, 0]
    assert not m[1:5, 2:7].any() and m.sum() == 64 - 20
    panel.shutdown()


def test_made_masks_tab_shows_a_strictly_autoregressive_product(qtbot, runs):
    panel = make_panel(qtbot, runs["made"])
    tab = panel.made
    assert panel.tabs.isTabVisible(panel.tabs.indexOf(tab))
    assert tab.set_combo.count() == 2
    for s in range(2):
        tab.set_combo.setCurrentIndex(s)
        conn = tab.connectivity
        assert conn.is_autoregressive() and "strictly lower-triangular" in tab.summary.text()
        assert tab.layers_lay.count() == len(conn.layer_masks) == 3 + 1  # 2 hidden, output, direct
    assert tab.product_view.has_image() and tab.order_view.has_image()
    # MADE's random order cannot be stepped by rows.
    assert panel.generation.unit_combo.findData("row") == -1
    panel.shutdown()


def test_wavenet_generation_stack_and_wav_export(qtbot, runs, tmp_path):
    panel = make_panel(qtbot, runs["wavenet"])
    model = panel.model
    assert panel.tabs.tabText(panel.tabs.indexOf(panel.receptive)) == "Dilation stack"
    assert not panel.tabs.isTabVisible(panel.tabs.indexOf(panel.completion))
    gen = panel.generation
    gen.n_spin.setValue(2)
    gen.chunk_spin.setValue(512)
    for _ in range(2):
        with qtbot.waitSignal(gen.frame_shown, timeout=20_000):
            gen.step_button.click()
    assert int(gen.frame.drawn.sum()) == 1024
    path = gen.export_wav(tmp_path / "gen.wav")
    with wave.open(str(path), "rb") as f:
        assert f.getframerate() == model.data_info.sample_rate == 8000
        assert f.getsampwidth() == 2 and f.getnchannels() == 1
        assert f.getnframes() == 2 * 1024 + int(0.1 * 8000)
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    assert np.allclose(pcm[:1024] / 32767, gen.frame.data[0, 0, :1024].numpy(), atol=2 / 32767)
    probs = gen.show_distribution(0, 0, 700)
    assert probs.shape == (256,) and probs.sum() == pytest.approx(1.0, abs=1e-6)
    tab = panel.receptive
    with qtbot.waitSignal(tab.computed, timeout=20_000):
        tab.t_spin.setValue(100)
    seen = np.flatnonzero(tab.rf.depends)
    assert seen.min() == 100 - model.receptive_field and seen.max() == 99
    panel.shutdown()


def test_speed_measurement_reports_both_paths(qtbot, runs):
    panel = make_panel(qtbot, runs["pixelcnn"])
    with qtbot.waitSignal(panel.speed_measured, timeout=30_000):
        panel.speed_button.click()
    assert panel.speed["cached"] > 0 and panel.speed["naive"] > 0
    assert "positions/s with the cache" in panel.info.text()
    panel.shutdown()


def test_causal_masks_tab_shows_the_pixelcnn_blind_spot_grow_and_the_gated_stacks_close_it(qtbot, runs):
    """Convolutional models get a Causal masks tab (MADE keeps its own, WaveNet has none): the masked kernels,
    and the receptive field after each layer from the live weights; PixelCNN's wedge grows, the Gated PixelCNN has none."""
    from genstudio.ui.panels.causal_masks import StageField, kernel_masks

    panel = make_panel(qtbot, runs["pixelcnn"])
    tab = panel.causal
    assert panel.tabs.isTabVisible(panel.tabs.indexOf(tab)) and not panel.tabs.isTabVisible(panel.tabs.indexOf(panel.made))
    assert [k.name for k in kernel_masks(panel.model)] == ["3x3 mask A", "3x3 mask B"]
    assert not tab.job.busy() and not tab.fields  # hidden: no gradients computed
    with qtbot.waitSignal(tab.job.done, timeout=30_000):
        panel.tabs.setCurrentWidget(tab)
    names = [f.name for f in tab.fields]
    assert names == ["layer 1: 3x3 mask A", "layer 2: 3x3 mask B", "layer 3: 3x3 mask B", "layer 4: 3x3 mask B"]
    seen = [int(f.seen.sum()) for f in tab.fields]
    blind = [int(f.blind().sum()) for f in tab.fields]
    assert seen == sorted(seen) and seen[0] < seen[-1]  # the field grows with depth
    assert blind[0] == 0 and blind[-1] > 0  # the wedge appears once masked 3x3 kernels are stacked
    i, j = tab.row_spin.value(), tab.col_spin.value()
    for f in tab.fields:  # causal: nothing at or after the output pixel
        assert not f.seen[i + 1 :].any() and not f.seen[i, j:].any()
    assert "blind spot" in tab.summary.text()
    assert tab.layer_slider.value() == 4 and tab.field_views[0].has_image() and tab.depth_view.has_image()
    assert not tab.field_boxes[1].isVisibleTo(tab)  # one stack
    tab.layer_slider.setValue(1)
    assert tab.layer_label.text().startswith("1 of 4")
    tab.row_spin.setValue(2)  # another pixel: measured again
    qtbot.waitUntil(lambda: tab.fields and tab.fields[0].target == (2, j), timeout=30_000)

    gated = make_panel(qtbot, runs["gated-pixelcnn"])
    tab = gated.causal
    assert gated.tabs.isTabVisible(gated.tabs.indexOf(tab))
    with qtbot.waitSignal(tab.job.done, timeout=30_000):
        gated.tabs.setCurrentWidget(tab)
    assert tab.stacks == ["vertical stack", "horizontal stack"] and tab.field_boxes[1].isVisibleTo(tab)
    horizontal = [f for f in tab.fields if f.name.startswith("horizontal")]
    vertical = [f for f in tab.fields if f.name.startswith("vertical")]
    assert len(horizontal) == len(vertical) == 3
    assert all(int(f.blind().sum()) == 0 for f in tab.fields)  # two stacks: no blind spot
    i = tab.row_spin.value()
    assert not vertical[-1].seen[i:].any()  # the vertical stack reaches the horizontal one a row late: never row i
    assert horizontal[-1].seen.sum() > vertical[-1].seen.sum()
    # The check itself: a field with a hole up and to the right is reported blind.
    g = np.zeros((8, 8))
    g[2:5, 0:6] = 1
    g[2:4, 4:6] = 0
    g[5, :3] = 1
    assert int(StageField("x", g, (5, 3)).blind().sum()) == 4

    wavenet = make_panel(qtbot, runs["wavenet"])
    assert not wavenet.tabs.isTabVisible(wavenet.tabs.indexOf(wavenet.causal))
    made = make_panel(qtbot, runs["made"])
    assert not made.tabs.isTabVisible(made.tabs.indexOf(made.causal)) and made.tabs.isTabVisible(made.tabs.indexOf(made.made))
    for p in (panel, gated, wavenet, made):
        p.shutdown()


def test_causal_fields_ignore_a_generation_running_on_another_thread(qtbot, runs):
    """The Generation tab plays by itself, so its worker draws from the model while the Causal masks tab computes
    gradients: a forward pass on that thread (under no_grad) between ours and the gradient fired the layer hooks and
    replaced our outputs, and the tab failed with "element 0 of tensors does not require grad" (seen at 1920x1080)."""
    import threading

    from genstudio.ui.panels.causal_masks import stage_fields

    panel = make_panel(qtbot, runs["gated-pixelcnn"])
    pause_autoplay(panel.generation)
    model = panel.model
    clean = stage_fields(model, 5, 3, trials=1)
    real_logits = model.logits

    def logits_with_a_neighbour(x, *args, **kwargs):
        out = real_logits(x, *args, **kwargs)
        other = threading.Thread(target=lambda: torch.no_grad()(real_logits)(torch.zeros_like(x)))
        other.start()  # another thread's forward pass after ours, before our gradients
        other.join()
        return out

    model.logits = logits_with_a_neighbour
    try:
        raced = stage_fields(model, 5, 3, trials=1)
    finally:
        del model.logits
    assert [f.name for f in raced] == [f.name for f in clean]
    assert all(np.array_equal(a.gradient, b.gradient) for a, b in zip(raced, clean))
    panel.shutdown()
