"""What every autoregressive image model shares: discrete outputs, likelihoods, generation.

An autoregressive image model factorises p(x) = prod_d p(x_d | x_<d) over
the pixels in an order (raster order, and R -> G -> B inside a pixel), so
its likelihood is exact and sampling draws one position at a time. The
models differ only in the network that maps the visible context to the
logits of every position at once (teacher forcing); this module holds the
rest:

- outputs: ``softmax256`` (a 256-way categorical per channel, van den Oord
  et al. 2016) on the 8-bit values, or ``bernoulli`` on images binarised at
  0.5. Likelihoods are of that discrete data, in nats per example; bits/dim
  divide by D ln 2. A ``bernoulli`` model's numbers are of the *binarised*
  images and are not comparable with a ``softmax256`` model's.
- generation: a generator that yields the partial sample after each pixel,
  which ``sample``, ``generate_steps`` and ``complete`` all consume. All the
  uniforms are drawn up front from the caller's generator and turned into
  categories by inverting the CDF, so a faster network path that computes
  the same logits gives the same samples for one seed.
- masked convolutions with channel groups (R, G, B), shared by PixelCNN and
  PixelRNN.
- an optional Polyak average (EMA) of the network's weights
  (:meth:`ImageAutoregressive._setup_ema`), used for sampling and for the
  validation likelihood as PixelCNN++ (Salimans et al. 2017) did; training
  metrics stay those of the raw weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA, average_of, fill_missing_average
from genstudio.core.model import DataMismatchError, GenerativeModel, optimizer_step, rand

OUTPUTS = ("auto", "softmax256", "bernoulli")
LEVELS = 256


@dataclass
class AutoregressiveTrainingConfig:
    """Settings the autoregressive models share, declared once; each config takes them with ``param_of``.

    The optimiser's come last in every form, the output head's first and in the
    middle, so the configs place them rather than inherit them.
    """

    output: str = param(
        "auto",
        "output: softmax256 (256-way per channel) or bernoulli (images binarised at 0.5); auto picks bernoulli for grey, softmax256 for colour",
        choices=OUTPUTS,
    )
    output_hidden: int = param(64, "channels of the masked 1x1 layer before the output", min=3, max=1024)
    lr: float = param(1e-3, "Adam learning rate", min=1e-6, max=1e-1, log=True)
    grad_clip: float = param(1.0, "clip the gradient norm to this (0 turns clipping off)", min=0.0, max=1000.0)
    ema_decay: float = param(
        0.0, "decay of the weight average (Polyak / EMA, warmed up as in core.ema) used for sampling and validation; 0 turns it off",
        min=0.0, max=0.99999,
    )
    lr_schedule: str = param(
        "constant",
        "learning rate over the run: constant, or linear (falls to 0 at the end of the run's steps or minutes, whichever comes first)",
        choices=("constant", "linear"),
    )


def resolve_output(output: str, channels: int) -> str:
    """``auto`` is bernoulli for one-channel images (binarised MNIST, the classic benchmark), softmax256 for colour."""
    if output == "auto":
        return "bernoulli" if channels == 1 else "softmax256"
    return output


# -- masks ----------------------------------------------------------------------
def channel_groups(n: int, colours: int) -> torch.Tensor:
    """Colour group (0 = R, 1 = G, 2 = B) of each of ``n`` feature channels: contiguous equal blocks."""
    return torch.arange(n) * colours // n


def conv_mask(
    out_groups: torch.Tensor, in_groups: torch.Tensor, kh: int, kw: int, mask_type: str, centre: tuple[int, int] | None = None
) -> torch.Tensor:
    """Mask of a raster-order masked convolution (PixelRNN paper, section 3.4, figure 2).

    Taps before the centre in raster order are open; taps after are shut; at
    the centre, output group g sees input groups < g (mask A, the first layer:
    a pixel's own value is not visible) or <= g (mask B, later layers, whose
    inputs at the centre already exclude it).
    """
    ci, cj = centre if centre is not None else (kh // 2, kw // 2)
    mask = torch.zeros(len(out_groups), len(in_groups), kh, kw)
    mask[:, :, :ci, :] = 1
    mask[:, :, ci, :cj] = 1
    if mask_type == "A":
        centre_ok = out_groups[:, None] > in_groups[None, :]
    elif mask_type == "B":
        centre_ok = out_groups[:, None] >= in_groups[None, :]
    else:
        raise ValueError(f"mask type must be 'A' or 'B', got {mask_type!r}")
    mask[:, :, ci, cj] = centre_ok.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution whose weight is multiplied by a fixed raster-order mask."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int | tuple[int, int], mask_type: str, colours: int,
                 out_groups: torch.Tensor | None = None, in_groups: torch.Tensor | None = None):
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        super().__init__(in_ch, out_ch, (kh, kw), padding=(kh // 2, kw // 2))
        og = out_groups if out_groups is not None else channel_groups(out_ch, colours)
        ig = in_groups if in_groups is not None else channel_groups(in_ch, colours)
        self.register_buffer("mask", conv_mask(og, ig, kh, kw, mask_type), persistent=False)
        self.mask_type = mask_type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


# -- discrete likelihoods ---------------------------------------------------------
def categorical_from_uniform(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: the category whose CDF first exceeds ``u`` (logits ... x K, u ...)."""
    cdf = torch.softmax(logits.double(), -1).cumsum(-1)
    idx = (cdf < u.double().unsqueeze(-1)).sum(-1)
    return idx.clamp_(max=logits.shape[-1] - 1)


class ImageAutoregressive(GenerativeModel):
    """Base of the autoregressive image models.

    A subclass builds its network in ``__init__`` (after calling
    :meth:`_setup_output`) and implements :meth:`logits`, which maps the
    network input (N x C x H x W, values in [-1, 1]) to N x C x K x H x W
    logits (K = 256, or 1 for bernoulli) where position (c, i, j) may depend
    only on positions before it in :meth:`generation_order`.
    """

    family = "autoregressive"
    data_kinds = ("image",)
    metric_groups = {
        "NLL (nats/example; of the binarised images when output is bernoulli)": ["loss", "nll"],
        "Bits/dim": ["bpd"],
    }
    exact_likelihood = True
    #: (rows above, columns either side) that can influence a position, or None: lets
    #: sampling crop the input to that window, which is exact for convolutional models.
    context_reach: tuple[int, int] | None = None

    def _setup_output(self, output: str, data_info: DataInfo) -> None:
        if len(data_info.shape) != 3:
            raise DataMismatchError(f"{type(self).__name__} needs images C x H x W, got shape {data_info.shape}")
        self.colours, self.height, self.width = data_info.shape
        self.output_kind = resolve_output(output, self.colours)
        self.levels = LEVELS if self.output_kind == "softmax256" else 1
        self.likelihood_data = "binarised" if self.output_kind == "bernoulli" else "8-bit"

    # -- the weight average ------------------------------------------------------
    def _setup_ema(self, decay: float) -> None:
        """Keep an EMA of every child module built so far (call it last in ``__init__``, after the optimiser).

        Checkpoints written before the average existed load with the average
        started from their weights.
        """
        if decay <= 0:
            return
        self._averaged_names = [name for name, _ in self.named_children()]
        self.ema = EMA(average_of(self, self._averaged_names), decay=decay)
        self._register_load_state_dict_pre_hook(
            lambda sd, prefix, *rest: fill_missing_average(sd, prefix, "ema", self._averaged_names)
        )

    def averaged(self) -> EMA | None:
        """The weight average, or None when the model keeps none."""
        return getattr(self, "ema", None)  # a registered child module when kept (nn.Module's lookup)

    def _update_ema(self) -> None:
        if self.averaged() is not None:
            self.ema.update(average_of(self, self._averaged_names))

    def sampling_model(self, use_ema: bool = True) -> "ImageAutoregressive":
        """The model whose network samples and scores: a view through the averaged weights (when kept and
        ``use_ema``), else the model itself. Nothing is written to the live weights, so a panel may sample on one
        thread while another reads the model."""
        if self.averaged() is None or not use_ema:
            return self
        return self.ema.averaged_view(self, self._averaged_names)

    # -- data space <-> model space --------------------------------------------
    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete data the model scores: 0..255 (long) or {0, 1} (float) for bernoulli."""
        if self.output_kind == "bernoulli":
            return (x > 0.5).to(torch.float32)
        return torch.round(x.clamp(0, 1) * 255).long()

    def net_input(self, t: torch.Tensor) -> torch.Tensor:
        """Discrete values as the network sees them, in [-1, 1]."""
        if self.output_kind == "bernoulli":
            return t.float() * 2 - 1
        return t.float() / 127.5 - 1

    def to_data(self, t: torch.Tensor) -> torch.Tensor:
        return t.float() if self.output_kind == "bernoulli" else t.float() / 255.0

    # -- the network ------------------------------------------------------------
    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def generation_order(self) -> list[list[tuple[int, int, int]]]:
        """Steps of generation, each a list of (c, i, j) positions drawn one after another.

        Raster order over pixels, R -> G -> B inside one: one step per pixel.
        """
        return [[(c, i, j) for c in range(self.colours)] for i in range(self.height) for j in range(self.width)]

    def nll_per_example(self, logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """-log p(x) in nats per example from teacher-forced logits."""
        if self.output_kind == "bernoulli":
            return F.binary_cross_entropy_with_logits(logits[:, :, 0], t, reduction="none").flatten(1).sum(1)
        return F.cross_entropy(logits.transpose(1, 2), t, reduction="none").flatten(1).sum(1)

    def _labels_for(self, batch: Batch) -> torch.Tensor | None:
        return None

    # -- training ---------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        t = self.targets(batch.x)
        with self.autocast():
            nll = self.nll_per_example(self.logits(self.net_input(t), self._labels_for(batch)), t).mean()
        optimizer_step(nll, self.opt, clip_grad_norm=getattr(self.config, "grad_clip", None), name="nll")
        self._update_ema()
        return {"loss": nll.item(), "nll": nll.item(), "bpd": nll.item() / (self.data_info.dim * math.log(2))}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def set_progress(self, fraction: float) -> None:
        """A linear fall of the learning rate to 0 over the run's budget (Li et al. 2020, "Budgeted training":
        the budget-aware schedule they found best across the budgets they measured)."""
        if getattr(self.config, "lr_schedule", "constant") == "linear":
            for group in self.opt.param_groups:
                group["lr"] = self.config.lr * (1.0 - fraction)

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        self.eval()
        nll = -self.log_prob(batch.x, labels=self._labels_for(batch)).mean().item()
        return {"loss": nll, "nll": nll, "bpd": nll / (self.data_info.dim * math.log(2))}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None, use_ema: bool = True) -> torch.Tensor:
        """Exact log p(x) per example in nats, of the discrete data (8-bit values, or binarised); averaged weights where kept."""
        self.eval()
        t = self.targets(x.to(self.device))
        m = self.sampling_model(use_ema)
        return -m.nll_per_example(m.logits(m.net_input(t), labels), t)

    # -- generation -------------------------------------------------------------
    def _guided_logits(self, inp: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        if labels is None or guidance == 1.0:
            return self.logits(inp, labels)
        # Classifier-free guidance on logits: uncond + s (cond - uncond).
        cond, uncond = self.logits(inp, labels), self.logits(inp, None)
        return uncond + guidance * (cond - uncond)

    def logits_at(self, inp: torch.Tensor, c: int, i: int, j: int, labels: torch.Tensor | None = None,
                  guidance: float = 1.0, cached: bool = True) -> torch.Tensor:
        """Logits (N x K) of position (c, i, j) given ``inp``.

        ``cached`` crops the input to the window that can influence (i, j)
        when the model declares one (``context_reach``): exact for stacks of
        masked convolutions, since a crop edge's zero padding only reaches
        outputs within the summed kernel reach of that edge.
        """
        if cached and self.context_reach is not None:
            up, side = self.context_reach
            r0, c0, c1 = max(0, i - up), max(0, j - side), min(self.width, j + side + 1)
            out = self._guided_logits(inp[:, :, r0 : i + 1, c0:c1], labels, guidance)
            return out[:, c, :, i - r0, j - c0]
        return self._guided_logits(inp, labels, guidance)[:, c, :, i, j]

    def position_logits_fn(self, n: int, labels: torch.Tensor | None, guidance: float, cached: bool):
        """The function ``(inp, c, i, j) -> N x K logits`` one generation run calls in order.

        A model with a faster exact path that keeps state across the calls of
        one run (PixelCNN's row cache) returns it here.
        """
        return lambda inp, c, i, j: self.logits_at(inp, c, i, j, labels, guidance, cached)

    def _draw(self, logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        if self.output_kind == "bernoulli":
            return (u < torch.sigmoid(logits[:, 0].double())).float()
        return categorical_from_uniform(logits, u).float()

    @torch.no_grad()
    def _generate(self, n: int, generator: torch.Generator | None, known: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, labels: torch.Tensor | None = None, guidance: float = 1.0,
                  cached: bool = True, temperature: float = 1.0, use_ema: bool = True) -> Iterator[torch.Tensor]:
        """Yield the discrete partial sample (N x C x H x W) after each step of ``generation_order``.

        Where ``mask`` is 1 the value is taken from ``known`` instead of drawn;
        the network is the averaged one where kept and ``use_ema``.
        """
        self.eval()
        dev = self.device
        shape = (n, self.colours, self.height, self.width)
        u = rand(shape, generator, dev)  # all uniforms up front: every path draws the same sample
        t = torch.zeros(shape, device=dev)
        if known is not None:
            t = self.targets(known.to(dev)).float() * mask
        position_logits = self.sampling_model(use_ema).position_logits_fn(n, labels, guidance, cached)
        for step in self.generation_order():
            for c, i, j in step:
                if mask is not None and bool(mask[:, c, i, j].all()):
                    continue
                logits = position_logits(self.net_input(t), c, i, j) / temperature
                value = self._draw(logits, u[:, c, i, j])
                if mask is not None:
                    value = torch.where(mask[:, c, i, j] > 0, t[:, c, i, j], value)
                t[:, c, i, j] = value
            yield t

    def generate_steps(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> Iterator[torch.Tensor]:
        """The partial sample in data space after each pixel (one step of ``generation_order``)."""
        for t in self._generate(n, generator, **kwargs):
            yield self.to_data(t)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        t = None
        for t in self._generate(n, generator, cached=bool(opts["cached"]), temperature=float(opts["temperature"]),
                                use_ema=bool(opts["use_ema"])):
            pass
        return self.to_data(t)

    def sample_options(self) -> dict[str, Any]:
        return {"cached": True, "temperature": 1.0, "use_ema": True}

    @torch.no_grad()
    def complete(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Fill the positions where ``mask`` is 0 in generation order; where it is 1, ``x`` is returned unchanged.

        ``mask`` is N x 1 x H x W (all channels of a pixel) or N x C x H x W.
        """
        x = x.to(self.device)
        mask = mask.to(self.device).float().expand_as(x)
        t = None
        for t in self._generate(x.shape[0], generator, known=x, mask=mask):
            pass
        return torch.where(mask > 0, x, self.to_data(t))

    @torch.no_grad()
    def pixel_distribution(self, x: torch.Tensor, i: int, j: int, c: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
        """The model's distribution of position (c, i, j) given the context in ``x``.

        N x 256 probabilities for softmax256; N x 2 (p(0), p(1)) for bernoulli.
        Only positions before (c, i, j) in generation order influence it.
        """
        self.eval()
        logits = self.sampling_model().logits_at(self.net_input(self.targets(x.to(self.device))), c, i, j, labels, cached=False)
        if self.output_kind == "bernoulli":
            p1 = torch.sigmoid(logits[:, 0])
            return torch.stack([1 - p1, p1], -1)
        return torch.softmax(logits, -1)

    def preview_kwargs(self) -> dict[str, Any]:
        return {}


def input_gradient_map(model: ImageAutoregressive, c: int, i: int, j: int, inp: torch.Tensor | None = None) -> torch.Tensor:
    """|d logits(c, i, j) / d input| (C x H x W): the receptive field of one output position, from the live model.

    Zero outside the causal context; inside it, zero where a network cannot see
    (the PixelCNN blind spot).
    """
    was_training = model.training
    model.eval()
    if inp is None:
        g = torch.Generator().manual_seed(0)
        inp = torch.rand(1, model.colours, model.height, model.width, generator=g) * 2 - 1
    inp = inp.to(model.device).clone().requires_grad_(True)
    with torch.enable_grad():
        out = model.logits(inp)[:, c, :, i, j]
        grad, = torch.autograd.grad(out.sum(), inp)
    model.train(was_training)
    return grad.abs().sum(0)


def raster_index(c: int, i: int, j: int, colours: int, width: int) -> int:
    return (i * width + j) * colours + c

