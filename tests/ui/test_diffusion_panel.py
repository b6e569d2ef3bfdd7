"""The diffusion panel on tiny DDPM runs: forward scrubbing, a cached reverse chain, GIF and PNG export, schedules, Markov chain."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ddpm-digits"
    spec = RunSpec.create("ddpm", "digits", {**RUN, "steps": 3}, {"base_channels": 8, "timesteps": 40, "attention": False})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


@pytest.fixture(scope="module")
def points_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ddpm-moons"
    spec = RunSpec.create("ddpm", "moons", {**RUN, "steps": 3}, {"timesteps": 30, "mlp_hidden": 32}, {"n_points": 300})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


def make_panel(qtbot, run_dir):
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    titles = dict(panels_for(["Denoiser"]))
    assert "Diffusion" in titles
    panel = titles["Diffusion"](PanelContext(run_dir=run_dir, capabilities=["Denoiser"]))
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=20_000)
    return panel


def run_chain(qtbot, panel, **controls):
    rev = panel.reverse
    for name, value in controls.items():
        widget = getattr(rev, name)
        widget.setCurrentText(value) if hasattr(widget, "setCurrentText") else widget.setValue(value)
    with qtbot.waitSignal(rev.chain_ready, timeout=30_000):
        rev.run_button.click()
    return rev.chain


def test_forward_process_scrubs_an_example(qtbot, image_run):
    panel = make_panel(qtbot, image_run)
    fwd = panel.forward
    schedule = panel.model.schedule
    fwd.slider.setValue(0)
    near_clean = fwd.xt_view.image().copy()
    assert "t = 0" in fwd.readout.full_text() and "alpha-bar = 0.99" in fwd.readout.full_text()
    fwd.slider.setValue(schedule.num_timesteps - 1)
    assert fwd.xt_view.image() != near_clean
    assert f"SNR = {float(schedule.snr[-1]):.4g}" in fwd.readout.full_text()
    assert fwd.strip_view.has_image() and fwd.strip_label.text().startswith("x_t at t = 0,")
    # The schedule plots follow the forward slider.
    assert panel.schedule_view.lines[0].value() == schedule.num_timesteps - 1
    x0_before = fwd.x0_view.image().copy()
    fwd.example_spin.setValue(5)
    assert fwd.x0_view.has_image() and fwd.x0_view.image() != x0_before  # another example is shown
    fwd.slider.setValue(0)
    assert fwd.xt_view.image() != near_clean  # and x_t at t = 0 follows the new example
    panel.grab().save(str(image_run / "forward.png"))


def _moved_while_scrubbing(qtbot, view, width: int) -> list[str]:
    """Show ``view`` in a scroll area ``width`` px wide (as the studio shows a panel), scrub t from end to end,
    and name every visible widget whose geometry changed, and any change of the view's minimum size."""
    from PySide6.QtWidgets import QApplication, QScrollArea, QWidget

    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setWidget(view)
    qtbot.addWidget(area)
    area.resize(width, 600)
    area.show()
    QApplication.processEvents()
    view.slider.setValue(0)
    QApplication.processEvents()

    def layout():
        shown = {id(w): (type(w).__name__, w.geometry().getRect()) for w in view.findChildren(QWidget) if w.isVisible()}
        return shown, view.minimumSizeHint().toTuple(), area.horizontalScrollBar().isVisible()

    before = layout()
    moved: list[str] = []
    for t in [*range(0, view.slider.maximum(), 7), view.slider.maximum()]:
        view.slider.setValue(t)
        QApplication.processEvents()
        now = layout()
        moved += [f"t={t}: {now[0][k][0]} {before[0][k][1]} -> {now[0][k][1]}" for k in before[0] if now[0].get(k) != before[0][k]]
        if now[1:] != before[1:]:
            moved.append(f"t={t}: minimum size / sideways scroll {before[1:]} -> {now[1:]}")
    return moved


@pytest.mark.parametrize("kind", ["image", "points"])
def test_scrubbing_the_forward_process_moves_no_widget(qtbot, kind):
    """The readout's text changes length with t; the layout must not follow it (it jumped under the
    user's hand in a panel narrower than the text). A label sized by its text is shown failing the check."""
    from genstudio.ui.panels.diffusion.forward_view import ForwardView
    from genstudio.ui.panels.diffusion.process_only import process_before_weights

    info = {"kind": "image", "shape": (1, 28, 28)} if kind == "image" else {"kind": "points", "shape": (2,), "extent": (-3, 3, -3, 3)}
    process, examples, _ = process_before_weights({"model": {"schedule": "cosine", "timesteps": 1000}}, info)
    for width in (640, 1000):
        view = ForwardView()
        view.set_model(process, examples)
        assert _moved_while_scrubbing(qtbot, view, width) == []
    # Broken on purpose: a readout that claims the width of its text makes the tab reflow as t moves.
    view = ForwardView()
    view.set_model(process, examples)
    plain_set_text = view.readout.setText
    view.readout.setText = lambda text: (plain_set_text(text), view.readout.setMinimumWidth(view.readout.fontMetrics().horizontalAdvance(text)))
    assert _moved_while_scrubbing(qtbot, view, 640)


def test_reverse_chain_is_cached_scrubbed_and_exported(qtbot, image_run, tmp_path):
    panel = make_panel(qtbot, image_run)
    panel.tabs.setCurrentWidget(panel.reverse)
    rev = panel.reverse
    chain = run_chain(qtbot, panel, sampler_combo="ddim", steps_spin=10, spacing_combo="trailing", n_spin=4)
    assert chain.num_frames == 11 and chain.nfe == 10 and chain.t[-1] == -1
    assert chain.options == {"sampler": "ddim", "steps": 10, "eta": 0.0, "spacing": "trailing", "clip_x0": True}
    assert chain.visited == [39, 35, 31, 27, 23, 19, 15, 11, 7, 3]
    assert rev.slider.maximum() == 10
    # The schedule view marks exactly the visited timesteps.
    marked = sorted(int(x) for x in panel.schedule_view.marks[1].getData()[0])
    assert marked == sorted(chain.visited)
    seen = []
    for i in range(rev.slider.maximum() + 1):
        rev.slider.setValue(i)
        seen.append(rev.xt_view.image().copy())
        assert f"frame {i}" in rev.frame_label.full_text()
    assert seen[0] != seen[-1]
    assert "finished sample" in rev.frame_label.full_text()
    rev.back_button.click()
    assert rev.slider.value() == 9
    panel.grab().save(str(tmp_path / "reverse.png"))

    # GIF: every step, then every 3rd (ending on the finished sample).
    gif = tmp_path / "chain.gif"
    assert rev.export_gif(gif, stride=1) == 11
    with Image.open(gif) as im:
        assert im.n_frames == 11
    assert rev.export_gif(gif, stride=3) == 5  # frames 0, 3, 6, 9, 10
    with Image.open(gif) as im:
        assert im.n_frames == 5
    png = rev.export_png(tmp_path / "frame.png")
    with Image.open(png) as im:
        assert im.size[0] > 3 * im.size[1] // 2  # x_t | eps_hat | x0_hat side by side


def test_mp4_button_needs_an_encoder_and_exports_the_gif_frames(qtbot, image_run, tmp_path, monkeypatch):
    import sys

    from genstudio.core import video
    from tests.core.test_video import fake_ffmpeg

    # No encoder anywhere: the button is disabled even with a chain, and says how to get one.
    monkeypatch.setattr(video.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    panel = make_panel(qtbot, image_run)
    rev = panel.reverse
    run_chain(qtbot, panel, sampler_combo="ddim", steps_spin=6, n_spin=2)
    assert rev.gif_button.isEnabled() and not rev.mp4_button.isEnabled()
    assert "apt install ffmpeg" in rev.mp4_button.toolTip() and "imageio-ffmpeg" in rev.mp4_button.toolTip()
    with pytest.raises(video.VideoError, match="MP4 export needs ffmpeg"):
        rev.export_mp4(tmp_path / "no.mp4")

    # An ffmpeg on PATH (a stand-in that counts the piped frames): enabled, the GIF's frames plus the held last one.
    writer = fake_ffmpeg(tmp_path)
    monkeypatch.setattr(video.shutil, "which", lambda name: writer.executable if name == "ffmpeg" else None)
    panel2 = make_panel(qtbot, image_run)
    rev2 = panel2.reverse
    assert not rev2.mp4_button.isEnabled()  # nothing to export yet
    run_chain(qtbot, panel2, sampler_combo="ddim", steps_spin=6, n_spin=2)
    assert rev2.mp4_button.isEnabled() and "ffmpeg on PATH" in rev2.mp4_button.toolTip()
    rev2.speed_combo.setCurrentText("10 fps")
    assert rev2.export_mp4(tmp_path / "chain.mp4", stride=2) == 4  # frames 0, 2, 4, 6
    assert (tmp_path / "chain.mp4").read_text().startswith("frames=13 ")  # 3 + the last held 1 s at 10 fps


def test_same_seed_same_chain_and_play(qtbot, image_run):
    panel = make_panel(qtbot, image_run)
    rev = panel.reverse
    a = run_chain(qtbot, panel, sampler_combo="ddpm", steps_spin=8, n_spin=2, seed_spin=3)
    b = run_chain(qtbot, panel)
    assert np.array_equal(a.x_t, b.x_t) and a.options["sampler"] == "ddpm" and a.nfe == 8
    # The finished sample is what model.sample gives for the same seed.
    ref = panel.model.sample(2, torch.Generator().manual_seed(3), sampler="ddpm", steps=8, spacing="trailing", variance="beta")
    from genstudio.ui.panels.diffusion_frames import images_grid

    assert np.abs(images_grid(ref, 2).astype(int) - b.x_t[-1].astype(int)).max() <= 1
    rev.speed_combo.setCurrentIndex(rev.speed_combo.count() - 1)
    rev.play_button.setChecked(True)
    qtbot.waitUntil(lambda: rev.slider.value() == rev.slider.maximum(), timeout=5_000)
    qtbot.waitUntil(lambda: not rev.play_button.isChecked(), timeout=5_000)


def test_reverse_tab_samples_a_first_chain_by_itself_off_the_gui_thread(qtbot, image_run):
    """Shown with a model, the Reverse process tab records a chain with its default controls, without a click,
    once, on a worker thread; while it is hidden it records nothing; the Compare tab's chains wait for Run both."""
    import threading

    from genstudio.ui.panels.diffusion.reverse_view import NO_MODEL_TEXT

    panel = make_panel(qtbot, image_run)  # the Forward process tab is the one shown
    rev = panel.reverse
    qtbot.wait(100)
    assert rev.chain is None and not rev.busy()  # hidden: nothing recorded
    assert rev.stack.currentWidget() is rev.placeholder and "Run sampler" in rev.placeholder.text()
    on_gui_thread = []
    original = panel.model.predict_eps
    panel.model.predict_eps = lambda *a, **k: on_gui_thread.append(threading.current_thread() is threading.main_thread()) or original(*a, **k)
    with qtbot.waitSignal(rev.chain_ready, timeout=30_000):
        panel.tabs.setCurrentWidget(rev)
        assert rev.busy() and rev.run_button.isEnabled()  # started; a click of the user's would supersede it
    assert on_gui_thread and not any(on_gui_thread)
    assert rev.chain.options["sampler"] == "ddim" and rev.chain.nfe == 40  # the default: DDIM with min(50, T) steps
    assert rev.stack.currentWidget() is not rev.placeholder and rev.xt_view.has_image()
    assert "sampled by itself" in rev.info_label.full_text()
    first = rev.chain
    panel.tabs.setCurrentWidget(panel.forward)
    panel.tabs.setCurrentWidget(rev)
    qtbot.wait(100)
    assert rev.chain is first and not rev.busy()  # once: shown again, it does not sample again
    assert panel.compare.a.chain is None and not panel.compare.a.busy()
    # With no model the tab says what the reverse process is and what it waits for.
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    empty = DiffusionPanel(PanelContext(run_dir=None, capabilities=["Denoiser"]))
    qtbot.addWidget(empty)
    empty.show()
    empty.tabs.setCurrentWidget(empty.reverse)
    assert empty.reverse.stack.currentWidget() is empty.reverse.placeholder
    assert empty.reverse.placeholder.text() == NO_MODEL_TEXT and "no model yet" in NO_MODEL_TEXT
    assert not empty.reverse.busy()


def test_reverse_tab_shown_before_the_weights_samples_when_they_arrive(qtbot, points_run):
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    panel = DiffusionPanel(PanelContext(run_dir=points_run, capabilities=["Denoiser"]))
    qtbot.addWidget(panel)
    panel.tabs.setCurrentWidget(panel.reverse)
    panel.resize(1100, 700)
    with qtbot.waitSignal(panel.reverse.chain_ready, timeout=30_000):
        panel.show()
    assert panel.model is not None and panel.reverse.chain.kind == "points"
    assert panel.reverse.stack.currentWidget() is panel.reverse.plot


def stop_mid_chain(qtbot, panel) -> int:
    """Start a 40-step DDPM chain, press Stop while the worker is inside its first network evaluation,
    wait for the worker to end, and return how many network evaluations it made in all."""
    import threading

    from PySide6.QtCore import QThreadPool

    rev, model = panel.reverse, panel.model
    rev.sampler_combo.setCurrentText("ddpm")
    rev.steps_spin.setValue(40)
    rev.n_spin.setValue(64)
    calls, inside, release = [], threading.Event(), threading.Event()
    original = model.predict_eps

    def gated(*a, **k):
        calls.append(1)
        inside.set()
        release.wait(30)  # hold the first evaluation until Stop has been pressed
        return original(*a, **k)

    model.predict_eps = gated
    try:
        rev.run_button.click()
        assert rev.busy() and rev.stop_button.isEnabled()
        qtbot.waitUntil(inside.is_set, timeout=20_000)
        rev.stop_button.click()
        assert not rev.busy() and rev.run_button.isEnabled() and not rev.stop_button.isEnabled()
        release.set()
        # The chain runs on the shared pool: when it drains, the worker has returned, however it ended.
        assert QThreadPool.globalInstance().waitForDone(60_000), "the sampling worker is still running"
    finally:
        release.set()
        model.predict_eps = original
    qtbot.wait(100)  # let anything the stopped worker left behind reach the panel
    return len(calls)


def test_sampling_can_be_stopped(qtbot, image_run, monkeypatch):
    import sys

    panel = make_panel(qtbot, image_run)
    rev = panel.reverse
    assert stop_mid_chain(qtbot, panel) == 1  # of 40: the worker stopped at its next check
    assert rev.chain is None and "stopped" in rev.info_label.full_text()
    # The same check rejects a worker that ignores the stop flag: it runs all 40 evaluations.
    views = sys.modules[type(rev).__module__]
    record_chain = views.record_chain
    monkeypatch.setattr(views, "record_chain", lambda *a, should_stop=None, **k: record_chain(*a, **k))
    assert stop_mid_chain(qtbot, panel) == 40
    assert rev.chain is None, "a stopped chain's result must be dropped, not shown"


def test_record_chain_stops_between_network_evaluations(image_run):
    from genstudio.core.loading import load_run_model
    from genstudio.ui.panels.diffusion_frames import ChainInterrupted, record_chain

    model, _, _ = load_run_model(image_run, device="cpu")
    calls = []
    original = model.predict_eps
    model.predict_eps = lambda *a, **k: calls.append(1) or original(*a, **k)
    with pytest.raises(ChainInterrupted):
        record_chain(model, 2, 0, {"sampler": "ddpm"}, should_stop=lambda: len(calls) >= 3)
    assert len(calls) == 3  # of 40 steps
    from genstudio.ui.panels.diffusion_frames import ChainTooLarge

    with pytest.raises(ChainTooLarge, match="lower n or the number of steps"):
        record_chain(model, 2, 0, {"sampler": "ddpm"}, max_bytes=10_000)


def test_points_particles_trajectories_and_field(qtbot, points_run, tmp_path):
    panel = make_panel(qtbot, points_run)
    panel.tabs.setCurrentWidget(panel.reverse)
    rev = panel.reverse
    chain = run_chain(qtbot, panel, sampler_combo="ddim", steps_spin=6, n_spin=200)
    assert rev.stack.currentWidget() is rev.plot
    assert chain.x_t.shape == (7, 200, 2) and chain.field.shape[0] == 7
    rev.slider.setValue(3)
    xs, _ = rev.trajectories.getData()
    assert len(xs) == 8 * (4 + 1)  # 8 particles x (4 positions + a NaN break)
    fx, _ = rev.field_item.getData()
    assert len(fx) == 6 * len(chain.field_points)  # three segments (shaft and two barbs) per arrow
    assert np.allclose(rev.particles.getData()[0], chain.x_t[3][:, 0])
    rev.show_field.setChecked(False)
    assert len(rev.field_item.getData()[0] or []) == 0
    rev.grab().save(str(tmp_path / "points.png"))
    assert rev.export_gif(tmp_path / "p.gif", stride=2) == 4
    # Forward view on points: the whole cloud is noised.
    fwd = panel.forward
    fwd.slider.setValue(29)
    assert len(fwd.cloud.getData()[0]) == 300  # every point of the (small) set


def test_markov_chain_converges_to_its_stationary_distribution(qtbot):
    from genstudio.ui.panels.diffusion.markov_chain import MarkovChainView
    from genstudio.ui.panels.diffusion_math import stationary_distribution

    view = MarkovChainView()
    qtbot.addWidget(view)
    P = view.matrix()
    pi = stationary_distribution(P)
    assert np.allclose(pi @ P, pi) and pi.sum() == pytest.approx(1)
    ys = view.curves[0].getData()[1]
    assert ys[0] == 1.0 and ys[-1] == pytest.approx(pi[0], abs=1e-4)
    view.table.item(0, 0).setText("abc")
    assert "not a number" in view.result.text()
    view.set_matrix(np.eye(3))
    assert "no unique stationary distribution" in view.result.text()


def test_gif_frame_indices_and_bad_input():
    from genstudio.ui.panels.diffusion_frames import gif_frame_indices

    assert gif_frame_indices(11, 1) == list(range(11))
    assert gif_frame_indices(11, 3) == [0, 3, 6, 9, 10]
    assert gif_frame_indices(10, 3) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="stride must be at least 1"):
        gif_frame_indices(10, 0)


def test_score_model_shows_langevin_steps_and_sigma_schedule(qtbot, tmp_path):
    out = tmp_path / "ncsn-moons"
    spec = RunSpec.create("ncsn", "moons", {**RUN, "steps": 2}, {"mlp_hidden": 16, "num_levels": 5}, {"n_points": 300})
    assert list(train(spec, out))[-1].status == "completed"
    panel = make_panel(qtbot, out)
    rev = panel.reverse
    assert rev.langevin_spin.isVisibleTo(rev) and not rev.sampler_combo.isVisibleTo(rev) and not rev.eta_spin.isVisibleTo(rev)
    assert [title for title, _ in panel.schedule_view.curves] == ["sigma_t", "log SNR_t = -2 log sigma_t"]
    assert "sigma = " in panel.forward.readout.full_text()
    assert not panel.tabs.isTabVisible(panel.tabs.indexOf(panel.nfe_view))  # no DDIM for a score model
    chain = run_chain(qtbot, panel, langevin_spin=2)
    assert chain.num_frames == 5 * 2 + 1 + 1 and chain.nfe == 11
    assert chain.t[:4] == [4, 4, 3, 3] and chain.field is not None
    rev.slider.setValue(3)
    assert "t = 3" in rev.frame_label.full_text()
    panel.tabs.setCurrentWidget(panel.schedule_view)
    panel.grab().save(str(tmp_path / "ncsn_schedule.png"))


def test_compare_two_samplers_scrubbed_together(qtbot, image_run):
    panel = make_panel(qtbot, image_run)
    cmp = panel.compare
    assert cmp.a.sampler_combo.currentText() == "ddpm" and cmp.a.steps_spin.value() == 40
    cmp.b.steps_spin.setValue(5)
    cmp.a.n_spin.setValue(2)
    with qtbot.waitSignals([cmp.a.chain_ready, cmp.b.chain_ready], timeout=30_000):
        cmp.run_both.click()
    assert cmp.a.chain.nfe == 40 and cmp.b.chain.nfe == 5
    assert np.array_equal(cmp.a.chain.x_t[0], cmp.b.chain.x_t[0])  # the same seed: the same x_T
    cmp.slider.setValue(500)
    assert cmp.a.slider.value() == 20 and cmp.b.slider.value() in (2, 3)
    assert "50%" in cmp.fraction_label.text()
    cmp.slider.setValue(1000)
    assert "t = -1 | t = -1" in cmp.fraction_label.text()
    # One slider and one Play for both: the chains' own scrub controls and the lower n / seed are hidden.
    assert not cmp.a.slider.isVisibleTo(cmp) and not cmp.b.play_button.isVisibleTo(cmp) and not cmp.b.n_spin.isVisibleTo(cmp)
    assert cmp.a.n_spin.isVisibleTo(cmp)
    cmp.play_button.setChecked(True)  # at the end: starts over
    assert cmp.slider.value() == 0 and cmp.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: not cmp.play_button.isChecked(), timeout=20_000)
    assert cmp.slider.value() == 1000 and cmp.b.slider.value() == 5


def test_conditional_model_class_guidance_and_sweep(qtbot, tmp_path):
    out = tmp_path / "cfg-8g"
    spec = RunSpec.create("cfg-ddpm", "8gaussians", {**RUN, "steps": 2}, {"mlp_hidden": 16, "timesteps": 20}, {"n_points": 400})
    assert list(train(spec, out))[-1].status == "completed"
    panel = make_panel(qtbot, out)
    rev = panel.reverse
    assert rev.class_combo.isVisibleTo(rev) and rev.class_combo.count() == 9 and rev.guidance_spin.isVisibleTo(rev)
    rev.class_combo.setCurrentIndex(4)  # class 3
    rev.guidance_spin.setValue(2.5)
    chain = run_chain(qtbot, panel, steps_spin=4, n_spin=50)
    assert chain.options["guidance_scale"] == 2.5 and (chain.options["labels"] == 3).all()
    sweep = panel.sweep
    assert panel.tabs.isTabVisible(panel.tabs.indexOf(sweep))
    sweep.scales_edit.setText("0, one")
    sweep.run_button.click()
    assert "'one' is not a number" in sweep.message.text()
    sweep.scales_edit.setText("0, 1, 3")
    sweep.per_class.setValue(5)
    sweep.steps_spin.setValue(4)
    sweep.run_button.click()
    qtbot.waitUntil(lambda: sweep.sweep is not None, timeout=30_000)
    assert len(sweep.plots) == 3 and sweep.sweep.points[0].shape == (40, 2)
    # Scale 0 is the unconditional model: the same seed gives the same samples whatever the class.
    ref = panel.model.sample(40, torch.Generator().manual_seed(0), sampler="ddim", steps=4)
    assert torch.allclose(torch.as_tensor(sweep.sweep.points[0]), ref, atol=1e-5)
    panel.tabs.setCurrentWidget(sweep)
    panel.grab().save(str(tmp_path / "sweep.png"))


def test_latent_diffusion_shows_decoded_steps_and_latent_noise(qtbot, tmp_path):
    vae = tmp_path / "vae"
    assert list(train(RunSpec.create("vae", "digits", {**RUN, "steps": 2}, {"channels": 8, "hidden": 32, "latent_dim": 9}), vae))[-1].status == "completed"
    out = tmp_path / "ldm"
    spec = RunSpec.create("ldm", "digits", {**RUN, "steps": 2}, {"timesteps": 20, "mlp_hidden": 16, "autoencoder_run": str(vae)})
    assert list(train(spec, out))[-1].status == "completed"
    panel = make_panel(qtbot, out)
    fwd = panel.forward
    assert tuple(fwd.noise.shape) == (9,)
    assert fwd.noise_view.image().width() == 3 + 2  # the 9-dim latent noise as a 3 x 3 tile, 1-pixel border
    assert fwd.xt_view.image().width() == 8 + 2  # x_t decoded to an 8 x 8 digit
    chain = run_chain(qtbot, panel, sampler_combo="ddim", steps_spin=4, n_spin=4)
    assert chain.x_t.shape[1:3] == (2 * 9 + 1, 2 * 9 + 1) and chain.eps.shape[1:3] == (2 * 4 + 1, 2 * 4 + 1)


def test_cascade_chain_shows_both_stages_at_full_size(qtbot, tmp_path):
    out = tmp_path / "cascade"
    spec = RunSpec.create("cascade", "digits", {**RUN, "steps": 2}, {"timesteps": 20, "base_channels": 8, "sr_channels": 8, "aug_max": 5, "sample_aug": 2})
    assert list(train(spec, out))[-1].status == "completed"
    panel = make_panel(qtbot, out)
    chain = run_chain(qtbot, panel, sampler_combo="ddim", steps_spin=3, n_spin=4)
    assert chain.num_frames == 2 * 3 + 1 and chain.nfe == 6  # x_T, then the output of each step
    assert len({frame.shape for frame in chain.x_t}) == 1  # x_T and the base stage upsampled to the final size


def test_live_run_waits_for_its_first_checkpoint_then_reloads(qtbot, tmp_path):
    from genstudio.core.events import CheckpointSaved
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    out = tmp_path / "live"
    spec = RunSpec.create("ddpm", "moons", {**RUN, "steps": 4, "checkpoint_every": 2}, {"timesteps": 10, "mlp_hidden": 16}, {"n_points": 200})
    events = train(spec, out)
    next(events)  # RunStarted: the folder exists, no checkpoint yet
    panel = DiffusionPanel(PanelContext(run_dir=out, capabilities=["Denoiser"], live=True))
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: "waiting for the run's first checkpoint" in panel.status.text(), timeout=20_000)
    assert not panel.reverse.isEnabled()
    saved = [e for e in events if isinstance(e, CheckpointSaved)]
    assert [e.step for e in saved] == [2, 4]
    panel.on_event(saved[-1])  # hidden: only noted, since loading competes with training...
    qtbot.wait(200)
    assert panel.step is None
    panel.show()  # ...and loaded when shown
    qtbot.waitUntil(lambda: panel.step == 4, timeout=20_000)
    assert "checkpoint step 4" in panel.status.text() and panel.reverse.isEnabled()
    panel.shutdown()


def test_nfe_versus_quality(qtbot, points_run):
    panel = make_panel(qtbot, points_run)
    view = panel.nfe_view
    assert panel.tabs.isTabVisible(panel.tabs.indexOf(view))
    assert view.steps_edit.text() == "2, 5, 10, 20"  # the model has T = 30
    # Before a run: the metric box names what the sweep measures, the empty plot says what fills it on an
    # axis of the step counts it will sample.
    from genstudio.ui.panels.diffusion.nfe_view import EMPTY_TITLE

    assert [view.metric.itemData(i) for i in range(view.metric.count())] == ["mmd2", "rms_to_finest"]
    assert view.metric.currentText() and EMPTY_TITLE in view.plot.getPlotItem().titleLabel.text
    view.steps_edit.setText("2, 5, 30")
    ticks = view.plot.getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == ["2", "5", "30"]
    view.metric.setCurrentIndex(1)  # choosing a metric before the run keeps the empty plot's words
    assert EMPTY_TITLE in view.plot.getPlotItem().titleLabel.text
    view.metric.setCurrentIndex(0)
    view.n_spin.setValue(100)
    view.run_button.click()
    qtbot.waitUntil(lambda: view.curve is not None, timeout=30_000)
    c = view.curve
    assert c.steps == [2, 5, 30] and c.nfe == [2, 5, 30] and c.rms_to_finest[-1] == 0.0
    assert view.metric.currentData() == "mmd2" and len(view.curve_item.getData()[0]) == 3 and all(np.isfinite(c.mmd2))
    assert EMPTY_TITLE not in view.plot.getPlotItem().titleLabel.text
    view.steps_edit.setText("2, 50")
    view.run_button.click()
    qtbot.waitUntil(lambda: view.run_button.isEnabled() and "failed" in view.status.text(), timeout=10_000)
    assert "between 1 and the model's 30 diffusion steps" in view.status.text()


def test_pure_helpers():
    from genstudio.models.diffusion.schedule import make_schedule
    from genstudio.ui.panels.diffusion_frames import noise_picture
    from genstudio.ui.panels.diffusion_sweeps import parse_scales
    from genstudio.ui.panels.diffusion_math import arrow_segments, forward_readout, schedule_curves, view_range

    s = make_schedule("cosine", 100)
    titles = [t for t, _ in schedule_curves(s)]
    assert titles == ["beta_t", "alpha-bar_t", "log SNR_t"]
    assert f"alpha-bar = {float(s.alpha_bar[50]):.4g}" in forward_readout(s, 50)
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    xs, ys = arrow_segments(pts, np.array([[1.0, 0.0], [0.5, 0.0], [0.0, 0.0], [0.0, -1.0]]))
    assert len(xs) == 4 * 6
    assert xs[1] == pytest.approx(0.8) and ys[1] == pytest.approx(0.0)  # the longest arrow spans 0.8 of a cell
    assert view_range((0, 1, 0, 1), np.array([[5.0, 5.0]] * 10)) == ((0.0, 5.0), (0.0, 5.0))
    assert parse_scales("0, 1.5 3") == [0.0, 1.5, 3.0]
    with pytest.raises(ValueError, match="0 or more"):
        parse_scales("-1")
    tile = noise_picture(torch.zeros(2, 5))
    assert tile.shape == (2, 1, 3, 3) and tile[0, 0, 0, 0] == 0.5 and tile[0, 0, 2, 2] == 0.5


def test_diffusion_tab_in_the_studio_follows_a_live_run(window, qtbot):
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    window.dataset_panel.options_form.set_values({"n_points": 500})
    window.dataset_panel.select("moons")
    window.model_panel.select("ddpm")
    window.model_panel.model_form.set_values({"timesteps": 20, "mlp_hidden": 16})
    window.model_panel.run_form.set_values({"steps": 12, "batch_size": 32, "log_every": 1, "sample_every": 0, "checkpoint_every": 4, "eval_every": 0, "preview_n": 16})
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
    window.start_training()
    tabs = window.training_view.tabs
    qtbot.waitUntil(lambda: "Diffusion" in [tabs.tabText(i) for i in range(tabs.count())], timeout=30_000)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Diffusion"))  # shown: it follows the checkpoints
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    panel = next(w for w in window.training_view.panel_widgets if isinstance(w, DiffusionPanel))
    qtbot.waitUntil(lambda: panel.step == 12, timeout=30_000)  # reloaded on the checkpoints of the live run
    assert panel.reverse.isEnabled() and "checkpoint step 12" in panel.status.text()
