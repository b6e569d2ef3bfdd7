"""Noise-prediction networks: a small U-Net for images, an MLP for 2-D points.

The U-Net follows the DDPM one (Ho et al. 2020, appendix B, itself from
PixelCNN++): a sinusoidal timestep embedding through a two-layer MLP,
residual blocks with GroupNorm and SiLU that add the embedding after their
first convolution, stride-2 convolutions down and nearest-neighbour
up-sampling plus convolution up, skip connections concatenated across, and
self-attention at the lowest resolution. It is shrunk for CPUs: configurable
base channels and multipliers, one residual block per level by default. Cost
is set by the channels at full resolution, capacity mostly by those at the
lowest, so the default (16, 32, 64 channels at 28, 14, 7 pixels) keeps
0.64M parameters at 27 GFLOP per training step of 64 MNIST digits, where
(32, 64, 64) has 1.06M at 72 GFLOP.
The output convolution and each block's last convolution start at zero, so
the initial network is the identity through every residual path and predicts
zero noise.

Both networks take an optional class label y for classifier-free guidance
(Ho & Salimans 2022): a learned class embedding is added to the timestep
embedding, and the extra index ``num_classes`` is the "no label" token the
unconditional model is trained with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.models.nets import group_count, sinusoidal_embedding


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t followed by Linear-SiLU-Linear (DDPM appendix B)."""

    def __init__(self, base_dim: int, out_dim: int):
        super().__init__()
        self.base_dim = base_dim
        self.mlp = nn.Sequential(nn.Linear(base_dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.base_dim))


class ClassEmbedding(nn.Module):
    """A learned vector per class plus one for "no label" (index ``num_classes``), added to the time embedding."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, dim)

    def forward(self, y: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor:
        if y is None:  # unconditional: every example gets the null token
            y = torch.full((n,), self.num_classes, dtype=torch.long, device=device)
        return self.table(y.to(device).long())


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, temb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(group_count(in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.temb = nn.Linear(temb_dim, out_ch)
        self.norm2 = nn.GroupNorm(group_count(out_ch), out_ch)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = _zero(nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Multi-head self-attention over all positions, residual."""

    def __init__(self, channels: int, heads: int = 4):
        super().__init__()
        self.heads = heads if channels % heads == 0 else 1
        self.norm = nn.GroupNorm(group_count(channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = _zero(nn.Conv2d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # n x heads x hw x c/heads
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return x + self.proj(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """eps_hat(x_t, t) for images whose height and width are divisible by 2^(len(mults) - 1)."""

    def __init__(
        self,
        in_channels: int,
        base_channels: int = 16,
        channel_mults: tuple[int, ...] = (1, 2, 4),
        num_res_blocks: int = 1,
        attention: bool = True,
        dropout: float = 0.0,
        num_classes: int = 0,
        out_channels: int | None = None,
    ):
        super().__init__()
        temb_dim = 4 * base_channels
        self.levels = len(channel_mults)
        self.time_embedding = TimeEmbedding(base_channels, temb_dim)
        self.class_embedding = ClassEmbedding(num_classes, temb_dim) if num_classes > 0 else None
        self.conv_in = nn.Conv2d(in_channels, base_channels, 3, padding=1)

        ch = base_channels
        skip_channels = [ch]
        self.down = nn.ModuleList()
        for level, mult in enumerate(channel_mults):
            for _ in range(num_res_blocks):
                self.down.append(ResBlock(ch, base_channels * mult, temb_dim, dropout))
                ch = base_channels * mult
                skip_channels.append(ch)
            if level < self.levels - 1:
                self.down.append(Downsample(ch))
                skip_channels.append(ch)

        self.mid1 = ResBlock(ch, ch, temb_dim, dropout)
        self.mid_attention = AttentionBlock(ch) if attention else nn.Identity()
        self.mid2 = ResBlock(ch, ch, temb_dim, dropout)

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(channel_mults))):
            for _ in range(num_res_blocks + 1):
                self.up.append(ResBlock(ch + skip_channels.pop(), base_channels * mult, temb_dim, dropout))
                ch = base_channels * mult
            if level > 0:
                self.up.append(Upsample(ch))

        self.norm_out = nn.GroupNorm(group_count(ch), ch)
        # A conditioned network (the cascade's super-resolution stage) takes extra input channels but predicts only the image's.
        self.conv_out = _zero(nn.Conv2d(ch, out_channels or in_channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        temb = self.time_embedding(t)
        if self.class_embedding is not None:
            temb = temb + self.class_embedding(y, x.shape[0], x.device)
        h = self.conv_in(x)
        skips = [h]
        for block in self.down:
            h = block(h, temb) if isinstance(block, ResBlock) else block(h)
            skips.append(h)
        h = self.mid2(self.mid_attention(self.mid1(h, temb)), temb)
        for block in self.up:
            if isinstance(block, ResBlock):
                h = block(torch.cat([h, skips.pop()], dim=1), temb)
            else:
                h = block(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class MLPDenoiser(nn.Module):
    """eps_hat(x_t, t) for low-dimensional points: residual MLP blocks, each adding the time embedding."""

    def __init__(self, dim: int, hidden: int = 128, depth: int = 3, temb_base: int = 64, num_classes: int = 0):
        super().__init__()
        self.time_embedding = TimeEmbedding(temb_base, hidden)
        self.class_embedding = ClassEmbedding(num_classes, hidden) if num_classes > 0 else None
        self.inp = nn.Linear(dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = _zero(nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        temb = self.time_embedding(t)
        if self.class_embedding is not None:
            temb = temb + self.class_embedding(y, x.shape[0], x.device)
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(F.silu(h + temb))
        return self.out(F.silu(h))
