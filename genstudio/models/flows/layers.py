"""Invertible layers shared by the flow models, and the network that stacks them.

Every layer maps x -> y and returns ``(y, logdet)`` with ``logdet`` the
per-example log |det dy/dx| (shape N), and has an exact ``inverse``. Layers
work on vectors (N x D) and, where it makes sense, on images (N x C x H x W);
the channel axis is always dimension 1.

- :class:`Coupling`: the coupling layer of NICE (additive, Dinh et al. 2014,
  eq. 4) and RealNVP / Glow (affine, Dinh et al. 2017 eq. 4-5). Written with
  a binary mask b as in RealNVP eq. 9: y = b*x + (1-b)*(x*exp(s(b*x)) + t(b*x)),
  so checkerboard, channel and alternating-dimension masks are one class.
  Its ``mixture-logistic`` kind is Flow++'s elementwise map instead (Ho et
  al. 2019): the logit of a mixture of logistics' CDF, then an affine map.
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
flattened: it has exactly as many dimensions as the data. With
``split_priors`` each factored-out part gets Glow's learned prior given the
kept part (:class:`SplitPrior`).
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
    so a checkerboard coupling knows which pixels it is predicting, and, where
    the caller passes one, a ``context`` of the same height and width (the
    features a conditional flow is conditioned on: Flow++'s dequantiser).
    """

    KINDS = ("additive", "affine", "affine-sigmoid", "mixture-logistic")

    def __init__(self, mask: torch.Tensor, net: nn.Module, kind: str = "affine", label: str = "coupling", components: int = 4):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"coupling kind must be one of {', '.join(self.KINDS)}; got {kind!r}")
        self.register_buffer("mask", mask)
        self.net = net
        self.kind = kind
        self.label = label
        self.components = components
        if kind in ("affine", "mixture-logistic"):
            self.scale = nn.Parameter(torch.ones(mask.shape[1]))
        if kind == "mixture-logistic":
            _spread_mixture_means(net, components, mask.shape[1])

    @staticmethod
    def outputs_per_channel(kind: str, components: int = 4) -> int:
        """How many conditioner outputs each transformed channel takes: t; s and t; or a, b and K weights, means, scales."""
        return {"additive": 1, "affine": 2, "affine-sigmoid": 2}.get(kind, 2 + 3 * components)

    def _net_input(self, x_masked: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        extra = [] if context is None else [context]
        if x_masked.dim() == 4:
            m = self.mask[:, :1].expand(x_masked.shape[0], 1, *x_masked.shape[2:])
            return torch.cat([x_masked, m, *extra], 1)
        return torch.cat([x_masked, *extra], 1) if extra else x_masked

    def _shift_and_log_scale(self, x_masked: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        free = 1.0 - self.mask
        h = self.net(self._net_input(x_masked, context))
        if self.kind == "additive":
            return h * free, None
        raw, t = h.chunk(2, dim=1)
        if self.kind == "affine":
            s = _channel_view(self.scale, raw) * torch.tanh(raw)
        else:
            s = F.logsigmoid(raw + 2.0)
        return t * free, s * free

    def _mixture_params(self, x_masked: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """Flow++'s per-dimension parameters: log-scale a, shift b, and K log-weights, means and log-scales."""
        # Back to the input's precision: under bf16 autocast the mixture's log-sum-exps would lose the tails.
        h = self.net(self._net_input(x_masked, context)).to(x_masked.dtype)
        k, c = self.components, self.mask.shape[1]
        h = h.view(h.shape[0], 2 + 3 * k, c, *h.shape[2:])
        raw_a, b = h[:, 0], h[:, 1]
        a = _channel_view(self.scale, raw_a) * torch.tanh(raw_a)
        log_w = torch.log_softmax(h[:, 2 : 2 + k], dim=1)
        means, log_s = h[:, 2 + k : 2 + 2 * k], h[:, 2 + 2 * k :].clamp(min=-7.0)  # Flow++ bounds the scales too
        return a, b, log_w, means, log_s

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "mixture-logistic":
            return self._mixture_forward(x, context)
        t, s = self._shift_and_log_scale(x * self.mask, context)
        if s is None:
            return x + t, x.new_zeros(x.shape[0])
        return x * torch.exp(s) + t, _sum_per_example(s)

    def _mixture_forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # Flow++ (Ho et al. 2019, its mixture-of-logistics coupling): y = logit(MixLogCDF(x; w, mu, s)) * exp(a) + b. The
        # mixture's CDF can put a pixel's two modes (ink, background) on either side of the Gaussian's bulk,
        # which one affine map per coupling cannot.
        a, b, log_w, means, log_s = self._mixture_params(x * self.mask, context)
        free = 1.0 - self.mask
        logit_c, log_pdf = mixture_logistic_logit_cdf(x, log_w, means, log_s)
        y = logit_c * torch.exp(a) + b
        return self.mask * x + free * y, _sum_per_example(free * (log_pdf + a))

    def inverse(self, y: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "mixture-logistic":
            a, b, log_w, means, log_s = self._mixture_params(y * self.mask, context)
            z = ((y - b) * torch.exp(-a)).clamp(-INVERSE_LOG_SCALE_CAP, INVERSE_LOG_SCALE_CAP)
            x = mixture_logistic_inverse(z, log_w, means, log_s)
            return self.mask * y + (1.0 - self.mask) * x
        # The masked part is unchanged, so the conditioner sees the same input as in forward.
        t, s = self._shift_and_log_scale(y * self.mask, context)
        if s is None:
            return y - t
        # A latent far from the data's region can ask for a factor exp(-s) beyond float32 (Glow's sigmoid
        # scale near 0 inverts to e^30 and more); capped, such a sample comes out saturated instead of
        # inf, whose inf * 0 in the next layer's mask turns into NaN. Data never comes near (s > -30).
        return (y - t) * torch.exp((-s).clamp(max=INVERSE_LOG_SCALE_CAP))


def _spread_mixture_means(net: nn.Module, components: int, channels: int) -> None:
    """The conditioner's zero output gives K equal components, whose gradients would stay equal forever; their
    means start spread over [-1, 1] instead (the coupling then starts close to, not at, the identity)."""
    last = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))][-1]
    with torch.no_grad():
        bias = last.bias.view(2 + 3 * components, channels)
        bias[2 + components : 2 + 2 * components] = torch.linspace(-1.0, 1.0, components).view(-1, 1)


def mixture_logistic_logit_cdf(
    x: torch.Tensor, log_w: torch.Tensor, means: torch.Tensor, log_s: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """logit(F(x)) and log |d logit(F(x)) / dx| for F the CDF of a mixture of logistics (components on dim 1).

    Both from log-sum-exps of log-sigmoids, so they stay finite where F is within float precision of 0 or 1:
    logit F = log F - log(1 - F), and its derivative is f / (F (1 - F)).
    """
    u = (x.unsqueeze(1) - means) * torch.exp(-log_s)
    log_cdf = torch.logsumexp(log_w + F.logsigmoid(u), dim=1)
    log_sf = torch.logsumexp(log_w + F.logsigmoid(-u), dim=1)
    log_pdf = torch.logsumexp(log_w - log_s + F.logsigmoid(u) + F.logsigmoid(-u), dim=1)
    return log_cdf - log_sf, log_pdf - log_cdf - log_sf


def mixture_logistic_inverse(
    z: torch.Tensor, log_w: torch.Tensor, means: torch.Tensor, log_s: torch.Tensor, iterations: int = 60
) -> torch.Tensor:
    """The x with logit(F(x)) = z, by bisection (Flow++ inverts its coupling the same way).

    The bracket is exact: F(x) lies between the smallest and largest component CDF, and component k reaches
    logit z at mu_k + s_k z, so the root lies between the smallest and largest of those.
    """
    ends = means + torch.exp(log_s) * z.unsqueeze(1)
    lo, hi = ends.min(dim=1).values, ends.max(dim=1).values
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = mixture_logistic_logit_cdf(mid, log_w, means, log_s)[0] < z
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return 0.5 * (lo + hi)


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


class SplitPrior(nn.Module):
    """Glow's learned prior on a factored-out part: N(mu(h), exp(log_sigma(h))^2) given the kept part h.

    Written as the bijection eps = (z - mu) * exp(-log_sigma) with log-det -sum log_sigma, so the latent
    stays standard normal and the prior, sampling and the latent views need no special case. mu and
    log_sigma come from one zero-initialised 3 x 3 convolution of h (``split`` with ``conv2d_zeros`` in the
    Glow code), so a new part starts with the standard normal prior RealNVP uses, and a checkpoint from
    before the prior existed loads with zeros here and means what it meant.
    """

    def __init__(self, kept_channels: int, part_channels: int):
        super().__init__()
        self.net = nn.Conv2d(kept_channels, 2 * part_channels, 3, padding=1)
        nn.init.zeros_(self.net.weight)
        nn.init.zeros_(self.net.bias)

    def _mean_and_log_sigma(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, raw = self.net(kept).to(kept.dtype).chunk(2, dim=1)  # under bf16 autocast, back to the state's precision
        # Bounded like the couplings' scales (tanh), so an early large step cannot blow up the latent.
        return mu, 3.0 * torch.tanh(raw / 3.0)

    def forward(self, part: torch.Tensor, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, log_sigma = self._mean_and_log_sigma(kept)
        return (part - mu) * torch.exp(-log_sigma), -_sum_per_example(log_sigma)

    def inverse(self, eps: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
        mu, log_sigma = self._mean_and_log_sigma(kept)
        return eps * torch.exp(log_sigma) + mu


# -- the stack -----------------------------------------------------------------


class FlowNetwork(nn.Module):
    """Levels of layers; after each level but the last, half the channels are factored out.

    ``forward`` returns the latent flattened to N x D (every factored-out part,
    then what is left after the last level) and the per-example log-det.
    A single level is a plain stack, as used for vectors.
    """

    def __init__(self, levels: list[list[FlowLayer]], in_shape: tuple[int, ...], split_priors: bool = False):
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
        # Glow's learned prior on each factored-out part (figure 2b, ``split`` in the paper's code), one per split.
        self.split_priors = (
            nn.ModuleList(SplitPrior(s[0], s[0]) for s in self.factored_shapes)
            if split_priors and len(self.in_shape) == 3
            else None
        )

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
                    part, x = x[:, :half], x[:, half:]
                    if self.split_priors is not None:
                        part, ld = self.split_priors[k](part, x)
                        logdet = logdet + ld
                    factored.append(part)
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
                part = parts[k].reshape(n, *self.factored_shapes[k])
                if self.split_priors is not None:
                    part = self.split_priors[k].inverse(part, x)
                x = torch.cat([part, x], 1)
            for layer in reversed(self.levels[k]):
                # Bounded, so an overflowing sample stays finite (see Coupling.inverse); the states of real
                # data and of the prior's typical draws are orders of magnitude inside the bound.
                x = layer.inverse(x).clamp(-INVERSE_STATE_BOUND, INVERSE_STATE_BOUND)
        return x
