"""Cascaded diffusion: the two stages, noise-conditioning augmentation, and the chain the panel shows."""

from __future__ import annotations

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError
from genstudio.models.diffusion.cascade import Cascade, CascadeConfig

INFO = DataInfo("image", (1, 8, 8), 10, "digits")


def model(**over) -> Cascade:
    torch.manual_seed(0)
    return Cascade(cfg.with_overrides(CascadeConfig(), {"timesteps": 40, "base_channels": 8, "sr_channels": 8, "aug_max": 20, "sample_aug": 5, **over}), INFO)


def test_sizes_and_bad_settings_are_refused():
    with pytest.raises(DataMismatchError, match="even sizes of at least 4"):
        Cascade(CascadeConfig(), DataInfo("image", (1, 7, 7), 0, "odd"))
    with pytest.raises(ValueError, match="below timesteps"):
        model(sample_aug=40)
    m = model()
    assert m.downsample(torch.ones(2, 1, 8, 8)).shape == (2, 1, 4, 4)
    assert m.upsample(torch.ones(2, 1, 4, 4)).shape == (2, 1, 8, 8)


def test_noise_conditioning_augmentation_levels():
    m = model()
    low = torch.rand(5, 1, 4, 4) * 2 - 1
    s = torch.tensor([0, 3, 10, 20, 20])
    noise = torch.randn_like(low)
    assert torch.allclose(m.augment(low, s, noise), m.schedule.q_sample(low, s, noise))  # CDM algorithm 3: the forward process at s
    assert m.aug_bin(torch.tensor([0, 20])).tolist() == [0, m.config.aug_levels - 1]
    seen = []
    original = m.augment
    m.augment = lambda low, s, noise: seen.append(s.clone()) or original(low, s, noise)
    m.train_step(Batch(torch.rand(64, 1, 8, 8), torch.zeros(64, dtype=torch.long)))
    levels = torch.cat(seen)
    assert levels.min() >= 0 and levels.max() <= 20 and len(levels.unique()) > 5
    assert model(aug_max=0).aug_bin(torch.tensor([0])).tolist() == [0]


def test_two_stage_chain_counts_and_shapes():
    m = model().eval()
    steps = list(m.denoise_steps(3, torch.Generator().manual_seed(0), sampler="ddim", steps=4))
    assert len(steps) == 8 and [s.nfe for s in steps] == list(range(1, 9)) and all(s.num_steps == 8 for s in steps)
    assert all(s.x_t.shape == (3, 1, 8, 8) for s in steps)  # base steps shown at full size
    assert steps[3].t_prev == -1 and steps[4].t == steps[0].t  # the second stage starts its own walk
    x = m.sample(3, torch.Generator().manual_seed(0), sampler="ddim", steps=4)
    assert torch.allclose(x, steps[-1].x_t.clamp(0, 1)) and x.shape == (3, 1, 8, 8)
    assert m.sample_low(2, torch.Generator().manual_seed(0), sampler="ddim", steps=4).shape == (2, 1, 4, 4)
    with pytest.raises(ValueError, match="sample_aug must be in 0..39"):
        list(m.denoise_steps(1, sample_aug=40))


@pytest.mark.slow
def test_cascade_learns_digits(tmp_path):
    """Both stages trained briefly on digits: samples stay in [0, 1], carry the data's ink, and cover the data better than the
    untrained cascade's (data-to-sample nearest-neighbour distance, a FID-free proxy)."""
    from genstudio.core.engine import train
    from genstudio.core.loading import load_run_model
    from genstudio.core.spec import RunSpec
    from genstudio.data.dataset import load_dataset

    over = {"timesteps": 100, "base_channels": 16, "sr_channels": 16, "aug_max": 20, "sample_aug": 5, "lr": 2e-3, "ema_decay": 0.99}
    quiet = {"log_every": 100, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    spec = RunSpec.create("cascade", "digits", {**quiet, "steps": 150, "batch_size": 64}, over)
    assert list(train(spec, tmp_path / "run"))[-1].status == "completed"
    trained, _, _ = load_run_model(tmp_path / "run", device="cpu")
    ds = load_dataset("digits", spec.data)
    data = ds.get(torch.arange(len(ds))).x.float().reshape(len(ds), -1)
    untrained = model(**over).eval()
    scores = {}
    for name, m in (("trained", trained), ("untrained", untrained)):
        x = m.sample(200, torch.Generator().manual_seed(0), sampler="ddim", steps=10)
        assert x.shape == (200, 1, 8, 8) and x.min() >= 0 and x.max() <= 1
        flat = x.reshape(200, -1)
        scores[name] = (torch.cdist(data, flat).min(1).values.mean().item(), flat.mean().item())
    (cov_t, ink_t), (cov_u, _) = scores["trained"], scores["untrained"]
    assert cov_t < 0.8 * cov_u, scores  # measured 1.78 against 4.23
    assert abs(ink_t - data.mean().item()) < 0.1, scores
