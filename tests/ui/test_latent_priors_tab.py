"""The latent explorer's Priors tab: one seed decoded from N(0, I) and from the fitted mixture, for VAEs only."""

from __future__ import annotations

import numpy as np
import torch

from tests.ui.test_latent_explorer import open_panel, tiny_run, wait_ready


def test_vae_shows_both_priors_with_one_seed(qtbot, tmp_path):
    run = tiny_run(tmp_path, "vae", "digits", latent_dim=4, channels=8, hidden=32, iw_samples=2, iw_examples=2)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    tab = panel.priors_tab
    assert panel.tabs.indexOf(tab) >= 0
    assert panel.data.model.fitted_mixture() is not None  # fitted while loading, off the UI thread
    tab.count.setValue(9)
    panel.tabs.setCurrentWidget(tab)
    standard, mixture = tab.views["standard"].array, tab.views["mixture"].array
    assert standard.shape == mixture.shape == (9, 1, 8, 8)
    assert not np.allclose(standard, mixture)  # the same seed, another prior: other digits
    g = torch.Generator().manual_seed(tab.seed.value())
    expected = panel.decode(panel.data.model.latent_sample(9, g, "mixture").numpy())
    assert np.allclose(mixture, expected)  # what the model's own sampler draws for that seed
    tab.seed.setValue(3)
    assert not np.allclose(mixture, tab.views["mixture"].array)
    # Each grid is drawn right under its caption, not centred below a gap (seen at 1920x1080).
    panel.resize(900, 700)
    qtbot.wait(50)
    for view in tab.views.values():
        assert view.image_view.height() > view.image_view.target_rect().height() + 20  # room to centre it in
        assert view.image_view.target_rect().top() == 0


def test_models_without_a_fitted_prior_have_no_priors_tab(qtbot, tmp_path):
    run = tiny_run(tmp_path, "ae", "digits", latent_dim=4, channels=8, hidden=32)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    assert panel.tabs.indexOf(panel.priors_tab) < 0


def test_traversal_rows_sit_right_under_their_caption(qtbot, tmp_path):
    """The Traversals tab's rows grid is drawn at the top of its view, under the line that says what the rows are
    (centred in the free height it sat ~150 px below that line in the README's 1200x760 picture)."""
    run = tiny_run(tmp_path, "vae", "digits", latent_dim=2, channels=8, hidden=32, iw_samples=2, iw_examples=2)
    panel = open_panel(qtbot, run)
    wait_ready(qtbot, panel)
    panel.tabs.setCurrentWidget(panel.traversal_tab)
    panel.resize(1200, 760)
    qtbot.waitUntil(lambda: panel.traversal_tab.rows.array is not None, timeout=10_000)
    qtbot.wait(50)
    view = panel.traversal_tab.rows.image_view
    assert view.height() > view.target_rect().height() + 20  # room to centre it in
    assert view.target_rect().top() == 0
