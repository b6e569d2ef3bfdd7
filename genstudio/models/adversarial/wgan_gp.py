"""Wasserstein GAN with gradient penalty (Gulrajani et al., "Improved Training
of Wasserstein GANs", NeurIPS 2017).

The idea: the critic D (no sigmoid) estimates the Wasserstein-1 distance
between the data and G's distribution, sup over 1-Lipschitz D of
E_x[D(x)] - E_z[D(G(z))] (Arjovsky et al. 2017). Instead of clipping
weights, the Lipschitz constraint is enforced softly by penalising the
critic's gradient norm on random points between real and fake examples:

    L_D = E[D(G(z))] - E[D(x)] + lambda E_xhat[(||grad D(xhat)||_2 - 1)^2],
    xhat = eps x + (1 - eps) G(z), eps ~ U[0, 1]                          (Gulrajani et al. eq. 3)
    L_G = -E[D(G(z))]

with the paper's settings (Algorithm 1): lambda = 10, n_critic = 5 critic
updates per generator update, Adam with lr 1e-4, beta1 = 0, beta2 = 0.9,
and no batch norm in the critic. Each critic update here reuses the step's
real batch against fresh fakes (the engine hands one batch per step).

Logged: d_loss, g_loss, d_real and d_fake (the critic's mean scores, as in
``dcgan``'s names), ``w_dist`` = d_real - d_fake (the critic's estimate of
the distance, which should fall as G improves) and ``gp``.
Capabilities: Latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.core.config import param, param_of
from genstudio.models.adversarial.critic import WassersteinCritic
from genstudio.models.adversarial.gan import GAN, GANConfig


@dataclass
class WGANGPConfig(GANConfig):
    lr_g: float = param_of(GANConfig, "lr_g", default=1e-4, help="Adam learning rate of the generator (paper: 1e-4)")
    lr_d: float = param_of(GANConfig, "lr_d", default=1e-4, help="Adam learning rate of the critic (paper: 1e-4)")
    beta1: float = param_of(GANConfig, "beta1", default=0.0, help="Adam beta1 (paper: 0)")
    beta2: float = param_of(GANConfig, "beta2", default=0.9, help="Adam beta2 (paper: 0.9)")
    d_steps: int = param_of(GANConfig, "d_steps", default=5, help="critic updates per generator update (paper: n_critic = 5)")
    gp_weight: float = param(10.0, "gradient penalty weight lambda (paper: 10)", min=0.0, max=1000.0)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """E[(||grad_xhat critic(xhat)||_2 - 1)^2] on xhat = eps real + (1 - eps) fake (Gulrajani et al. eq. 3)."""
    xhat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    out = critic(xhat)
    # create_graph: the penalty is itself differentiated with respect to the critic's weights.
    (grad,) = torch.autograd.grad(out.sum(), xhat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class WGANGP(WassersteinCritic, GAN):
    config_class = WGANGPConfig
    summary = "WGAN-GP: a critic estimating the Wasserstein distance, kept 1-Lipschitz by a gradient penalty"
    metric_groups = {
        "Losses": ["d_loss", "g_loss"],
        "D outputs": ["d_real", "d_fake"],
        "Critic": ["w_dist", "gp"],
        "Modes covered (8gaussians)": ["modes"],
        "Sample diversity": ["diversity"],
    }

    def d_objective(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out_r, out_f = self.D(real, y), self.D(fake, y)
        eps = torch.rand(real.shape[0], 1, device=real.device)
        gp = gradient_penalty(lambda h: self.D(h, y), real, fake, eps)
        loss = self.d_loss(out_r, out_f) + self.config.gp_weight * gp
        return loss, {**self.critic_stats(out_r, out_f), "gp": gp}
