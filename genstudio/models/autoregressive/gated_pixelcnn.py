"""Gated PixelCNN (van den Oord et al., "Conditional Image Generation with PixelCNN Decoders", NeurIPS 2016).

Three changes to PixelCNN:

1. Two stacks remove the blind spot (section 2.2, figure 1): a *vertical*
   stack whose (k//2 + 1) x k kernels see every row above the current one,
   at any column within reach, and a *horizontal* stack whose 1 x (k//2 + 1)
   kernels see the current row to the left. The vertical stack's features,
   shifted down one row so they never see the current row, feed the
   horizontal stack through a 1x1 convolution; nothing flows back.
2. Gated activations (eq. 2): y = tanh(W_f * x) . sigmoid(W_g * x).
3. Residual connections in the horizontal stack and skip connections
   from every layer to the output.

Class conditioning (eq. 4) adds a learned per-class bias V h to both stacks'
pre-activations. With ``label_dropout`` > 0 the label is replaced by a null
class on that fraction of examples, so the same network is also
unconditional and sampling can use classifier-free guidance
(Ho & Salimans 2022) on the logits.

Dropout on each layer's gated output (PixelCNN++ section 2.6; 0.1 by default)
regularises training only: sampling, its row cache and ``log_prob`` run in eval
mode, on the whole network.

Colour: the horizontal stack's channels are split into R, G, B groups and
its convolutions' centre taps are masked by group (mask A in the first
layer, B after), as in PixelCNN; the vertical stack sees only rows above,
so it needs no channel mask.

Sampling (``cached=True``, exact): the vertical stack at row i - 1 is final
once row i is being drawn, and the horizontal stack looks only at the
current row, so :class:`GatedRowCache` computes each finished row of the
vertical stack once and, per pixel, only the horizontal stack's row i.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo

from .common import AutoregressiveTrainingConfig, ImageAutoregressive, MaskedConv2d, channel_groups, conv_mask
from .pixelcnn import output_groups


@dataclass
class GatedPixelCNNConfig:
    #: What a run folder's config.toml written before a setting existed trained with (core.runs reads it).
    absent_in_older_runs: ClassVar[dict[str, Any]] = {"lr_schedule": "constant", "dropout": 0.0}

    output: str = param_of(AutoregressiveTrainingConfig, "output")
    channels: int = param(32, "channels p of each stack (a multiple of 3 is best for colour)", min=3, max=512)
    layers: int = param(6, "gated layers (the first uses first_kernel, the rest 3 x 3 reach)", min=1, max=40)
    # 15, not 7: the first layer sees 7 rows up instead of 3, so with 6 layers a pixel sees 12 rows above it, not 8,
    # for 6 % more time a step (its input has one channel). On mnist5k at half the 10-minute budget (Polyak weights,
    # n=500, binarised reference) FID 31.0, 26.6, 25.6 at the last three checkpoints against 63.0, 58.1, 58.3:
    # with 8 rows a pixel cannot tell whether a digit has begun, and some samples came out blank.
    first_kernel: int = param(15, "kernel width of the first layer", min=3, max=15, choices=(3, 5, 7, 9, 11, 13, 15))
    output_hidden: int = param_of(AutoregressiveTrainingConfig, "output_hidden")
    class_conditional: bool = param(True, "condition on class labels when the dataset has them")
    label_dropout: float = param(0.1, "fraction of training labels replaced by a null class (enables guidance)", min=0.0, max=1.0)
    # 2e-3 with the linear fall below (benchmarks/RESULTS.md, time to quality): on mnist5k in 10 minutes, batches of 16,
    # FID 3.99 and 4.76 at n=500 and 0.115 and 0.113 bits/dim, against 4.80 and 5.45 and 0.116 and 0.113 at a constant 1e-3.
    lr: float = param_of(AutoregressiveTrainingConfig, "lr", default=2e-3)
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")
    # Polyak weights by default (benchmarks/RESULTS.md, likelihood methods): on mnist5k at half the 10-minute step
    # budget the raw weights' last three checkpoints scored FID 50, 98, 42 (spread 131 %), the average's 63, 58, 58 (8 %).
    ema_decay: float = param_of(AutoregressiveTrainingConfig, "ema_decay", default=0.999)
    # A linear fall to 0 over the run's budget (Li et al. 2020), from twice the rate: the run's last checkpoints settle
    # (benchmarks/RESULTS.md, time to quality). From 1e-3 the fall settled them too, but halved the mean rate and
    # scored FID 8.05 against 5.45 at a constant 1e-3.
    lr_schedule: str = param_of(AutoregressiveTrainingConfig, "lr_schedule", default="linear")
    # PixelCNN++ (Salimans et al. 2017, section 2.6) regularises with dropout on the residual path. Without it the
    # linear fall above let a 30-minute run fit the 4,500 training digits closer than held-out ones (0.112 bits/dim at
    # 10 minutes, 0.114 at 30); with 0.1, 0.109 at 30 minutes (FID 2.34 at n=500 against 1.96), and in 10 minutes
    # 0.114 and 0.112 bits/dim against 0.115 and 0.113, FID the same within the sampler's noise (2.82 and 4.49 at n=500
    # against 3.99 and 4.76; three-draw means 3.45 and 4.14 against 3.18 and 4.47) (benchmarks/RESULTS.md).
    dropout: float = param(0.1, "dropout on each gated layer's horizontal output, before its residual and skip 1x1 convolutions", min=0.0, max=0.9)


def gate_groups(p: int, colours: int) -> torch.Tensor:
    """Groups of 2p pre-gate channels: the tanh half and the sigmoid half align channel by channel."""
    g = channel_groups(p, colours)
    return torch.cat([g, g])


class HorizontalConv(nn.Module):
    """1 x (k//2 + 1) convolution over the current row up to and including the centre, centre masked by colour group."""

    def __init__(self, in_ch: int, out_ch: int, k: int, mask_type: str, colours: int, in_groups: torch.Tensor):
        super().__init__()
        self.reach = k // 2
        self.conv = nn.Conv2d(in_ch, out_ch, (1, self.reach + 1))
        mask = conv_mask(gate_groups(out_ch // 2, colours), in_groups, 1, self.reach + 1, mask_type, centre=(0, self.reach))
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (self.reach, 0, 0, 0)), self.conv.weight * self.mask, self.conv.bias)


class VerticalConv(nn.Module):
    """(k//2 + 1) x k convolution over the rows up to and including the current one; shift the result down to exclude it."""

    def __init__(self, in_ch: int, out_ch: int, k: int):
        super().__init__()
        self.reach = k // 2
        self.conv = nn.Conv2d(in_ch, out_ch, (self.reach + 1, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (self.reach, self.reach, self.reach, 0)))


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Row i gets row i - 1 (zeros in row 0): the vertical stack's view reaches the horizontal one without the current row."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def gate(x: torch.Tensor) -> torch.Tensor:
    """tanh(a) * sigmoid(b), paper eq. 2."""
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    def __init__(self, p: int, k: int, colours: int, first: bool, in_ch: int, num_embeddings: int, dropout: float = 0.0):
        super().__init__()
        self.first = first
        # Identity in eval mode, so sampling, its row cache and log_prob see the whole network.
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        in_groups = torch.arange(colours) if first else channel_groups(p, colours)
        self.v_conv = VerticalConv(in_ch, 2 * p, k)
        self.v_to_h = nn.Conv2d(2 * p, 2 * p, 1)
        self.h_conv = HorizontalConv(in_ch, 2 * p, k, "A" if first else "B", colours, in_groups)
        self.h_out = MaskedConv2d(p, p, 1, "B", colours)
        self.skip = MaskedConv2d(p, p, 1, "B", colours)
        self.cond = nn.Embedding(num_embeddings, 4 * p) if num_embeddings else None

    def forward(self, v: torch.Tensor, h: torch.Tensor, emb_index: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        v_pre = self.v_conv(v)
        h_pre = self.h_conv(h) + self.v_to_h(shift_down(v_pre))
        if self.cond is not None and emb_index is not None:
            cv, ch = self.cond(emb_index)[:, :, None, None].chunk(2, dim=1)
            v_pre, h_pre = v_pre + cv, h_pre + ch
        v_new = gate(v_pre)
        gated = self.drop(gate(h_pre))
        h_new = self.h_out(gated)
        if not self.first:
            h_new = h_new + h  # residual (figure 2); the first layer changes the channel count
        return v_new, h_new, self.skip(gated)


class GatedPixelCNN(ImageAutoregressive):
    config_class = GatedPixelCNNConfig
    summary = "Gated PixelCNN: vertical and horizontal stacks with gated units, no blind spot, optional class conditioning"

    def __init__(self, config: GatedPixelCNNConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output(config.output, data_info)
        c, p, k = self.colours, config.channels, self.levels
        self.conditional = bool(config.class_conditional and data_info.num_classes > 0)
        classes = data_info.num_classes if self.conditional else 0
        if self.conditional:
            self.num_classes = classes  # only then is the model Conditional
        self.null_class = classes
        self.layers = nn.ModuleList(
            GatedLayer(p, config.first_kernel if n == 0 else 3, c, n == 0, c if n == 0 else p, classes + 1 if classes else 0,
                       config.dropout)
            for n in range(config.layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(p, config.output_hidden, 1, "B", c),
            nn.ReLU(),
            MaskedConv2d(config.output_hidden, c * k, 1, "B", c, out_groups=output_groups(c, k)),
        )
        reach = config.first_kernel // 2 + (config.layers - 1)
        self.context_reach = (reach + 1, reach)
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)
        self._setup_ema(config.ema_decay)

    def _labels_for(self, batch: Batch) -> torch.Tensor | None:
        return batch.y if self.conditional else None

    def _emb_index(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            return torch.full((n,), self.null_class, dtype=torch.long, device=device)
        labels = labels.to(device).long()
        return torch.where(labels >= 0, labels, torch.full_like(labels, self.null_class))

    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, _, hh, ww = inp.shape
        idx = self._emb_index(labels, n, inp.device)
        v = h = inp
        skip = 0.0
        for layer in self.layers:
            v, h, s = layer(v, h, idx)
            skip = skip + s
        return self.head(skip).view(n, self.colours, self.levels, hh, ww)

    def position_logits_fn(self, n: int, labels: torch.Tensor | None, guidance: float, cached: bool):
        if not cached:
            return super().position_logits_fn(n, labels, guidance, cached)
        cond = GatedRowCache(self, n, self._emb_index(labels, n, self.device))
        if labels is None or guidance == 1.0:
            return cond.logits_at
        uncond = GatedRowCache(self, n, self._emb_index(None, n, self.device))
        return lambda inp, c, i, j: uncond.logits_at(inp, c, i, j) + guidance * (cond.logits_at(inp, c, i, j) - uncond.logits_at(inp, c, i, j))

    def train_step(self, batch: Batch) -> dict[str, float]:
        if self.conditional and self.config.label_dropout > 0:
            drop = torch.rand(batch.y.shape, device=batch.y.device) < self.config.label_dropout
            batch = Batch(batch.x, torch.where(drop, torch.full_like(batch.y, -1), batch.y))
        return super().train_step(batch)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        if not self.conditional:
            return super().sample(n, generator, **kwargs)
        # Unconditional samples of a conditional model: one class each, cycling, so a grid shows all classes.
        labels = torch.arange(n, device=self.device) % self.num_classes
        return self.sample_conditional(labels, generator, **kwargs)

    @torch.no_grad()
    def sample_conditional(self, labels: torch.Tensor, generator: torch.Generator | None = None,
                           guidance_scale: float = 1.0, **kwargs: Any) -> torch.Tensor:
        if not self.conditional:
            raise ValueError("this gated-pixelcnn was trained without class conditioning")
        opts = {**self.sample_options(), **kwargs}
        labels = labels.to(self.device).long()
        t = None
        for t in self._generate(len(labels), generator, labels=labels, guidance=float(guidance_scale),
                                cached=bool(opts["cached"]), temperature=float(opts["temperature"]),
                                use_ema=bool(opts["use_ema"])):
            pass
        return self.to_data(t)

    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None, use_ema: bool = True) -> torch.Tensor:
        """Exact log p(x) (or log p(x | label) with labels) per example in nats, of the discrete data."""
        return super().log_prob(x, labels, use_ema)


class GatedRowCache:
    """One generation run: each layer's vertical-stack rows, computed once per finished row."""

    def __init__(self, model: GatedPixelCNN, n: int, emb_index: torch.Tensor | None):
        self.model = model
        self.emb = emb_index
        self.v_in: list[torch.Tensor | None] = [None] * len(model.layers)  # each layer's vertical input, by row
        self.v_pre: list[torch.Tensor | None] = [None] * len(model.layers)  # each layer's vertical pre-activation, by row
        self.done = -1

    def _cond(self, layer: GatedLayer) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        if layer.cond is None or self.emb is None:
            return 0.0, 0.0
        cv, ch = layer.cond(self.emb)[:, :, None, None].chunk(2, dim=1)
        return cv, ch

    def _finish_row(self, inp_row: torch.Tensor, i: int) -> None:
        """Vertical stack of row i (final input): store its pre-activations for the rows below."""
        m = self.model
        v = inp_row
        for n, layer in enumerate(m.layers):
            if self.v_in[n] is None:
                self.v_in[n] = v.new_zeros(v.shape[0], v.shape[1], m.height, m.width)
                self.v_pre[n] = v.new_zeros(v.shape[0], layer.v_conv.conv.out_channels, m.height, m.width)
            self.v_in[n][:, :, i] = v[:, :, 0]
            r = layer.v_conv.reach
            window = self.v_in[n][:, :, max(0, i - r) : i + 1]
            if i < r:
                window = F.pad(window, (0, 0, r - i, 0))
            pre = F.conv2d(F.pad(window, (r, r, 0, 0)), layer.v_conv.conv.weight, layer.v_conv.conv.bias)
            self.v_pre[n][:, :, i] = pre[:, :, 0]
            v = gate(pre + self._cond(layer)[0])

    def logits_at(self, inp: torch.Tensor, c: int, i: int, j: int) -> torch.Tensor:
        m = self.model
        for r in range(self.done + 1, i):
            self._finish_row(inp[:, :, r : r + 1], r)
        self.done = max(self.done, i - 1)
        h = inp[:, :, i : i + 1]
        skip = 0.0
        for n, layer in enumerate(m.layers):
            if i > 0:
                above = self.v_pre[n][:, :, i - 1 : i]
            else:  # shift_down's zero row
                above = h.new_zeros(h.shape[0], layer.v_to_h.in_channels, 1, m.width)
            h_pre = layer.h_conv(h) + layer.v_to_h(above) + self._cond(layer)[1]
            gated = layer.drop(gate(h_pre))
            h_new = layer.h_out(gated)
            h = h_new if layer.first else h_new + h
            skip = skip + layer.skip(gated)
        out = m.head(skip)
        return out.view(inp.shape[0], m.colours, m.levels, m.width)[:, c, :, j]
