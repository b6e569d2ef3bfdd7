"""DCGAN-specific checks: odd sizes, both optimisers step, evaluation changes nothing."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.capabilities import Latent
from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.adversarial.dcgan import DCGAN, DCGANConfig
from tests.models.sample_checks import sample_faults

SMALL = DCGANConfig(z_dim=8, g_channels=8, d_channels=8)


def _batch(shape, n=6):
    return Batch(torch.rand(n, *shape), -torch.ones(n, dtype=torch.long))


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 10, 6), (1, 7, 7)])
def test_trains_and_samples_at_any_size(shape):
    torch.manual_seed(0)
    model = DCGAN(SMALL, DataInfo("image", shape))
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    metrics = model.train_step(_batch(shape))
    assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_fake"}
    assert all(math.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["d_real"] <= 1 and 0 <= metrics["d_fake"] <= 1
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    s = model.sample(5, torch.Generator().manual_seed(0))
    assert s.shape == (5, *shape)
    assert sample_faults(s, model.sample(5, torch.Generator().manual_seed(1)), "image") == []


def test_evaluate_and_sample_leave_state_and_global_rng_alone():
    torch.manual_seed(0)
    model = DCGAN(SMALL, DataInfo("image", (1, 8, 8)))
    model.train_step(_batch((1, 8, 8)))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    val = _batch((1, 8, 8))
    rng = torch.get_rng_state()
    model.evaluate(val)
    a = model.sample(4, torch.Generator().manual_seed(3))
    b = model.sample(4, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(rng, torch.get_rng_state())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_latent_capability():
    model = DCGAN(SMALL, DataInfo("image", (1, 8, 8)))
    assert isinstance(model, Latent) and model.latent_dim == 8
    z = model.prior_sample(3, torch.Generator().manual_seed(0))
    assert z.shape == (3, 8)
    assert torch.equal(model.decode(z), model.sample(3, torch.Generator().manual_seed(0)))


def test_adversarial_capability_steps_one_player_and_looking_changes_nothing():
    """The GAN view's contract: D's scores, G's field, Step D and Step G (each moves one network only)."""
    from genstudio.core.capabilities import Adversarial, capabilities_of

    torch.manual_seed(0)
    shape = (1, 10, 6)  # padded to 12 x 8 inside: scores and gradients come back at the data's size
    model = DCGAN(SMALL, DataInfo("image", shape))
    assert isinstance(model, Adversarial) and "Adversarial" in capabilities_of(model)
    model.train_step(_batch(shape))
    x = torch.rand(7, *shape)
    buffers = {k: v.clone() for k, v in model.discriminator.state_dict().items()}
    p = model.discriminate(x)
    assert p.shape == (7,) and ((p >= 0) & (p <= 1)).all()
    fakes, direction = model.generator_field(model.prior_sample(5, torch.Generator().manual_seed(0)))
    assert fakes.shape == direction.shape == (5, *shape) and torch.isfinite(direction).all() and direction.abs().sum() > 0
    assert all(torch.equal(v, model.discriminator.state_dict()[k]) for k, v in buffers.items())  # looking changed nothing
    # D scores as it trains, with batch statistics: the same images score the same in the same batch.
    assert torch.allclose(model.discriminate(x), p)

    real, labels = model.prepare_batch(_batch(shape))
    assert labels is None and real.shape == (6, 1, 12, 8)
    g0 = [q.clone() for q in model.generator.parameters()]
    d0 = [q.clone() for q in model.discriminator.parameters()]
    stats = model.discriminator_step(real)
    assert {"d_loss", "d_real", "d_fake"} <= set(stats) and math.isfinite(float(stats["d_loss"]))
    assert all(torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))
    d1 = [q.clone() for q in model.discriminator.parameters()]
    assert math.isfinite(float(model.generator_step(6)["g_loss"]))
    assert all(torch.equal(a, b) for a, b in zip(d1, model.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert all(q.requires_grad for q in model.discriminator.parameters())  # D unfrozen after G's step

