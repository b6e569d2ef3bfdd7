"""Least-squares GAN (Mao et al., "Least Squares Generative Adversarial
Networks", ICCV 2017).

The idea: replace the sigmoid cross-entropy with least squares. With the
0-1 coding (a = 0 for fake, b = 1 for real, c = 1 as G's target; paper
eq. 2)

    min_D  1/2 E_x[(D(x) - 1)^2] + 1/2 E_z[D(G(z))^2]
    min_G  1/2 E_z[(D(G(z)) - 1)^2]

Fakes on the right side of the decision boundary but far from the real
data are still penalised, so G keeps a gradient where the saturating
sigmoid loss would give none, and training is more stable (section 3.2).

The networks and everything else are those of ``gan``; ``d_real`` and
``d_fake`` are D's raw outputs (targets 1 and 0). Capabilities: Latent.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.models.adversarial.gan import GAN, GANConfig


@dataclass
class LSGANConfig(GANConfig):
    pass


class LSGAN(GAN):
    config_class = LSGANConfig
    summary = "Least-squares GAN: the discriminator regresses real to 1 and fake to 0; G pulls its fakes to 1"
    d_output_kind = "score"

    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((real_out - 1) ** 2).mean() + 0.5 * (fake_out**2).mean()

    def g_loss_per_example(self, fake_out: torch.Tensor) -> torch.Tensor:
        return 0.5 * (fake_out - 1) ** 2

    def d_output(self, out: torch.Tensor) -> torch.Tensor:
        return out
