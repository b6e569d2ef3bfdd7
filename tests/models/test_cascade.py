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
