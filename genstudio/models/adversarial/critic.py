"""The Wasserstein critic's objective, shared by ``wgan`` (weight clipping) and ``wgan-gp`` (gradient penalty).

Arjovsky et al. ("Wasserstein GAN", 2017, eq. 2-3): the critic f is a
score, not a probability, and ascends mean f(x) - mean f(G(z)), an estimate
of the Wasserstein-1 distance when f is 1-Lipschitz; the generator descends
-mean f(G(z)). The two models differ only in how they keep f Lipschitz.
"""

from __future__ import annotations

import torch


class WassersteinCritic:
    """Mixed in before :class:`~genstudio.models.adversarial.gan.GAN`: the critic's losses and its stats."""

    d_output_kind = "score"

    def d_output(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """-(mean f(x) - mean f(G(z))): the critic ascends the Wasserstein estimate."""
        return fake_out.mean() - real_out.mean()

    def g_loss_per_example(self, fake_out: torch.Tensor) -> torch.Tensor:
        return -fake_out

    @staticmethod
    def critic_stats(real_out: torch.Tensor, fake_out: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean scores of real and generated data, and their difference, the Wasserstein estimate."""
        d_real, d_fake = real_out.mean(), fake_out.mean()
        return {"d_real": d_real, "d_fake": d_fake, "w_dist": d_real - d_fake}
