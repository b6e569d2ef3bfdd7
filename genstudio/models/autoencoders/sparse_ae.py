"""Sparse autoencoder (Ng, "Sparse autoencoder", CS294A lecture notes, 2011;
after Lee, Ekanadham & Ng, "Sparse deep belief net model for visual area V2",
NeurIPS 2008).

The idea: give the code many units with sigmoid activations a_j(x) in (0, 1)
and ask each to be active rarely. With rho_hat_j the mean activation of
unit j over a batch and rho a small target, the penalty is

    beta * sum_j KL(rho || rho_hat_j),
    KL(rho || rho_hat) = rho log(rho / rho_hat) + (1 - rho) log((1 - rho) / (1 - rho_hat))   (Ng's notes, section 3)

added to the reconstruction loss. Each unit then responds to few inputs,
and the decoder's columns become stroke-like parts.

Capabilities: Latent and Encoder, as the plain autoencoder; codes drawn by
``prior_sample`` are clipped to the sigmoid's range.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.core.config import param
from genstudio.core.model import randn
from genstudio.models.autoencoders.ae import AE, AEConfig

EPS = 1e-6


@dataclass
class SparseAEConfig(AEConfig):
    latent_dim: int = param(64, "number of code units (sigmoid activations)", min=1, max=2048)
    rho: float = param(0.05, "target mean activation of each code unit", min=1e-3, max=0.5)
    beta: float = param(3.0, "weight of the KL sparsity penalty", min=0.0, max=100.0)


def sparsity_kl(rho: float, rho_hat: torch.Tensor) -> torch.Tensor:
    """sum_j KL(Bernoulli(rho) || Bernoulli(rho_hat_j)) (Ng's notes, section 3)."""
    rho_hat = rho_hat.clamp(EPS, 1 - EPS)
    return (rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))).sum()


class SparseAE(AE):
    config_class = SparseAEConfig
    summary = "Sparse autoencoder: sigmoid code units pushed to a low mean activation rho by a KL penalty"
    metric_groups = {
        "Reconstruction": ["loss", "recon", "sparsity"],
        "Pixel error (MSE)": ["mse"],
        "Mean activation": ["mean_activation"],
    }

    def code_activation(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(h)

    def extra_losses(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"sparsity": self.config.beta * sparsity_kl(self.config.rho, code.mean(0))}

    def extra_stats(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mean_activation": code.mean()}

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = randn((n, self.latent_dim), generator, self.device)
        return (self.code_mean + eps * self.code_var.clamp_min(0).sqrt()).clamp(0, 1)
