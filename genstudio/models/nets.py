"""Small building blocks shared by the model families.

Image models here downsample by strided convolutions, so they need sizes
divisible by a power of two. Rather than refuse 30x30 or 7x7 data, they pad
the input on the bottom and right to the next multiple and crop the output
back; the padded border is never scored by a loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.data_types import DataInfo


def padded_size(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``n``."""
    return -(-n // multiple) * multiple


def pad_to(x: torch.Tensor, height: int, width: int, value: float = 0.0) -> torch.Tensor:
    """Pad an N x C x H x W batch on the bottom and right to ``height`` x ``width``."""
    dh, dw = height - x.shape[-2], width - x.shape[-1]
    if dh == 0 and dw == 0:
        return x
    return F.pad(x, (0, dw, 0, dh), value=value)


def crop_to(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Undo :func:`pad_to`."""
    return x[..., :height, :width]


def point_normalisation(data_info: DataInfo) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and half-width that map 2-D data into roughly [-1, 1] from the data's extent.

    Models that assume unit-scale data (Gaussian priors, unit-variance noise)
    apply ``(x - centre) / scale``. Without an extent the data is used as is.
    """
    dim = data_info.dim
    if data_info.extent is not None and dim == 2:
        xmin, xmax, ymin, ymax = (float(v) for v in data_info.extent)
        centre = torch.tensor([(xmin + xmax) / 2, (ymin + ymax) / 2])
        scale = torch.tensor([max((xmax - xmin) / 2, 1e-6), max((ymax - ymin) / 2, 1e-6)])
        return centre, scale
    return torch.zeros(dim), torch.ones(dim)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.SiLU) -> nn.Sequential:
    """Linear layers of the given sizes with ``activation`` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer sinusoidal position embedding of (possibly fractional) timesteps: N -> N x dim.

    As in DDPM (Ho et al. 2020, appendix B) and "Attention is all you need" section 3.5.
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def group_count(channels: int, preferred: int = 8) -> int:
    """The largest group count up to ``preferred`` that divides ``channels`` (for GroupNorm)."""
    for g in range(min(preferred, channels), 0, -1):
        if channels % g == 0:
            return g
    return 1
