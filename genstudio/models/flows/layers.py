"""Invertible layers shared by the flow models, and the network that stacks them.

Every layer maps x -> y and returns ``(y, logdet)`` with ``logdet`` the
per-example log |det dy/dx| (shape N), and has an exact ``inverse``. Layers
work on vectors (N x D) and, where it makes sense, on images (N x C x H x W);
the channel axis is always dimension 1.

- :class:`Coupling`: the coupling layer of NICE (additive, Dinh et al. 2014,
  eq. 4) and RealNVP / Glow (affine, Dinh et al. 2017 eq. 4-5). Written with
  a binary mask b as in RealNVP eq. 9: y = b*x + (1-b)*(x*exp(s(b*x)) + t(b*x)),
  so checkerboard, channel and alternating-dimension masks are one class.
- :class:`DiagonalScaling`: NICE's final scaling layer (section 3.3).
- :class:`ActNorm`: Glow's per-channel affine layer with data-dependent
  initialisation (Kingma & Dhariwal 2018, section 3.1).
- :class:`InvertibleLinear`: Glow's invertible 1x1 convolution (section 3.2)
  with the optional LU parameterisation (eq. 10); on vectors a D x D matrix.
- :class:`Squeeze`: RealNVP's space-to-depth reshape (section 3.6).
- :class:`Permute`: a fixed reversal of the channel / dimension order.

:class:`FlowNetwork` stacks them in levels and factors half of the channels
out after every level but the last (RealNVP's multi-scale architecture,
section 3.6), so the latent is the concatenation of every factored-out part,
flattened: it has exactly as many dimensions as the data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Caps of the inverse pass (data -> latent is untouched): the largest log-factor a coupling's inverse
#: applies, and the largest magnitude a state takes between layers. A flow input in logit space lies
#: within about +-14 (alpha 1e-6), a standardised point within a few units.
INVERSE_LOG_SCALE_CAP = 30.0
INVERSE_STATE_BOUND = 1e6


def _sum_per_example(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(1)


def _spatial_size(x: torch.Tensor) -> int:
    """H*W for images, 1 for vectors: how many times a per-channel log-scale counts."""
    return x[0, 0].numel() if x.dim() > 2 else 1


def _channel_view(p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A per-channel vector (C) shaped to broadcast against ``x``."""
    return p.view(1, -1, *([1] * (x.dim() - 2)))


class FlowLayer(nn.Module):
    """An invertible map with a tractable log-determinant.

    ``label`` names the layer in the flow panel's layer slider.
    """

    label: str = "layer"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def inverse(self, y: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-example shape of the output for an input of ``shape`` (only Squeeze changes it)."""
        return shape


# -- masks ---------------------------------------------------------------------


def checkerboard_mask(channels: int, height: int, width: int, parity: int) -> torch.Tensor:
    """1 x C x H x W mask, 1 where (i + j) % 2 == parity (RealNVP figure 3, left)."""
    i = torch.arange(height).view(-1, 1)
    j = torch.arange(width).view(1, -1)
    m = ((i + j) % 2 == parity).float()
    return m.expand(channels, height, width).reshape(1, channels, height, width).clone()


def channel_mask(channels: int, height: int, width: int, parity: int) -> torch.Tensor:
    """1 x C x H x W mask, 1 on the first half of the channels (parity 0) or the second (RealNVP figure 3, right)."""
    m = torch.zeros(1, channels, height, width)
    half = channels // 2
    if parity == 0:
        m[:, :half] = 1.0
    else:
        m[:, half:] = 1.0
    return m


def alternating_mask(dim: int, parity: int) -> torch.Tensor:
    """1 x D mask, 1 on the even (parity 0) or odd dimensions (NICE section 5.1)."""
    return (torch.arange(dim) % 2 == parity).float().view(1, dim)


# -- conditioner networks ----------------------------------------------------------


def coupling_mlp(dim: int, hidden: int, layers: int, out_dim: int) -> nn.Sequential:
    """MLP conditioner for vectors; the last layer starts at zero so the coupling starts as the identity."""
    sizes = [dim] + [hidden] * layers + [out_dim]
    mods: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        mods.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            mods.append(nn.ReLU())
    nn.init.zeros_(mods[-1].weight)
    nn.init.zeros_(mods[-1].bias)
    return nn.Sequential(*mods)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.conv2(F.relu(self.conv1(F.relu(h))))


class ConvResNet(nn.Module):
    """Small residual CNN conditioner for images (RealNVP section 4.1 uses deep ResNets; ours is CPU-sized).

    The output convolution starts at zero so every coupling starts as the identity (Glow section 3.3).
    """

    def __init__(self, in_channels: int, hidden: int, out_channels: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.Sequential(*[ResidualBlock(hidden) for _ in range(blocks)])
        self.out = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.blocks(self.inp(x))))


# -- layers --------------------------------------------------------------------


class Coupling(FlowLayer):
    """Masked coupling: the masked part passes through and conditions a transform of the rest.

    ``kind``:
    - ``additive`` (NICE eq. 4): y = x + t(b*x) on the free part, log-det 0.
    - ``affine`` (RealNVP eq. 9): log-scale s = scale * tanh(raw), with a learned
      per-channel ``scale`` as in the RealNVP code, so s stays bounded early on.
    - ``affine-sigmoid`` (Glow's code): exp(s) = sigmoid(raw + 2), which starts near
      the identity and can only shrink; actnorm in every step supplies the growth.

    For images the conditioner also sees the mask as an extra input channel,
    so a checkerboard coupling knows which pixels it is predicting.
    """

    KINDS = ("additive", "affine", "affine-sigmoid")

    def __init__(self, mask: torch.Tensor, net: nn.Module, kind: str = "affine", label: str = "coupling"):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"coupling kind must be one of {', '.join(self.KINDS)}; got {kind!r}")
        self.register_buffer("mask", mask)
        self.net = net
        self.kind = kind
        self.label = label
        if kind == "affine":
            self.scale = nn.Parameter(torch.ones(mask.shape[1]))

    def _net_input(self, x_masked: torch.Tensor) -> torch.Tensor:
        if x_masked.dim() == 4:
            m = self.mask[:, :1].expand(x_masked.shape[0], 1, *x_masked.shape[2:])
            return torch.cat([x_masked, m], 1)
        return x_masked

    def _shift_and_log_scale(self, x_masked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        free = 1.0 - self.mask
        h = self.net(self._net_input(x_masked))
        if self.kind == "additive":
            return h * free, None
        raw, t = h.chunk(2, dim=1)
        if self.kind == "affine":
            s = _channel_view(self.scale, raw) * torch.tanh(raw)
        else:
            s = F.logsigmoid(raw + 2.0)
        return t * free, s * free

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t, s = self._shift_and_log_scale(x * self.mask)
        if s is None:
            return x + t, x.new_zeros(x.shape[0])
        return x * torch.exp(s) + t, _sum_per_example(s)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        # The masked part is unchanged, so the conditioner sees the same input as in forward.
        t, s = self._shift_and_log_scale(y * self.mask)
        if s is None:
            return y - t
        # A latent far from the data's region can ask for a factor exp(-s) beyond float32 (Glow's sigmoid
        # scale near 0 inverts to e^30 and more); capped, such a sample comes out saturated instead of
        # inf, whose inf * 0 in the next layer's mask turns into NaN. Data never comes near (s > -30).
        return (y - t) * torch.exp((-s).clamp(max=INVERSE_LOG_SCALE_CAP))


class DiagonalScaling(FlowLayer):
    """NICE's last layer: y = x * exp(s), one learned log-scale per dimension (NICE section 3.3)."""

    label = "scaling"

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(*shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ld = self.log_scale.sum().expand(x.shape[0])
        return x * torch.exp(self.log_scale), ld

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-self.log_scale)


class ActNorm(FlowLayer):
    """Per-channel y = (x + b) * exp(logs), initialised from the first training batch (Glow section 3.1).

    The first forward pass in training mode sets b and logs so that the output
    has zero mean and unit variance per channel. ``initialized`` is a buffer,
    so a checkpoint restores it and a resumed run does not re-initialise.
    """

    label = "actnorm"

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.logs = nn.Parameter(torch.zeros(channels))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        dims = [0] + list(range(2, x.dim()))
        mean, mean_sq = x.mean(dim=dims), x.pow(2).mean(dim=dims)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # Under DDP every rank must start from the same statistics, or the replicas diverge.
            stats = torch.stack([mean, mean_sq])
            torch.distributed.all_reduce(stats)
            mean, mean_sq = stats / torch.distributed.get_world_size()
        std = (mean_sq - mean.pow(2)).clamp_min(0).sqrt()
        if x.shape[0] * _spatial_size(x) == 1:
            std = torch.ones_like(mean)
        self.bias.copy_(-mean)
        self.logs.copy_(-torch.log(std + 1e-6))
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(x)
        y = (x + _channel_view(self.bias, x)) * torch.exp(_channel_view(self.logs, x))
        return y, (self.logs.sum() * _spatial_size(x)).expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * torch.exp(-_channel_view(self.logs, y)) - _channel_view(self.bias, y)


class InvertibleLinear(FlowLayer):
    """Glow's invertible 1x1 convolution: the same C x C matrix W at every pixel (section 3.2).

    log-det = H * W * log |det W|. With ``lu`` the matrix is kept as
    W = P L (U + diag(sign(s) exp(log|s|))) (Glow eq. 10): P fixed, L unit
    lower triangular, U strictly upper, so log |det W| = sum log|s| costs O(C)
    instead of O(C^3). Initialised as a random rotation. On vectors (N x D)
    it is a D x D invertible linear map.
    """

    label = "1x1 conv"

    def __init__(self, channels: int, lu: bool = True):
        super().__init__()
        self.lu = lu
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        if not lu:
            self.weight = nn.Parameter(w)
            return
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper).clone()
        self.register_buffer("perm", p.clone())
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(lower.clone())
        self.upper = nn.Parameter(torch.triu(upper, 1).clone())
        self.log_s = nn.Parameter(torch.log(torch.abs(s)))

    def matrix_and_logabsdet(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.lu:
            return self.weight, torch.linalg.slogdet(self.weight)[1]
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper, self.log_s.sum()

    @staticmethod
    def _multiply(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4:
            return F.conv2d(x, w.view(*w.shape, 1, 1))
        return x @ w.T

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w, logabsdet = self.matrix_and_logabsdet()
        return self._multiply(w, x), (logabsdet * _spatial_size(x)).expand(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        w, _ = self.matrix_and_logabsdet()
        return self._multiply(torch.linalg.inv(w), y)


class Squeeze(FlowLayer):
    """C x H x W -> 4C x H/2 x W/2: each 2x2 block of pixels becomes 4 channels (RealNVP section 3.6)."""

    label = "squeeze"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, c, h, w = x.shape
        y = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.view(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)

    def out_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        c, h, w = shape
        return (4 * c, h // 2, w // 2)


class Permute(FlowLayer):
    """Reverse the order of the channels (images) or dimensions (vectors); log-det 0."""

    label = "reverse"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.flip(1), x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y.flip(1)


# -- the stack -----------------------------------------------------------------


class FlowNetwork(nn.Module):
    """Levels of layers; after each level but the last, half the channels are factored out.

    ``forward`` returns the latent flattened to N x D (every factored-out part,
    then what is left after the last level) and the per-example log-det.
    A single level is a plain stack, as used for vectors.
    """

    def __init__(self, levels: list[list[FlowLayer]], in_shape: tuple[int, ...]):
        super().__init__()
        self.levels = nn.ModuleList(nn.ModuleList(level) for level in levels)
        self.in_shape = tuple(in_shape)
        # Per-example shapes of what each level factors out, for the inverse.
        self.factored_shapes: list[tuple[int, ...]] = []
        shape = self.in_shape
        for k, level in enumerate(levels):
            for layer in level:
                shape = layer.out_shape(shape)
            if k < len(levels) - 1:
                if shape[0] % 2:
                    raise ValueError(f"cannot factor out half of {shape[0]} channels")
                half = (shape[0] // 2, *shape[1:])
                self.factored_shapes.append(half)
                shape = half
        self.final_shape = shape

    def layers(self) -> list[FlowLayer]:
        return [layer for level in self.levels for layer in level]

    def layer_labels(self) -> list[str]:
        return [layer.label for layer in self.layers()]

    def _walk(self, x: torch.Tensor, record: bool):
        logdet = x.new_zeros(x.shape[0])
        factored: list[torch.Tensor] = []
        states, logdets = [], []
        if record:
            states.append(x.flatten(1))
            logdets.append(logdet)
        last = len(self.levels) - 1
        for k, level in enumerate(self.levels):
            for j, layer in enumerate(level):
                x, ld = layer(x)
                logdet = logdet + ld
                if k < last and j == len(level) - 1:
                    half = x.shape[1] // 2
                    factored.append(x[:, :half])
                    x = x[:, half:]
                if record:
                    states.append(torch.cat([f.flatten(1) for f in factored] + [x.flatten(1)], 1))
                    logdets.append(logdet)
        z = torch.cat([f.flatten(1) for f in factored] + [x.flatten(1)], 1)
        return z, logdet, states, logdets

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z, logdet, _, _ = self._walk(x, record=False)
        return z, logdet

    def layerwise(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The state after each layer (N x D, the input first) and the cumulative log-det up to it."""
        _, _, states, logdets = self._walk(x, record=True)
        return states, logdets

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        n = z.shape[0]
        sizes = [math.prod(s) for s in self.factored_shapes] + [math.prod(self.final_shape)]
        parts = list(z.split(sizes, dim=1))
        x = parts[-1].reshape(n, *self.final_shape)
        for k in range(len(self.levels) - 1, -1, -1):
            if k < len(self.levels) - 1:
                x = torch.cat([parts[k].reshape(n, *self.factored_shapes[k]), x], 1)
            for layer in reversed(self.levels[k]):
                # Bounded, so an overflowing sample stays finite (see Coupling.inverse); the states of real
                # data and of the prior's typical draws are orders of magnitude inside the bound.
                x = layer.inverse(x).clamp(-INVERSE_STATE_BOUND, INVERSE_STATE_BOUND)
        return x
