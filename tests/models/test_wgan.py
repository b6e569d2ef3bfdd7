"""WGAN with weight clipping: every critic weight stays in [-c, c] after every critic update, RMSProp, n_critic."""

from __future__ import annotations

import pytest
import torch

from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.adversarial import wgan as wgan_module
from genstudio.models.adversarial.wgan import WGAN, WGANConfig, fraction_at_clip

POINTS = DataInfo("points", (2,), extent=(-2.0, 2.0, -2.0, 2.0), name="moons")
IMAGES = DataInfo("image", (1, 10, 6), name="tiny")  # not a multiple of 4: padded and cropped


def _batch(info: DataInfo, n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *info.shape, generator=g) if info.kind == "image" else torch.randn(n, 2, generator=g)
    return Batch(x, -torch.ones(n, dtype=torch.long))


def _max_weight(model: WGAN) -> float:
    return max(float(p.detach().abs().max()) for p in model.discriminator.parameters())


@pytest.mark.parametrize("info", [POINTS, IMAGES], ids=["points", "images"])
def test_every_critic_weight_stays_within_the_clip_after_each_critic_update(info):
    torch.manual_seed(0)
    # A large learning rate pushes weights far past c within one update; only the clamp brings them back.
    config = WGANConfig(hidden=32, layers=2, d_steps=3, lr_d=0.05, lr_g=0.05, clip=0.02, channels=8)
    model = WGAN(config, info)
    assert _max_weight(model) <= config.clip  # the critic starts in the clipped set
    for step in range(4):
        real, y = model.prepare_batch(_batch(info, seed=step))
        stats = model.discriminator_step(real, y)
        assert _max_weight(model) <= config.clip, f"critic update {step}"
        assert 0.0 <= float(stats["at_clip"]) <= 1.0
        model.train_step(_batch(info, seed=10 + step))
        assert _max_weight(model) <= config.clip, f"training step {step}"
    # With such steps a large share of the weights sits at the bound (measured: 0.48 on points, 0.99 on images), the pile-up the GAN tab shows.
    assert float(fraction_at_clip(model.discriminator, config.clip)) > 0.25


def test_the_clip_check_fails_without_the_clamp(monkeypatch):
    """A broken variant: with clipping turned into a no-op the same steps leave weights beyond c."""
    monkeypatch.setattr(wgan_module, "clip_weights", lambda module, c: None)
    torch.manual_seed(0)
    config = WGANConfig(hidden=32, layers=2, d_steps=3, lr_d=0.05, clip=0.02)
    model = WGAN(config, POINTS)
    model.train_step(_batch(POINTS))
    assert _max_weight(model) > config.clip


def test_rmsprop_n_critic_updates_per_step_and_the_wasserstein_estimate():
    torch.manual_seed(0)
    model = WGAN(WGANConfig(hidden=16, layers=1, d_steps=4), POINTS)
    assert isinstance(model.opt_d, torch.optim.RMSprop) and isinstance(model.opt_g, torch.optim.RMSprop)
    assert model.opt_d.param_groups[0]["lr"] == 5e-5 and model.config.clip == 0.01  # the paper's settings
    metrics = model.train_step(_batch(POINTS))
    assert model.opt_d._genstudio_steps == 4 and model.opt_g._genstudio_steps == 1
    assert metrics["w_dist"] == pytest.approx(metrics["d_real"] - metrics["d_fake"], abs=1e-6)
    assert metrics["d_loss"] == pytest.approx(-metrics["w_dist"], abs=1e-6)
    ev = model.evaluate(_batch(POINTS, n=32, seed=3))
    assert ev["w_dist"] == pytest.approx(ev["d_real"] - ev["d_fake"], abs=1e-6) and "at_clip" in ev


def test_images_use_convolutions_and_the_diagnostics_hold_every_critic_weight():
    torch.manual_seed(0)
    model = WGAN(WGANConfig(channels=8, z_dim=4), IMAGES)
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.discriminator.modules())
    assert any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.generator.modules())
    assert model.sample(3, torch.Generator().manual_seed(0)).shape == (3, 1, 10, 6)
    diag = model.sandbox_diagnostics(torch.rand(4, 1, 10, 6))
    assert diag["clip"] == 0.01
    assert len(diag["critic_weights"]) == sum(p.numel() for p in model.discriminator.parameters())
    assert abs(diag["critic_weights"]).max() <= 0.01
