"""The GAN tab's model views (wgan's critic weights against the clip, sgan's classifier accuracy), the form
refusing sgan on unlabelled data, and wgan beside wgan-gp in the compare view."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.core.data_types import DataInfo
from tests.ui.test_gan_view import click, open_panel, tiny_run

MOONS = {"n_points": 500}


def test_wgan_critic_weights_histogram_with_the_clip_lines(qtbot, tmp_path):
    run = tiny_run(tmp_path, "wgan", "moons", data=MOONS, hidden=32, layers=2, d_steps=2, clip=0.02, lr_d=0.01)
    panel = open_panel(qtbot, run)
    view = panel.model_view
    assert view.isVisible() and view.critic.isVisible() and not view.classifier.isVisible()
    model = panel.data.model
    n_weights = sum(p.numel() for p in model.discriminator.parameters())

    def check() -> None:
        assert int(view.critic.counts.sum()) == n_weights  # every critic weight is in the histogram
        assert [line.value() for line in view.critic.bounds] == [-0.02, 0.02]
        # Nothing lies beyond the bounds: the bins outside [-c, c] are empty.
        x, _ = view.critic.bars.getData()
        edges = np.asarray(x)
        outside = (edges[1:] <= -0.02 * (1 + 1e-6)) | (edges[:-1] >= 0.02 * (1 + 1e-6))
        assert view.critic.counts[outside].sum() == 0
        assert 0 < view.critic.at_bound <= 1 and "at ±c" in view.critic.plot.getPlotItem().titleLabel.text

    check()
    before = view.critic.counts.copy()
    click(qtbot, panel, panel.step_d)  # a critic update, clipped: the histogram follows the sandbox copy
    check()
    assert not np.array_equal(before, view.critic.counts)


def test_sgan_classifier_accuracy_in_the_gan_tab(qtbot, tmp_path):
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec
    from tests.ui.test_gan_view import RUN

    run = tmp_path / "sgan"
    spec = RunSpec.create("sgan", "moons", {**RUN, "steps": 40, "eval_every": 20}, {"hidden": 32, "layers": 2, "labelled_per_class": 5}, MOONS)
    assert list(train(spec, run))[-1].status == "completed"
    panel = open_panel(qtbot, run)
    view = panel.model_view
    assert view.isVisible() and view.classifier.isVisible() and not view.critic.isVisible()
    acc = view.classifier
    assert 0.0 <= acc.accuracy <= 1.0
    assert "chance 50%" in acc.headline.text() and "10 labelled examples" in acc.headline.text()
    steps, values = acc.run_curve.getData()
    assert list(steps) == [20.0, 40.0] and all(0 <= v <= 1 for v in values)  # the run's logged validation accuracy
    assert acc.chance_line.value() == 0.5
    x, y = acc.sandbox_point.getData()
    assert list(x) == [40.0] and y[0] == pytest.approx(acc.accuracy)
    click(qtbot, panel, panel.step_both)
    x, _ = acc.sandbox_point.getData()
    assert list(x) == [41.0]  # checkpoint step + sandbox steps


def test_other_gans_show_no_model_view(qtbot, tmp_path):
    panel = open_panel(qtbot, tiny_run(tmp_path, "gan", "moons", data=MOONS, hidden=32, layers=2))
    assert not panel.model_view.isVisible()


def test_the_form_refuses_sgan_on_data_without_labels(qtbot):
    from genstudio.ui.model_panel import ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    assert panel.select("sgan")
    panel.set_dataset("swissroll", "points", (2,), info=DataInfo("points", (2,), name="swissroll"))
    err = panel.compatibility_error()
    assert err is not None and "'swissroll' has no class labels" in err and "datasets with labels: mnist5k" in err
    assert not panel.is_valid() and err in panel.problems()
    panel.set_dataset("moons", "points", (2,), info=DataInfo("points", (2,), num_classes=2, name="moons"))
    assert panel.compatibility_error() is None
    assert panel.select("wgan")  # a model without the check: only the data kind matters
    panel.set_dataset("swissroll", "points", (2,), info=DataInfo("points", (2,), name="swissroll"))
    assert panel.compatibility_error() is None


def test_wgan_and_wgan_gp_compare_on_the_wasserstein_estimate(qtbot, tmp_path):
    from genstudio.ui.compare.view import CompareView

    root = tmp_path / "runs"
    root.mkdir()
    runs = [
        tiny_run(root, "wgan", "moons", data=MOONS, hidden=32, layers=2, d_steps=2),
        tiny_run(root, "wgan-gp", "moons", data=MOONS, hidden=32, layers=2, d_steps=2),
    ]
    v = CompareView([root], poll_ms=100)
    qtbot.addWidget(v)
    v.show()
    try:
        assert sorted(r.model for r in v.model.rows) == ["wgan", "wgan-gp"]
        v.select_paths([str(p) for p in runs])
        combo = v.curves.metric
        # Offered among the metrics both runs log (those come first in the list).
        offered = [tuple(combo.itemData(i)) for i in range(combo.count())]
        assert ("w_dist", "train") in offered[:5], offered
        combo.setCurrentIndex(offered.index(("w_dist", "train")))
        assert v.curves.plot.getPlotItem().titleLabel.text == "w_dist (train)"
        assert sorted(v.curves.curves) == sorted(str(p) for p in runs)
        for p in runs:
            x, y = v.curves.curves[str(p)].getData()
            assert len(x) == 2 and np.isfinite(y).all()  # logged at steps 10 and 20
    finally:
        v.shutdown()
        qtbot.waitUntil(lambda: not v.queue.busy(), timeout=60_000)


def test_the_studio_window_passes_the_loaded_data_to_the_check(window, qtbot):
    """The main window hands the loaded dataset's DataInfo to the form: Train is off for sgan on swissroll, on for moons."""
    panel = window.model_panel
    window.dataset_panel.select("swissroll")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    assert panel.select("sgan")
    qtbot.waitUntil(lambda: panel.compatibility_error() is not None, timeout=5_000)
    assert "'swissroll' has no class labels" in panel.compatibility_error()
    assert not window.act_train.isEnabled()
    window.dataset_panel.select("moons")
    qtbot.waitUntil(window.dataset_panel.is_usable, timeout=30_000)
    qtbot.waitUntil(window.act_train.isEnabled, timeout=10_000)
    assert panel.compatibility_error() is None


def test_wgan_on_images_opens_with_its_convolutional_critic(qtbot, tmp_path):
    run = tiny_run(tmp_path, "wgan", "digits", steps=4, channels=8, d_steps=2)
    panel = open_panel(qtbot, run)
    assert panel.image_view.isVisible() and panel.model_view.critic.isVisible()
    assert int(panel.model_view.critic.counts.sum()) == sum(p.numel() for p in panel.data.model.discriminator.parameters())
    click(qtbot, panel, panel.step_g)
    assert panel.sandbox_steps == 1 and "g_loss" in panel.last_stats
