"""WaveNet (van den Oord et al., "WaveNet: A Generative Model for Raw Audio", 2016).

The idea: model a waveform one sample at a time, p(x) = prod_t p(x_t | x_<t),
with a stack of *causal* 1-D convolutions (section 2.1) whose dilation
doubles every layer (1, 2, 4, ..., 2^(n-1), repeated in stacks, section
2.1 figure 3), so the receptive field grows exponentially with depth:

    receptive field = initial kernel + (kernel - 1) * sum of dilations

samples before t. Each layer is a gated unit tanh(W_f * x) . sigmoid(W_g * x)
(eq. 2) with a residual connection and a skip connection to the output
(section 2.4, figure 4); the output is a 256-way softmax over mu-law
companded 8-bit samples (section 2.2, eq. 1).

Sampling needs one step per sample. Recomputing the whole network for each
one is wasteful: a dilated layer at time t needs only its input at t and at
t - d. Fast WaveNet (Paine et al. 2016) keeps, per layer, a queue of its last
d inputs, so each new sample costs one small matrix product per layer.
``sample(cached=True)`` uses those queues; ``cached=False`` runs the full
network per sample (the reference the tests compare against).

Likelihoods are of the 8-bit mu-law data, in nats per clip; ``bpd`` is bits
per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError, GenerativeModel, optimizer_step, rand

from .common import AutoregressiveTrainingConfig, categorical_from_uniform

MU = 255
INITIAL_KERNEL = 2
DILATED_KERNEL = 2


def mu_law_encode(x: torch.Tensor, mu: int = MU) -> torch.Tensor:
    """[-1, 1] -> 0..mu: f(x) = sign(x) ln(1 + mu |x|) / ln(1 + mu)  (paper eq. 1), then quantised."""
    x = x.clamp(-1, 1)
    f = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.round((f + 1) / 2 * mu).long()


def mu_law_decode(q: torch.Tensor, mu: int = MU) -> torch.Tensor:
    """0..mu -> [-1, 1], the inverse of :func:`mu_law_encode` at the bin centres."""
    f = q.float() * 2 / mu - 1
    return torch.sign(f) * ((1 + mu) ** f.abs() - 1) / mu


def receptive_field(dilations: Sequence[int], kernel: int = DILATED_KERNEL, initial_kernel: int = INITIAL_KERNEL) -> int:
    """Number of past samples an output sees: initial kernel + (kernel - 1) * sum of dilations."""
    return initial_kernel + (kernel - 1) * sum(dilations)


@dataclass
class WaveNetConfig:
    residual_channels: int = param(32, "channels of the residual stream", min=2, max=512)
    skip_channels: int = param(32, "channels of the skip connections", min=2, max=1024)
    dilation_layers: int = param(8, "layers per stack, dilations 1, 2, ..., 2^(n-1)", min=1, max=14)
    stacks: int = param(2, "stacks of dilated layers", min=1, max=8)
    output_hidden: int = param_of(AutoregressiveTrainingConfig, "output_hidden", help="channels of the 1x1 layer before the 256-way output", min=8)
    train_window: int = param(512, "train on random windows of this many samples (0: whole clips)", min=0, max=1_000_000)
    lr: float = param_of(AutoregressiveTrainingConfig, "lr")
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")


class GatedResidualLayer(nn.Module):
    """Dilated causal conv (kernel 2) -> tanh . sigmoid -> 1x1 residual and 1x1 skip (paper figure 4)."""

    def __init__(self, channels: int, skip: int, dilation: int):
        super().__init__()
        self.dilation = dilation
        self.conv = nn.Conv1d(channels, 2 * channels, DILATED_KERNEL, dilation=dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, skip, 1)

    def _outputs(self, h: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = z.chunk(2, dim=1)
        g = torch.tanh(a) * torch.sigmoid(b)
        return h + self.res(g), self.skip(g)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Left padding by d: output t sees inputs t - d and t, never the future.
        return self._outputs(h, self.conv(F.pad(h, (self.dilation, 0))))

    def step_weights(self) -> tuple[torch.Tensor, ...]:
        """The layer's weights as matrices for :meth:`step` (taken once per generation run)."""
        w = self.conv.weight
        return (w[:, :, 0].contiguous(), w[:, :, 1].contiguous(), self.conv.bias, self.res.weight[:, :, 0], self.res.bias,
                self.skip.weight[:, :, 0], self.skip.bias)

    @staticmethod
    def step(h_now: torch.Tensor, h_past: torch.Tensor, weights: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step from the layer's input now and d steps ago (N x C each): matrix products, no convolutions."""
        w_past, w_now, b, w_res, b_res, w_skip, b_skip = weights
        a, g = (F.linear(h_past, w_past) + F.linear(h_now, w_now, b)).chunk(2, dim=1)
        gated = torch.tanh(a) * torch.sigmoid(g)
        return h_now + F.linear(gated, w_res, b_res), F.linear(gated, w_skip, b_skip)


class WaveNet(GenerativeModel):
    config_class = WaveNetConfig
    family = "autoregressive"
    summary = "WaveNet: causal dilated convolutions with gated units predict each audio sample (mu-law, 256-way)"
    data_kinds = ("audio",)
    metric_groups = {"NLL (nats/clip, 8-bit mu-law)": ["loss", "nll"], "Bits per sample": ["bpd"]}
    exact_likelihood = True
    likelihood_data = "mu-law 8-bit"

    def __init__(self, config: WaveNetConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        if len(data_info.shape) != 2 or data_info.shape[0] != 1:
            raise DataMismatchError(f"WaveNet needs mono audio 1 x L, got shape {data_info.shape}")
        self.length = data_info.shape[1]
        r, s = config.residual_channels, config.skip_channels
        self.dilations = [2**i for i in range(config.dilation_layers)] * config.stacks
        self.receptive_field = receptive_field(self.dilations)
        self.input_conv = nn.Conv1d(1, r, INITIAL_KERNEL)
        self.layers = nn.ModuleList(GatedResidualLayer(r, s, d) for d in self.dilations)
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(s, config.output_hidden, 1), nn.ReLU(), nn.Conv1d(config.output_hidden, MU + 1, 1))
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    # -- data <-> model space ---------------------------------------------------
    @staticmethod
    def targets(x: torch.Tensor) -> torch.Tensor:
        return mu_law_encode(x[:, 0])  # N x L, 0..255

    @staticmethod
    def net_input(q: torch.Tensor) -> torch.Tensor:
        return (q.float() * 2 / MU - 1)[:, None]  # companded value in [-1, 1], N x 1 x L

    # -- the network ------------------------------------------------------------
    def logits(self, inp: torch.Tensor) -> torch.Tensor:
        """N x 1 x L network input -> N x 256 x L logits; output t sees inputs t - receptive_field .. t - 1."""
        # Shift right by one and pad: the first conv at t sees inputs t - 2 and t - 1 (like mask A).
        h = self.input_conv(F.pad(inp, (INITIAL_KERNEL, 0))[:, :, :-1])
        skip = 0.0
        for layer in self.layers:
            h, s = layer(h)
            skip = skip + s
        return self.head(skip)

    def nll_per_example(self, logits: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, q, reduction="none").sum(1)

    # -- training -----------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        q = self.targets(batch.x)
        w = self.config.train_window
        if 0 < w < q.shape[1]:
            start = int(torch.randint(0, q.shape[1] - w + 1, ()))
            q = q[:, start : start + w]
        with self.autocast():
            nll = self.nll_per_example(self.logits(self.net_input(q)), q).mean()
        optimizer_step(nll, self.opt, clip_grad_norm=self.config.grad_clip, name="nll")
        per_sample = nll.item() / q.shape[1]
        # Reported per full clip so the training curve sits beside validation.
        return {"loss": per_sample * self.length, "nll": per_sample * self.length, "bpd": per_sample / math.log(2)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        nll = -self.log_prob(batch.x).mean().item()
        return {"loss": nll, "nll": nll, "bpd": nll / (self.length * math.log(2))}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per clip in nats, of the 8-bit mu-law samples."""
        self.eval()
        q = self.targets(x.to(self.device))
        return -self.nll_per_example(self.logits(self.net_input(q)), q)

    @torch.no_grad()
    def distribution_at(self, x: torch.Tensor, t: int) -> torch.Tensor:
        """N x 256 probabilities of the mu-law level of sample t given x_<t (bins decode with :func:`mu_law_decode`)."""
        self.eval()
        return torch.softmax(self.logits(self.net_input(self.targets(x.to(self.device))))[:, :, t], -1)

    # -- generation ---------------------------------------------------------------
    def _fast_steps(self, n: int, dev: torch.device) -> Iterator[tuple[torch.Tensor, Any]]:
        """Fast WaveNet: per-layer queues of the last d inputs; yields the logits at t and takes x_t back via send."""
        r = self.config.residual_channels
        recent = torch.zeros(n, INITIAL_KERNEL, device=dev)  # x_(t-2), x_(t-1) as network inputs
        queues = [torch.zeros(n, r, d, device=dev) for d in self.dilations]
        w0, b0 = self.input_conv.weight[:, 0], self.input_conv.bias  # r x 2
        weights = [layer.step_weights() for layer in self.layers]
        head = [(m.weight[:, :, 0], m.bias) for m in self.head if isinstance(m, nn.Conv1d)]
        t = 0
        while True:
            h = F.linear(recent, w0, b0)
            skip = 0.0
            for layer, queue, w in zip(self.layers, queues, weights):
                slot = t % layer.dilation
                past = queue[:, :, slot].clone()  # this layer's input d steps ago
                queue[:, :, slot] = h
                h, s = layer.step(h, past, w)
                skip = skip + s
            logits = F.linear(F.relu(F.linear(F.relu(skip), *head[0])), *head[1])
            value = yield logits
            recent = torch.cat([recent[:, 1:], value[:, None]], 1)
            t += 1

    @torch.no_grad()
    def _generate(self, n: int, generator: torch.Generator | None, known: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, cached: bool = True, temperature: float = 1.0) -> Iterator[torch.Tensor]:
        """Yield the mu-law levels drawn so far (N x L, zeros ahead) after each sample."""
        self.eval()
        dev = self.device
        u = rand((n, self.length), generator, dev)
        q = torch.zeros(n, self.length, dtype=torch.long, device=dev)
        if known is not None:
            q = self.targets(known.to(dev))
            keep = mask.to(dev)[:, 0] > 0
        fast = self._fast_steps(n, dev) if cached else None
        logits = next(fast) if fast is not None else None
        for t in range(self.length):
            if fast is None:
                logits = self.logits(self.net_input(q))[:, :, t]
            value = categorical_from_uniform(logits / temperature, u[:, t])
            if known is not None:
                value = torch.where(keep[:, t], q[:, t], value)
            q[:, t] = value
            if fast is not None:
                logits = fast.send(self.net_input(value[:, None])[:, 0, 0])
            yield q

    def generate_steps(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> Iterator[torch.Tensor]:
        """The partial waveform (N x 1 x L in [-1, 1], zeros ahead) after each sample."""
        for t, q in enumerate(self._generate(n, generator, **kwargs)):
            out = mu_law_decode(q)[:, None]
            out[:, :, t + 1 :] = 0.0
            yield out

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        q = None
        for q in self._generate(n, generator, cached=bool(opts["cached"]), temperature=float(opts["temperature"])):
            pass
        return mu_law_decode(q)[:, None]

    def sample_options(self) -> dict[str, Any]:
        return {"cached": True, "temperature": 1.0}

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the samples where ``mask`` (N x 1 x L) is 0, left to right; elsewhere ``x`` is returned unchanged."""
        x = x.to(self.device)
        mask = mask.to(self.device).float().expand_as(x)
        q = None
        for q in self._generate(x.shape[0], generator, known=x, mask=mask):
            pass
        return torch.where(mask > 0, x, mu_law_decode(q)[:, None])
