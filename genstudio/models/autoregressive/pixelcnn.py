"""PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016).

The idea: a stack of convolutions whose kernels are masked so that the
output at pixel (i, j), channel c, sees only pixels above, pixels to the
left in the same row, and the channels before c of pixel (i, j) itself
(R -> G -> B). The first layer uses mask A (the pixel's own channel shut),
later layers mask B (section 3.4, figure 2). All positions are predicted in
one pass when training; sampling needs one pass per position.

Architecture (section 3.5, table 1): a 7 x 7 mask-A convolution, residual
blocks of ReLU -> 1x1 (2h -> h) -> ReLU -> 3x3 mask B -> ReLU -> 1x1
(h -> 2h) (figure 5), then two masked 1x1 layers to the outputs.

The stack of masked 3x3 kernels has a *blind spot*: pixels above and to the
right that come before (i, j) in raster order but can never reach it (each
layer moves the field one row up and at most one column right). The Gated
PixelCNN removes it.

Faster sampling (``cached=True``), exact, in the spirit of Ramachandran
et al. 2017 ("Fast Generation for Convolutional Autoregressive Models"):
while row i is drawn, every layer's activations in the rows above are
final, since masked kernels never look down. :class:`RowCache` keeps each
masked 3x3 / 7x7 layer's input for all finished rows and, per pixel,
recomputes only row i of every layer from the few cached rows above it:
about W positions per layer per pixel instead of H x W.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import DataInfo

from .common import AutoregressiveTrainingConfig, ImageAutoregressive, MaskedConv2d


@dataclass
class PixelCNNConfig:
    output: str = param_of(AutoregressiveTrainingConfig, "output")
    hidden: int = param(32, "channels h inside a residual block (2h between blocks); a multiple of 3 is best for colour", min=3, max=512)
    blocks: int = param(5, "residual blocks of mask-B 3x3 convolutions", min=0, max=30)
    first_kernel: int = param(7, "kernel of the first (mask A) convolution", min=1, max=15, choices=(1, 3, 5, 7, 9, 11, 13, 15))
    output_hidden: int = param_of(AutoregressiveTrainingConfig, "output_hidden")
    lr: float = param_of(AutoregressiveTrainingConfig, "lr")
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")


class ResidualBlock(nn.Module):
    """PixelRNN paper figure 5: 2h -> h (1x1) -> h (3x3 mask B) -> 2h (1x1), all masked by colour group."""

    def __init__(self, h: int, colours: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(2 * h, h, 1, "B", colours),
            nn.ReLU(),
            MaskedConv2d(h, h, 3, "B", colours),
            nn.ReLU(),
            MaskedConv2d(h, 2 * h, 1, "B", colours),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def output_groups(colours: int, levels: int) -> torch.Tensor:
    """Colour group of each output channel laid out as (c, k): channel c*levels + k belongs to colour c."""
    return torch.arange(colours).repeat_interleave(levels)


class PixelCNN(ImageAutoregressive):
    config_class = PixelCNNConfig
    summary = "PixelCNN: masked convolutions (mask A, then B) predict each pixel from those above and to the left"

    def __init__(self, config: PixelCNNConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output(config.output, data_info)
        c, h, k = self.colours, config.hidden, self.levels
        layers: list[nn.Module] = [MaskedConv2d(c, 2 * h, config.first_kernel, "A", c)]
        layers += [ResidualBlock(h, c) for _ in range(config.blocks)]
        layers += [
            nn.ReLU(),
            MaskedConv2d(2 * h, config.output_hidden, 1, "B", c),
            nn.ReLU(),
            MaskedConv2d(config.output_hidden, c * k, 1, "B", c, out_groups=output_groups(c, k)),
        ]
        self.net = nn.Sequential(*layers)
        reach = config.first_kernel // 2 + config.blocks
        self.context_reach = (reach, reach)
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, _, hh, ww = inp.shape
        return self.net(inp).view(n, self.colours, self.levels, hh, ww)

    def position_logits_fn(self, n: int, labels: torch.Tensor | None, guidance: float, cached: bool):
        if not cached:
            return super().position_logits_fn(n, labels, guidance, cached)
        return RowCache(self, n).logits_at


class RowCache:
    """Row-by-row incremental evaluation of a PixelCNN for one generation run.

    For each masked layer taller than one row it keeps that layer's input for
    all rows; a row's outputs need only the kernel's upper half (the lower
    half is masked to zero) over rows i - r .. i. Rows finished since the
    last call are refreshed from the input first, so positions skipped by
    ``complete`` (known pixels) are accounted for.
    """

    def __init__(self, model: PixelCNN, n: int):
        self.model = model
        self.buffers: dict[int, torch.Tensor] = {}
        self.weights: dict[int, torch.Tensor] = {}
        self.n = n
        self.done = -1  # rows whose activations in ``buffers`` are final

    def _conv_row(self, conv: MaskedConv2d, x: torch.Tensor, i: int) -> torch.Tensor:
        kh, kw = conv.kernel_size
        r = kh // 2
        weight = self.weights.get(id(conv))
        if weight is None:  # masked once per run: the weights do not change while sampling
            weight = self.weights[id(conv)] = (conv.weight * conv.mask)[:, :, : r + 1].contiguous()
        if r == 0:
            return F.conv2d(x, weight, conv.bias, padding=(0, kw // 2))
        buf = self.buffers.get(id(conv))
        if buf is None:
            buf = self.buffers[id(conv)] = x.new_zeros(x.shape[0], x.shape[1], self.model.height, x.shape[3])
        buf[:, :, i] = x[:, :, 0]
        window = buf[:, :, max(0, i - r) : i + 1]
        if i < r:  # the full network's zero padding above the image
            window = F.pad(window, (0, 0, r - i, 0))
        return F.conv2d(window, weight, conv.bias, padding=(0, kw // 2))

    def _run(self, modules: nn.Module, x: torch.Tensor, i: int) -> torch.Tensor:
        for m in modules:
            if isinstance(m, MaskedConv2d):
                x = self._conv_row(m, x, i)
            elif isinstance(m, ResidualBlock):
                x = x + self._run(m.net, x, i)
            else:
                x = m(x)
        return x

    def row_logits(self, inp: torch.Tensor, i: int) -> torch.Tensor:
        """Logits of row i (N x C x K x W) given ``inp``, whose rows above are final."""
        for r in range(self.done + 1, i):
            self._run(self.model.net, inp[:, :, r : r + 1], r)
        self.done = max(self.done, i - 1)
        out = self._run(self.model.net, inp[:, :, i : i + 1], i)
        return out.view(inp.shape[0], self.model.colours, self.model.levels, inp.shape[3])

    def logits_at(self, inp: torch.Tensor, c: int, i: int, j: int) -> torch.Tensor:
        return self.row_logits(inp, i)[:, c, :, j]
