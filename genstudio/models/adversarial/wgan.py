"""Wasserstein GAN with weight clipping (Arjovsky, Chintala & Bottou, "Wasserstein
Generative Adversarial Networks", ICML 2017).

The idea: train a critic f (no sigmoid) to estimate the Wasserstein-1
distance between the data and G's distribution through the
Kantorovich-Rubinstein duality,

    W(P_r, P_g) = sup_{||f||_L <= 1}  E_x[f(x)] - E_z[f(G(z))]           (Arjovsky et al. eq. 2)

and let G minimise -E_z[f(G(z))]. The supremum is over 1-Lipschitz functions;
the paper gets a K-Lipschitz family (K depending on the architecture) by
clamping every critic weight to [-c, c] after each critic update. Algorithm 1,
as here:

    for each generator iteration:
        repeat n_critic times:                                    (d_steps, default 5)
            g_w <- grad_w [mean f(x) - mean f(G(z))]
            w <- w + alpha RMSProp(w, g_w)                        (lr alpha = 5e-5)
            w <- clip(w, -c, c)                                   (clip c = 0.01)
        g_theta <- -grad_theta mean f(G(z))
        theta <- theta - alpha RMSProp(theta, g_theta)

RMSProp rather than Adam because momentum made the critic's training unstable
in the paper (section 4). The clipping is the paper's own "clearly terrible
way" to enforce the constraint (section 3): with c too small gradients vanish,
too large the critic takes long to reach its optimum, and weights pile up at
+-c, which the GAN tab shows as a histogram of all critic weights against the
clip lines (``wgan-gp`` replaces the clipping by a gradient penalty; compare the
two runs' ``w_dist`` in the compare view).

Networks: MLPs on 2-D points (as ``gan`` and ``wgan-gp``); on images DCGAN-style
convolutions (the paper's DCGAN generator, and a critic of two strided
convolutions without batch norm, so that the critic scores each image on its
own and the GAN view can evaluate it on any batch). Everything else (model
space, sampling, the GAN view's hooks) is ``gan``'s, on flattened model-space
examples.

Logged: d_loss, g_loss, d_real and d_fake (the critic's mean scores), ``w_dist``
= d_real - d_fake (the critic's Wasserstein estimate, up to the unknown
Lipschitz constant K; it should fall as G improves, the paper's figure 3) and
``at_clip``, the fraction of critic weights at +-c (within 5 % of c).
Capabilities: Latent and Adversarial.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import DataInfo
from genstudio.core.model import GenerativeModel
from genstudio.models.adversarial.critic import WassersteinCritic
from genstudio.models.adversarial.dcgan import Generator as ConvGenerator
from genstudio.models.adversarial.dcgan import init_dcgan_weights
from genstudio.models.adversarial.gan import GAN, GANConfig
from genstudio.models.nets import crop_to, mlp, pad_to, padded_size, point_normalisation

#: |w| within this fraction of c counts as "at the bound": a weight clamped to c is moved back inside by the next
#: RMSProp step, by about lr (1e-4 = 1 % of c = 0.01), before the clamp may catch it again.
AT_CLIP_TOLERANCE = 0.05


@dataclass
class WGANConfig:
    # Not a GANConfig: RMSProp has no Adam betas and the critic no dropout, so the form shows neither.
    z_dim: int = param_of(GANConfig, "z_dim")
    hidden: int = param_of(GANConfig, "hidden", help="width of the hidden layers of G and the critic on 2-D points")
    layers: int = param_of(GANConfig, "layers", help="hidden layers in each network on 2-D points")
    lr_g: float = param_of(GANConfig, "lr_g", default=5e-5, help="RMSProp learning rate of the generator (paper: 5e-5)")
    lr_d: float = param_of(GANConfig, "lr_d", default=5e-5, help="RMSProp learning rate of the critic (paper: 5e-5)")
    d_steps: int = param_of(GANConfig, "d_steps", default=5, help="critic updates per generator update (paper: n_critic = 5)")
    clip: float = param(0.01, "every critic weight is clamped to [-clip, clip] after each critic update (paper: c = 0.01)", min=1e-4, max=10.0, log=True)
    channels: int = param(32, "convolution channels of G and the critic on images (doubled in the second layer)", min=4, max=512)


class ConvCritic(nn.Module):
    """Flattened model-space images -> two stride-2 convs with LeakyReLU -> one score, N x 1 (no batch norm)."""

    def __init__(self, shape: tuple[int, ...], hp: int, wp: int, d: int):
        super().__init__()
        self.shape, self.hp, self.wp = tuple(shape), hp, wp
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], d, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(d, 2 * d, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * d * (hp // 4) * (wp // 4), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        img = pad_to(x.view(-1, *self.shape), self.hp, self.wp, value=-1.0)
        return self.net(img)


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    """w <- clip(w, -c, c) for every parameter (Arjovsky et al., Algorithm 1, line 8)."""
    for p in module.parameters():
        p.clamp_(-c, c)


def critic_weights(module: nn.Module) -> np.ndarray:
    """All of the critic's parameters as one flat float32 array (for the GAN tab's histogram)."""
    with torch.no_grad():
        return torch.cat([p.detach().float().flatten().cpu() for p in module.parameters()]).numpy()


def fraction_at_clip(module: nn.Module, c: float) -> torch.Tensor:
    """The share of critic weights whose magnitude sits at the clip bound c."""
    with torch.no_grad():
        flat = torch.cat([p.detach().flatten() for p in module.parameters()])
        return (flat.abs() >= c * (1 - AT_CLIP_TOLERANCE)).float().mean()


class WGAN(WassersteinCritic, GAN):
    config_class = WGANConfig
    summary = "WGAN: a critic estimating the Wasserstein distance, kept Lipschitz by clipping its weights (RMSProp)"
    metric_groups = {
        "Losses": ["d_loss", "g_loss"],
        "D outputs": ["d_real", "d_fake"],
        "Critic": ["w_dist"],
        "Critic weights at ±clip": ["at_clip"],
        "Modes covered (8gaussians)": ["modes"],
        "Sample diversity": ["diversity"],
    }

    def __init__(self, config: Any, data_info: DataInfo):
        GenerativeModel.__init__(self, config, data_info)  # gan's __init__ would build MLPs and Adam optimisers
        self.is_image = data_info.kind == "image"
        self.latent_dim = config.z_dim
        if self.is_image:
            # DCGAN-style networks on images (the paper's figures 1-3 use a DCGAN generator).
            c, h, w = data_info.shape
            hp, wp = padded_size(h, 4), padded_size(w, 4)
            self.generator = ConvGenerator(config.z_dim, c, hp, wp, config.channels)
            self.discriminator = ConvCritic((c, h, w), hp, wp, config.channels)
            self.generator.apply(init_dcgan_weights)
            self.discriminator.apply(init_dcgan_weights)
        else:
            # gan's MLPs on 2-D points (as wgan-gp), in the data's normalised coordinates.
            hid = [config.hidden] * config.layers
            self.generator = mlp([config.z_dim, *hid, data_info.dim], nn.ReLU)
            self.discriminator = mlp([data_info.dim, *hid, 1], functools.partial(nn.LeakyReLU, 0.2))
            centre, scale = point_normalisation(data_info)
            self.register_buffer("centre", centre)
            self.register_buffer("scale", scale)
        # The critic starts inside the clipped set, so every critic it ever has is in it.
        clip_weights(self.discriminator, config.clip)
        self.opt_g = torch.optim.RMSprop(self.generator.parameters(), lr=config.lr_g)
        self.opt_d = torch.optim.RMSprop(self.discriminator.parameters(), lr=config.lr_d)

    def G(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if not self.is_image:
            return super().G(z, y)
        # The conv generator ends in tanh already; crop its padded output and flatten, as gan's model space is.
        return crop_to(self.generator(z), *self.data_info.shape[1:]).flatten(1)

    # -- the critic's objective (Arjovsky et al. eq. 2 and Algorithm 1; the losses in critic.py) ----------------
    def d_objective(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out_r, out_f = self.D(real, y), self.D(fake, y)
        return self.d_loss(out_r, out_f), self.critic_stats(out_r, out_f)

    def discriminator_step(self, real: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One RMSProp update of the critic, then every weight clipped to [-clip, clip] (Algorithm 1, lines 2-8)."""
        stats = super().discriminator_step(real, y)
        clip_weights(self.discriminator, self.config.clip)
        stats["at_clip"] = fraction_at_clip(self.discriminator, self.config.clip)
        return stats

    @torch.no_grad()
    def evaluate(self, batch) -> dict[str, float]:
        out = super().evaluate(batch)
        out["at_clip"] = float(fraction_at_clip(self.discriminator, self.config.clip))
        return out

    def sandbox_diagnostics(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        """What the GAN tab draws beside the game: every critic weight and the clip bound c."""
        return {
            "critic_weights": critic_weights(self.discriminator),
            "clip": float(self.config.clip),
            "at_clip": float(fraction_at_clip(self.discriminator, self.config.clip)),
            "at_clip_tolerance": AT_CLIP_TOLERANCE,
        }
