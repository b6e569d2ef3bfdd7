"""The Generation tab under the cursor shows PixelCNN++'s mixture: each component's weighted 256-bin masses and their sum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0,
       "checkpoint_every": 0, "preview_n": 4}


@pytest.fixture(scope="module")
def pp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pp-run") / "pixelcnn++"
    spec = RunSpec.create("pixelcnn++", "digits", RUN, {"filters": 8, "mixtures": 3, "scales": 2})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


def test_hovered_pixel_shows_the_components_and_their_sum(qtbot, pp_run):
    from genstudio.ui.panels import PanelContext, panels_for
    from genstudio.ui.panels.autoregressive.mixture_view import overlay_of, show_mixture
    from genstudio.ui.panels.builtin import load_builtin_panels

    load_builtin_panels()
    titles = dict(panels_for(["Autoregressive", "Likelihood"]))
    panel = titles["Autoregressive"](PanelContext(run_dir=pp_run, capabilities=["Autoregressive", "Likelihood"]))
    qtbot.addWidget(panel)
    panel.resize(1100, 720)
    panel.show()
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    gen = panel.generation
    gen.n_spin.setValue(2)
    for _ in range(10):
        with qtbot.waitSignal(gen.frame_shown, timeout=20_000):
            gen.step_button.click()
    for (i, j) in [(0, 3), (5, 5)]:  # a drawn pixel and one not drawn yet
        probs = gen.show_distribution(1, i, j)
        overlay = overlay_of(gen.dist_view)
        assert overlay.caption.isVisible() and "mixture of 3 discretized logistics" in overlay.caption.text()
        assert "edge bins take the tails" in overlay.caption.text()
        shown = [c for c in overlay.curves if c.isVisible()]
        assert len(shown) == 3
        # the bars are the sum of the weighted components the lines draw
        total = sum(c.getData()[1] for c in shown)
        assert np.allclose(total, probs, atol=1e-6) and probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(overlay.last["probs"], probs, atol=1e-6)
    # Another model's distribution hides the overlay.
    show_mixture(gen.dist_view, object(), torch.zeros(1, 1, 8, 8), 0, 0, 0)
    assert not overlay.caption.isVisible() and not any(c.isVisible() for c in overlay.curves)
    panel.shutdown()
