"""Variational dequantisation (Ho et al. 2019, Flow++, section 3.1): learned noise in place of uniform noise.

A flow on 8-bit images models y = (k + u) / 256. With u ~ U(0, 1)^D the bound
on the discrete log-likelihood is E_u[log p(y)] - D log 256 (flows.base), and
the flow must spread its density evenly over each pixel's bin, which a smooth
density does badly. Flow++ draws u from a learned q(u | k) instead:

    log P(k) >= E_{u ~ q}[log p((k + u) / 256) - log q(u | k)] - D log 256   (Flow++ eq. 12)

which is the uniform bound when q is uniform (log q = 0) and tighter as q
approaches the flow's own density inside each bin. q is itself a flow,
conditioned on the image: eps ~ N(0, I), h = g(eps; k) with affine couplings
whose conditioners see the image's features, and u = sigmoid(h), so

    log q(u | k) = log N(eps) - log |dh/deps| - sum_d log sigmoid'(h_d).

Both are trained together on the bound; sampling never uses q.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ConvResNet, Coupling, checkerboard_mask
from .priors import standard_normal_log_prob


class VariationalDequantizer(nn.Module):
    """q(u | k) for images of ``shape`` (C, H, W): ``forward(x, eps)`` gives u in (0, 1) and log q(u | x) per example."""

    def __init__(self, shape: tuple[int, int, int], hidden: int = 16, couplings: int = 4, blocks: int = 1):
        super().__init__()
        c, h, w = shape
        # The image's features, shared by every coupling (Flow++ conditions its dequantiser the same way).
        self.features = nn.Sequential(nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU())
        # RealNVP's affine couplings, their conditioners seeing the features too (each starts as the identity).
        self.couplings = nn.ModuleList(
            Coupling(checkerboard_mask(c, h, w, i % 2), ConvResNet(c + 1 + hidden, hidden, 2 * c, blocks), "affine", label="dequantiser")
            for i in range(couplings)
        )

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``x`` (k / 255) and standard normal ``eps`` of the same shape -> (u, log q(u | x))."""
        log_q = standard_normal_log_prob(eps)
        context = self.features(x - 0.5).to(eps.dtype)
        h = eps
        for coupling in self.couplings:
            h, logdet = coupling(h, context)
            log_q = log_q - logdet
        # d sigmoid(h) / dh = sigmoid(h) sigmoid(-h); in log-sigmoids, stable for any h.
        log_q = log_q - (F.logsigmoid(h) + F.logsigmoid(-h)).flatten(1).sum(1)
        return torch.sigmoid(h), log_q
