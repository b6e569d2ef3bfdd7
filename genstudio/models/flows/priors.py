"""The flows' base densities, per example: the standard normal (RealNVP, Glow, MAF, IAF, Flow++'s
dequantiser) and the standard logistic (NICE)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2) + LOG_2PI).flatten(1).sum(1)


def standard_logistic_log_prob(z: torch.Tensor) -> torch.Tensor:
    """NICE's prior (section 3.4): log p(z) = -(softplus(z) + softplus(-z)) per dimension."""
    return -(F.softplus(z) + F.softplus(-z)).flatten(1).sum(1)


class ClassPrior(nn.Module):
    """Glow's class-conditional prior (Kingma & Dhariwal 2018; ``ycond`` in the paper's code): for class y,
    z ~ N(mu_y, diag(sigma_y^2)), a learned mean and log-scale per class and dimension of the flat latent.

    Both start at zero, so a new model's prior is the standard normal for every class. The flow is shared,
    so the marginal over K equally likely classes, log p(z) = logsumexp_y log p(z | y) - log K, is as exact
    as the conditional and costs one flow pass: the bits/dim of a class-conditional flow are of the digits
    alone, comparable with an unconditional flow's (and at most log K / (D ln 2) above its conditional bound).
    """

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(num_classes, dim))
        self.log_scale = nn.Parameter(torch.zeros(num_classes, dim))

    def log_prob(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log p(z | y) per example; ``z`` N x D, ``labels`` N (0..K-1)."""
        mean, log_scale = self.mean[labels].to(z.dtype), self.log_scale[labels].to(z.dtype)
        return standard_normal_log_prob((z - mean) * torch.exp(-log_scale)) - log_scale.sum(1)

    def marginal_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_y log p(z | y) - log K per example, the classes equally likely."""
        k = self.mean.shape[0]
        diff = (z.unsqueeze(1) - self.mean.to(z.dtype)) * torch.exp(-self.log_scale.to(z.dtype))  # N x K x D
        per_class = standard_normal_log_prob(diff.flatten(0, 1)).view(-1, k) - self.log_scale.to(z.dtype).sum(1)
        return torch.logsumexp(per_class, dim=1) - math.log(k)

    def sample(self, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """z = mu_y + sigma_y * eps for standard normal (or temperature-scaled) ``eps`` N x D."""
        return self.mean[labels] + torch.exp(self.log_scale[labels]) * eps
