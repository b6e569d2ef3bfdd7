"""VAE-specific checks: the bound's math, odd shapes, data-space likelihoods."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.autoencoders.vae import VAE, VAEConfig, gaussian_log_density, kl_standard_normal
from tests.models.sample_checks import sample_faults


def test_kl_closed_form_matches_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.7, -1.2]]), torch.tensor([[-0.5, 0.3]])
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 2)
    log_q = gaussian_log_density(z, mu, logvar)
    log_p = gaussian_log_density(z, torch.zeros_like(mu), torch.zeros_like(logvar))
    mc = (log_q - log_p).mean()
    assert mc.item() == pytest.approx(kl_standard_normal(mu, logvar).sum().item(), abs=0.01)


@pytest.mark.parametrize("shape", [(1, 7, 7), (3, 10, 12), (1, 8, 8)])
def test_images_of_any_size(shape):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=2, channels=4, hidden=16, iw_samples=4, iw_examples=3), DataInfo("image", shape))
    x = torch.rand(5, *shape)
    metrics = model.train_step(Batch(x, -torch.ones(5, dtype=torch.long)))
    assert all(math.isfinite(v) for v in metrics.values())
    out = model.evaluate(Batch(x, -torch.ones(5, dtype=torch.long)))
    assert set(out) >= {"recon", "kl", "elbo", "nll_iw", "bpd"}
    s = model.sample(4, torch.Generator().manual_seed(0))
    assert s.shape == (4, *shape)
    assert sample_faults(s, model.sample(4, torch.Generator().manual_seed(1)), "image") == []


def test_iwae_bound_is_tighter_than_elbo_and_scale_invariant():
    """The IWAE bound with K samples is >= the ELBO on average (Burda et al. theorem 1),
    and a point set rescaled by 2 loses exactly D * log 2 nats of density."""
    torch.manual_seed(0)
    x = torch.randn(64, 2) * torch.tensor([1.0, 0.5])
    info = DataInfo("points", (2,), extent=(-3.0, 3.0, -2.0, 2.0))
    model = VAE(VAEConfig(hidden=32), info)
    for _ in range(50):
        model.train_step(Batch(x, -torch.ones(64, dtype=torch.long)))
    gen = torch.Generator().manual_seed(0)
    elbo = model._iwae_bound(x, 1, gen).mean()
    iw = model._iwae_bound(x, 256, gen).mean()
    assert iw > elbo

    wide = VAE(VAEConfig(hidden=32), DataInfo("points", (2,), extent=(-6.0, 6.0, -4.0, 4.0)))
    wide.load_state_dict({k: (v if k not in ("centre", "scale") else wide.state_dict()[k]) for k, v in model.state_dict().items()})
    gap = model.log_prob(x) - wide.log_prob(2 * x)
    assert torch.allclose(gap, torch.full_like(gap, 2 * math.log(2)), atol=1e-4)
