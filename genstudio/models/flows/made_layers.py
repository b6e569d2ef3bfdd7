"""MADE (Germain et al. 2015) and the autoregressive affine layer MAF and IAF are made of.

MADE makes an MLP autoregressive by masking its weights. Each input
dimension d gets a degree m(d) in 1..D (its position in the ``order``);
each hidden unit a degree in 1..D-1; a weight from a unit of degree a to a
hidden unit of degree b is kept when b >= a, and to output i when
m(i) > a (Germain et al. eq. 12-13). So output i depends only on inputs
that come before it in the order: one pass gives every conditional.

:class:`AutoregressiveAffine` is the layer x_i = u_i * exp(a_i) + mu_i with
(mu_i, a_i) computed by a MADE from the dimensions before i:

- ``conditioned_on="x"`` is MAF (Papamakarios et al. 2017, eq. 2-3): the
  density direction x -> u is one MADE pass, sampling u -> x needs D
  sequential passes.
- ``conditioned_on="u"`` is IAF (Kingma et al. 2016, eq. 10): sampling
  u -> x is one pass, the density direction needs D passes.

As :class:`~genstudio.models.flows.layers.FlowLayer`, ``forward`` is always
the density direction (data -> latent) and ``inverse`` the sampling one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import FlowLayer

# Soft bound on a MADE log-scale, |a| < LOG_SCALE_BOUND: a layer can still scale by
# exp(4) ~ 55, and the sequential inversion cannot blow up in one early step.
LOG_SCALE_BOUND = 4.0


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 connectivity mask (out x in)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        if mask.shape != (out_features, in_features):
            raise ValueError(f"mask shape {tuple(mask.shape)} does not match ({out_features}, {in_features})")
        self.register_buffer("mask", mask.float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(order: torch.Tensor, hidden_sizes: list[int]) -> list[torch.Tensor]:
    """Degrees of the input units (1..D from ``order``) and of each hidden layer (cycling 1..D-1).

    ``order[d]`` is the position of dimension d in the autoregressive order (0-based).
    Cycling the hidden degrees (rather than drawing them) gives every degree
    the same number of units, which is what a 2-D model with few units needs.
    """
    d = order.numel()
    degrees = [order.long() + 1]
    top = max(d - 1, 1)
    for h in hidden_sizes:
        degrees.append(torch.arange(h) % top + 1)
    return degrees


def made_masks(order: torch.Tensor, hidden_sizes: list[int], params_per_dim: int) -> list[torch.Tensor]:
    """Connectivity masks (out x in) of every layer of a MADE, output layer last.

    The output layer has ``params_per_dim`` blocks of D units; unit k*D + i belongs to dimension i.
    """
    degrees = made_degrees(order, hidden_sizes)
    masks = [(deg_out[:, None] >= deg_in[None, :]).float() for deg_in, deg_out in zip(degrees[:-1], degrees[1:])]
    out_deg = degrees[0].repeat(params_per_dim)
    masks.append((out_deg[:, None] > degrees[-1][None, :]).float())
    return masks


class MADE(nn.Module):
    """Masked autoencoder: N x D -> N x params_per_dim x D, output [:, :, i] a function of inputs before i.

    The output layer starts at zero, so a flow built from MADEs starts as the identity.
    """

    def __init__(self, dim: int, hidden: int, hidden_layers: int, params_per_dim: int, order: torch.Tensor | None = None):
        super().__init__()
        order = torch.arange(dim) if order is None else order
        self.register_buffer("order", order.long().clone())
        self.dim = dim
        self.params_per_dim = params_per_dim
        sizes = [dim] + [hidden] * hidden_layers + [params_per_dim * dim]
        masks = made_masks(self.order, [hidden] * hidden_layers, params_per_dim)
        self.layers = nn.ModuleList(MaskedLinear(a, b, m) for a, b, m in zip(sizes[:-1], sizes[1:], masks))
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.zeros_(self.layers[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for k, layer in enumerate(self.layers):
            h = layer(h)
            if k < len(self.layers) - 1:
                h = F.relu(h)
        return h.view(x.shape[0], self.params_per_dim, self.dim)


class AutoregressiveAffine(FlowLayer):
    """x = u * exp(a) + mu, with (mu, a) from a MADE of x (MAF) or of u (IAF); see the module doc."""

    def __init__(self, dim: int, hidden: int, hidden_layers: int, conditioned_on: str = "x", order: torch.Tensor | None = None):
        super().__init__()
        if conditioned_on not in ("x", "u"):
            raise ValueError(f"conditioned_on must be 'x' (MAF) or 'u' (IAF); got {conditioned_on!r}")
        self.conditioned_on = conditioned_on
        self.label = "MADE (MAF)" if conditioned_on == "x" else "MADE (IAF)"
        self.made = MADE(dim, hidden, hidden_layers, 2, order)
        self.dim = dim

    def shift_and_log_scale(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, raw = self.made(h).unbind(1)
        return mu, LOG_SCALE_BOUND * torch.tanh(raw / LOG_SCALE_BOUND)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Data -> latent: u = (x - mu) * exp(-a); log-det -sum a."""
        if self.conditioned_on == "x":
            mu, a = self.shift_and_log_scale(x)
            return (x - mu) * torch.exp(-a), -a.sum(1)
        # IAF density: solve for u one position at a time. After pass k every
        # dimension of order position < k+1 is exact, so D passes recover u.
        u = torch.zeros_like(x)
        for _ in range(self.dim):
            mu, a = self.shift_and_log_scale(u)
            u = (x - mu) * torch.exp(-a)
        return u, -a.sum(1)

    def inverse(self, u: torch.Tensor) -> torch.Tensor:
        """Latent -> data: x = u * exp(a) + mu."""
        if self.conditioned_on == "u":
            mu, a = self.shift_and_log_scale(u)
            return u * torch.exp(a) + mu
        x = torch.zeros_like(u)
        for _ in range(self.dim):
            mu, a = self.shift_and_log_scale(x)
            x = u * torch.exp(a) + mu
        return x
