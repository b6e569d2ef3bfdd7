"""The flows' base densities, per example: the standard normal (RealNVP, Glow, MAF, IAF, Flow++'s
dequantiser) and the standard logistic (NICE)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.pow(2) + LOG_2PI).flatten(1).sum(1)


def standard_logistic_log_prob(z: torch.Tensor) -> torch.Tensor:
    """NICE's prior (section 3.4): log p(z) = -(softplus(z) + softplus(-z)) per dimension."""
    return -(F.softplus(z) + F.softplus(-z)).flatten(1).sum(1)
