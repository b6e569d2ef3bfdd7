"""PixelRNN (van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016).

Two recurrent layers that carry an LSTM state across the image, so the
context is not limited by a kernel's reach:

- **Row LSTM** (section 3.1): processes the image row by row, top to bottom.
  Each row's gates are an *input-to-state* part, a 1 x k convolution of the
  row's features masked so a pixel sees only itself (mask B) and pixels to
  its left, computed for the whole image at once, plus a *state-to-state*
  part, a 1-D convolution (width k) of the previous row's hidden state.
  Its context is a triangle above the pixel (it misses some of the
  pixels above-right far away, which the paper notes).
- **Diagonal BiLSTM** (section 3.2, figure 3): *skews* the feature map
  (row i shifted right by i) so that each column of the skewed map is a
  diagonal of the image, then runs an LSTM column by column whose
  state-to-state part is a 2 x 1 convolution (the pixel above and the one
  to the left, in image terms), and *unskews* the result. A second LSTM runs
  right to left on the mirrored image; its output is shifted down one row
  (so it never sees the current row's future) and added. Together the two
  cover the whole causal context.

Sampling: the Row LSTM's state for row i depends only on rows above, so
``cached=True`` keeps each layer's (h, c) after the last finished row and,
per pixel, recomputes only row i (exact; :class:`RowLSTMCache`). The
Diagonal BiLSTM has no such cut (its state runs along the row) and runs the
whole network per position.

Both start with a 7 x 7 mask-A convolution, stack LSTM layers with residual
connections (section 3.3) and end with masked 1x1 layers to the 256-way or
Bernoulli outputs; gates are split into R, G, B groups and every mask
respects them, as in PixelCNN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import DataInfo

from .common import AutoregressiveTrainingConfig, ImageAutoregressive, MaskedConv2d, channel_groups
from .pixelcnn import RowCache, output_groups


def lstm_gate_groups(h: int, colours: int) -> torch.Tensor:
    """Colour groups of the 4h gate channels (i, f, o, g blocks): gate channel m of every block goes with state m."""
    return channel_groups(h, colours).repeat(4)


def lstm_update(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, o, g = gates.chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def skew(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> N x C x H x (W + H - 1), row i shifted right by i (paper figure 3).

    Done with one pad and one reshape: rows of length W + H laid end to end
    and re-cut into rows one shorter move each row one place further right.
    """
    n, c, h, w = x.shape
    flat = F.pad(x, (0, h)).flatten(2)[:, :, : h * (w + h - 1)]
    return flat.reshape(n, c, h, w + h - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of :func:`skew`."""
    n, c, h, _ = x.shape
    flat = F.pad(x.flatten(2), (0, h))
    return flat.reshape(n, c, h, width + h)[:, :, :, :width]


@dataclass
class PixelRNNConfig:
    output: str = param_of(AutoregressiveTrainingConfig, "output")
    hidden: int = param(32, "LSTM state channels h (a multiple of 3 is best for colour)", min=3, max=512)
    layers: int = param(2, "LSTM layers, with residual connections", min=1, max=12)
    first_kernel: int = param(7, "kernel of the first (mask A) convolution", min=1, max=15, choices=(1, 3, 5, 7, 9, 11, 13, 15))
    output_hidden: int = param_of(AutoregressiveTrainingConfig, "output_hidden")
    lr: float = param_of(AutoregressiveTrainingConfig, "lr")
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")


@dataclass
class RowLSTMConfig(PixelRNNConfig):
    row_kernel: int = param(3, "width k of the input-to-state and state-to-state convolutions", min=3, max=9, choices=(3, 5, 7, 9))


@dataclass
class DiagonalBiLSTMConfig(PixelRNNConfig):
    pass


class RowLSTMLayer(nn.Module):
    def __init__(self, h: int, k: int, colours: int):
        super().__init__()
        gates = lstm_gate_groups(h, colours)
        self.input_to_state = MaskedConv2d(h, 4 * h, (1, k), "B", colours, out_groups=gates)
        self.state_to_state = nn.Conv1d(h, 4 * h, k, padding=k // 2)
        self.out = MaskedConv2d(h, h, 1, "B", colours)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, height, width = x.shape
        is_gates = self.input_to_state(x)  # all rows at once: it looks only at the current row
        h = x.new_zeros(n, ch, width)
        c = x.new_zeros(n, ch, width)
        rows = []
        for gates_row in is_gates.unbind(2):  # unbind, not indexing: one gradient buffer, not one per row
            h, c = lstm_update(gates_row + self.state_to_state(h), c)
            rows.append(h)
        return x + self.out(torch.stack(rows, dim=2))


class DiagonalLSTM(nn.Module):
    """One direction: skew, LSTM over the columns of the skewed map (state-to-state 2 x 1), unskew."""

    def __init__(self, h: int, colours: int):
        super().__init__()
        self.input_to_state = MaskedConv2d(h, 4 * h, 1, "B", colours, out_groups=lstm_gate_groups(h, colours))
        self.state_to_state = nn.Conv1d(h, 4 * h, 2)  # over the height axis: the cell above and this one, one column back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, ch, height, width = x.shape
        is_gates = skew(self.input_to_state(x))
        h = x.new_zeros(n, ch, height)
        c = x.new_zeros(n, ch, height)
        cols = []
        for gates_col in is_gates.unbind(3):
            h, c = lstm_update(gates_col + self.state_to_state(F.pad(h, (1, 0))), c)
            cols.append(h)
        return unskew(torch.stack(cols, dim=3), width)


class DiagonalBiLSTMLayer(nn.Module):
    def __init__(self, h: int, colours: int):
        super().__init__()
        self.forward_lstm = DiagonalLSTM(h, colours)
        self.backward_lstm = DiagonalLSTM(h, colours)
        self.out = MaskedConv2d(h, h, 1, "B", colours)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left = self.forward_lstm(x)
        right = self.backward_lstm(x.flip(3)).flip(3)
        right = F.pad(right, (0, 0, 1, 0))[:, :, :-1]  # shift down one row: it saw this row's future
        return x + self.out(left + right)


class _PixelRNN(ImageAutoregressive):
    def _build(self, config: PixelRNNConfig, data_info: DataInfo, layers: list[nn.Module]) -> None:
        c, h, k = self.colours, config.hidden, self.levels
        self.first = MaskedConv2d(c, h, config.first_kernel, "A", c)
        self.rnn_layers = nn.ModuleList(layers)
        self.head = nn.Sequential(
            nn.ReLU(),
            MaskedConv2d(h, config.output_hidden, 1, "B", c),
            nn.ReLU(),
            MaskedConv2d(config.output_hidden, c * k, 1, "B", c, out_groups=output_groups(c, k)),
        )
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n, _, hh, ww = inp.shape
        x = self.first(inp)
        for layer in self.rnn_layers:
            x = layer(x)
        return self.head(x).view(n, self.colours, self.levels, hh, ww)


class RowLSTM(_PixelRNN):
    config_class = RowLSTMConfig
    summary = "PixelRNN Row LSTM: an LSTM runs down the image row by row with masked convolutional gates"

    def __init__(self, config: RowLSTMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output(config.output, data_info)
        self._build(config, data_info, [RowLSTMLayer(config.hidden, config.row_kernel, self.colours) for _ in range(config.layers)])

    def position_logits_fn(self, n: int, labels: torch.Tensor | None, guidance: float, cached: bool):
        if not cached:
            return super().position_logits_fn(n, labels, guidance, cached)
        return RowLSTMCache(self, n).logits_at


class RowLSTMCache:
    """One generation run of a Row LSTM: the LSTM states after the last finished row, and row i recomputed per pixel."""

    def __init__(self, model: RowLSTM, n: int):
        self.model = model
        self.first_rows = RowCache(model, n)  # the 7x7 mask-A layer, row by row
        h = model.config.hidden
        zeros = torch.zeros(n, h, model.width, device=model.device)
        self.states = [(zeros, zeros) for _ in model.rnn_layers]
        self.done = -1

    def _row(self, inp_row: torch.Tensor, i: int, commit: bool) -> torch.Tensor:
        x = self.first_rows._conv_row(self.model.first, inp_row, i)
        new_states = []
        for layer, (h, c) in zip(self.model.rnn_layers, self.states):
            h, c = lstm_update(layer.input_to_state(x)[:, :, 0] + layer.state_to_state(h), c)
            x = x + layer.out(h[:, :, None])
            new_states.append((h, c))
        if commit:
            self.states = new_states
        return self.model.head(x)

    def logits_at(self, inp: torch.Tensor, c: int, i: int, j: int) -> torch.Tensor:
        for r in range(self.done + 1, i):
            self._row(inp[:, :, r : r + 1], r, commit=True)
        self.done = max(self.done, i - 1)
        out = self._row(inp[:, :, i : i + 1], i, commit=False)
        return out.view(inp.shape[0], self.model.colours, self.model.levels, -1)[:, c, :, j]


class DiagonalBiLSTM(_PixelRNN):
    config_class = DiagonalBiLSTMConfig
    summary = "PixelRNN Diagonal BiLSTM: skewed LSTMs sweep the image's diagonals both ways; the full causal context"

    def __init__(self, config: DiagonalBiLSTMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output(config.output, data_info)
        self._build(config, data_info, [DiagonalBiLSTMLayer(config.hidden, self.colours) for _ in range(config.layers)])
