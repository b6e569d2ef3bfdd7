"""Lab tabs look at the model while it learns: live weights before any checkpoint, only for a panel someone looks at,
and the Diffusion tab's forward process with no model at all."""

from __future__ import annotations

import warnings

import torch

from genstudio.core.runs import RunFolder

#: No checkpoint during the test: only the step cadence far away, no time cadence.
NO_CHECKPOINTS = {"checkpoint_every": 1_000_000, "checkpoint_every_minutes": 0}


def start_live_ddpm(window, qtbot, **run):
    """A small DDPM on moons that would run for long, with a grid every 5 steps and no checkpoint."""
    window.dataset_panel.options_form.set_values({"n_points": 500})
    window.dataset_panel.select("moons")
    window.model_panel.select("ddpm")
    window.model_panel.model_form.set_values({"timesteps": 20, "mlp_hidden": 16})
    window.model_panel.run_form.set_values(
        {"steps": 100_000, "batch_size": 32, "log_every": 1, "sample_every": 5, "eval_every": 0, "preview_n": 16, **NO_CHECKPOINTS, **run}
    )
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
    assert window.start_training()
    tabs = window.training_view.tabs
    qtbot.waitUntil(lambda: "Diffusion" in [tabs.tabText(i) for i in range(tabs.count())], timeout=30_000)
    return tabs


def diffusion_panel(window):
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    return next(w for w in window.training_view.panel_widgets if isinstance(w, DiffusionPanel))


def test_diffusion_tab_shows_the_live_model_before_the_first_checkpoint(window, qtbot):
    tabs = start_live_ddpm(window, qtbot)
    session = window.session
    previews = []
    session.preview.connect(previews.append)
    qtbot.waitUntil(lambda: len(previews) >= 1, timeout=60_000)  # training runs and draws grids
    panel = diffusion_panel(window)
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Diffusion"))
    qtbot.waitUntil(lambda: panel.model is not None, timeout=60_000)
    live, step = panel.weights_shown
    assert live and step is not None and step >= 1
    assert f"live weights, step {step:,}" in panel.status.text()
    assert panel.reverse.isEnabled()
    run = RunFolder(window.shown_run)
    assert run.checkpoints() == [] and run.newest_complete_checkpoint() is None  # no file was needed
    # The panel's model carries exactly the weights of the snapshot it was built from (EMA copy included).
    snap = session.weights.latest()
    assert snap is not None and snap.step >= step
    if snap.step == step:
        own = panel.model.state_dict()
        assert set(own) == set(snap.weights) and any(k.startswith("ema.") for k in own)
        for k, v in snap.weights.items():
            assert torch.equal(own[k], v), k
    # Shown, it follows the run: a later snapshot is asked for and loaded at the preview cadence.
    qtbot.waitUntil(lambda: panel.weights_shown[1] > step, timeout=60_000)
    assert run.newest_complete_checkpoint() is None
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)


def test_a_hidden_panel_copies_and_loads_nothing(window, qtbot, monkeypatch):
    from genstudio.core import periodic

    copies = []
    real = periodic.weights_snapshot
    monkeypatch.setattr(periodic, "weights_snapshot", lambda model: copies.append(1) or real(model))
    tabs = start_live_ddpm(window, qtbot)
    session = window.session
    previews = []
    session.preview.connect(previews.append)
    assert tabs.tabText(tabs.currentIndex()) != "Diffusion"
    qtbot.waitUntil(lambda: len(previews) >= 3, timeout=60_000)
    panel = diffusion_panel(window)
    assert copies == [] and session.weights.latest() is None and not session.control.weights_requested()
    assert panel.weights_shown is None and panel.model is None
    # Shown once, it asks and loads; the copy is made by the training thread, not before.
    tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index("Diffusion"))
    qtbot.waitUntil(lambda: panel.model is not None, timeout=60_000)
    assert len(copies) >= 1 and panel.weights_shown[0]
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)


def test_forward_process_schedule_and_markov_chain_work_with_no_run(qtbot):
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    panel = DiffusionPanel(PanelContext(run_dir=None, capabilities=["Denoiser"]))
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    fwd = panel.forward
    assert panel.model is None and fwd.isEnabled()
    assert "no model yet" in panel.status.text()
    fwd.slider.setValue(0)
    first = fwd.xt_view._array.copy()
    fwd.slider.setValue(fwd.slider.maximum())
    assert fwd.readout.text().startswith(f"t = {fwd.slider.maximum()}")
    xt = fwd._xt(fwd.slider.maximum())
    clean = fwd._xt(0)
    # Almost pure noise at the end, almost the example at t = 0.
    assert float((clean - fwd._x0()).abs().max()) < 0.1 < float((xt - fwd._x0()).abs().mean())
    assert not (first == fwd.xt_view._array).all()  # the picture follows the slider
    assert panel.schedule_view.plots  # the schedule's curves are drawn
    assert not panel.reverse.isEnabled()
    panel.tabs.setCurrentWidget(panel.markov)
    assert panel.markov.isEnabled()
    panel.shutdown()
    # Closed before the test returns: pytest-qt paints after the test, when only garbage cycles still hold the panel.
    panel.close()


def test_live_run_before_its_first_weights_shows_its_own_schedule(qtbot, tmp_path):
    """A live run whose panel has no weights yet: the run's schedule (cosine, T = 50) in the forward and schedule views."""
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel
    from genstudio.ui.training_worker import LiveWeightsFeed
    from genstudio.core.events import RunControl

    spec = RunSpec.create("ddpm", "moons", {"steps": 2, "batch_size": 16, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, **NO_CHECKPOINTS},
                          {"timesteps": 50, "schedule": "cosine", "mlp_hidden": 16}, {"n_points": 200})
    events = train(spec, tmp_path / "live")
    started = next(events)
    feed = LiveWeightsFeed(RunControl())
    panel = DiffusionPanel(PanelContext(tmp_path / "live", ["Denoiser"], data_info=started.data_info, config=started.config, live=True, live_weights=feed))
    qtbot.addWidget(panel)
    panel.show()
    assert panel.forward.isEnabled() and panel.forward.slider.maximum() == 49
    assert "cosine schedule, T = 50" in panel.status.text() and "waiting for the live weights" in panel.status.text()
    events.close()
    panel.shutdown()
    # A second shutdown (the window closing after the lab closed, or a SIGTERM) found nothing left to disconnect,
    # and PySide printed "RuntimeWarning: Failed to disconnect ... from signal arrived(int)".
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        panel.shutdown()
    panel.close()


def test_latent_tab_shows_the_live_model_before_the_first_checkpoint(window, qtbot):
    from genstudio.ui.panels.latent.panel import LatentExplorerPanel

    window.dataset_panel.options_form.set_values({"n_points": 500})
    window.dataset_panel.select("moons")
    window.model_panel.select("vae")
    window.model_panel.run_form.set_values(
        {"steps": 100_000, "batch_size": 32, "log_every": 1, "sample_every": 5, "eval_every": 0, "preview_n": 16, **NO_CHECKPOINTS}
    )
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=5_000)
    assert window.start_training()
    tabs = window.training_view.tabs
    titles = lambda: [tabs.tabText(i) for i in range(tabs.count())]  # noqa: E731
    qtbot.waitUntil(lambda: any(isinstance(w, LatentExplorerPanel) for w in window.training_view.panel_widgets), timeout=30_000)
    panel = next(w for w in window.training_view.panel_widgets if isinstance(w, LatentExplorerPanel))
    tabs.setCurrentIndex(next(i for i, t in enumerate(titles()) if tabs.widget(i).isAncestorOf(panel) or tabs.widget(i) is panel))
    qtbot.waitUntil(lambda: panel.data is not None, timeout=60_000)
    live, step = panel.weights_shown
    assert live and panel.data.step == step and f"live weights, step {step:,}" in panel.status.text()
    assert RunFolder(window.shown_run).newest_complete_checkpoint() is None
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
