"""Previews show what eval scores: one function resolves the sampler and weights for both."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.core.capabilities import Conditional
from genstudio.core.previews import PREVIEW_SEED, images_to_grid, make_preview, sampling_settings
from genstudio.metrics import quality
from genstudio.metrics.evaluate import sampling_kwargs
from genstudio.metrics.quality import QualityTracker, draw_samples
from tests.models.test_contract import CASES, make

VISUAL = [(m, k) for m, k in CASES if k in ("image", "points")]


def trained(model_id: str, kind: str):
    """A tiny model after one step, so averaged (EMA) weights differ from the live ones."""
    spec, ds, model = make(model_id, kind)
    torch.manual_seed(0)
    model.train_step(ds.get(slice(0, 16)).to(model.device))
    return ds, model


@pytest.mark.parametrize("model_id,kind", VISUAL)
def test_the_preview_of_the_fixed_seed_is_evals_draw_for_that_seed(model_id, kind):
    ds, model = trained(model_id, kind)
    if isinstance(model, Conditional) and model.num_classes > 0:
        pytest.skip("eval draws balanced labels, the preview the model's default labels")
    preview = make_preview(model, 4, ds.info, step=1, run=None)
    drawn, _, _ = draw_samples(model, 4, sampling_kwargs(model, None, None), seed=PREVIEW_SEED)
    if kind == "image":
        assert np.array_equal(preview.image, images_to_grid(drawn))
    else:
        assert np.allclose(preview.points, drawn.numpy())


def test_ddpm_previews_and_eval_use_the_same_ddim_steps_and_the_average():
    ds, model = trained("ddpm", "image")
    shown = sampling_settings(model)
    assert shown == {**model.sample_options(), **model.preview_kwargs()}
    assert shown["sampler"] == "ddim" and shown["use_ema"] is True
    assert sampling_kwargs(model, None, None) == shown
    preview = make_preview(model, 4, ds.info, step=1, run=None).image
    # The broken variant: eval's old default (the full DDPM chain) draws other images than the preview.
    old_eval, _, _ = draw_samples(model, 4, model.sample_options(), seed=PREVIEW_SEED)
    assert not np.array_equal(preview, images_to_grid(old_eval))


def test_options_the_user_gives_go_over_the_preview_settings():
    _, model = trained("ddpm", "image")
    steps = model.preview_kwargs()["steps"]
    other = steps // 2  # within the model's timesteps (the preview may use all of them)
    assert 0 < other != steps
    assert sampling_kwargs(model, None, other) == {**sampling_settings(model), "steps": other}
    # Another sampler drops the preview's step count: it belongs to the preview's sampler.
    ddpm = sampling_kwargs(model, "ddpm", None)
    assert ddpm["sampler"] == "ddpm" and ddpm["steps"] == model.sample_options()["steps"]
    assert sampling_settings(model, sampler=None, steps=None) == sampling_settings(model)


def test_the_in_training_metrics_draw_with_the_preview_settings(monkeypatch):
    ds, model = trained("ddpm", "image")
    seen = {}

    def fake_draw(m, n, kwargs, seed):
        seen.update(kwargs)
        return torch.zeros(n, 1, 8, 8), None, 0.0

    class Reference:
        n, data = 4, "as loaded"

        def score(self, samples, labels, full=True):
            return {"fid": 1.0}

    monkeypatch.setattr(quality, "draw_samples", fake_draw)
    tracker = QualityTracker("digits", ds, None, 4, torch.device("cpu"))
    tracker.reference = Reference()
    assert tracker.measure(model) == {"fid": 1.0}
    assert seen == sampling_settings(model)
