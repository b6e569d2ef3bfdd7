"""PixelCNN++ (Salimans, Karpathy, Chen and Kingma, "PixelCNN++: Improving the PixelCNN with Discretized
Logistic Mixture Likelihood and Other Modifications", ICLR 2017).

The paper's five changes to PixelCNN, all here, sized for 28 x 28 digits on a CPU:

1. A discretized logistic mixture likelihood (section 2.1, eq. 2) instead of a
   256-way softmax: K logistics per pixel whose mass is integrated over each
   8-bit bin, the edge bins taking the tails, so nearby values share
   probability and the output layer is K (1 + 2C + C(C-1)/2) numbers per pixel
   instead of 256 C. The maths is shared with other models in
   :mod:`genstudio.models.discretized_logistic`.
2. Conditioning on whole pixels (section 2.2, eq. 3): the network sees only
   earlier *pixels*; a pixel's channels come from one mixture component, with
   G's mean shifted by a x_R and B's by b x_R + c x_G. For the studio's
   channel-by-channel generation order, p(x_G | x_R) weighs the components by
   their posterior given x_R, so the chain of channel conditionals multiplies
   to exactly the pixel's joint probability.
3. Downsampling with stride-2 convolutions and upsampling with transposed
   ones (section 2.3), in a U shape over three scales (28, 14, 7).
4. Short-cut connections (section 2.4) from each layer of the way down to the
   matching layer of the way up, so the detail lost to downsampling comes back.
5. Dropout in the residual blocks (section 2.5) against overfitting.

No blind spot (the paper's network, as its reference implementation openai/pixel-cnn builds it): two
streams, one of *down-shifted* convolutions (u: 2 x 3 kernels over the rows
above, shifted down one row, so u at row i sees every row before it) and one
of *down-right-shifted* convolutions (ul: 2 x 2 kernels over the row above and
the pixels to the left on this row), the u stream feeding the ul stream at
every block. Every layer is a gated residual block
(``x + a * sigmoid(b)`` with concatenated ELUs, as in the reference code).

Polyak averaging (Polyak & Juditsky 1992; the paper evaluates with it): an exponential moving average
of the weights is kept and used for sampling,
``evaluate`` and ``log_prob``; training uses the raw weights.

Bits/dim are exact, of the 8-bit data: -log2 p(x) / (C H W) with p the
discretized mixture, which is a distribution over the 256^(CHW) images.

Sampling draws one pixel at a time from its 256-bin probabilities (inverting
the CDF of the pre-drawn uniforms, as every autoregressive model here does).
``cached=True`` (exact, same samples) runs the network on the rows up to the
current one only (rounded up to a multiple of the downsampling factor), and
computes the u stream, which depends on the rows above only, once per row;
each pixel then runs the ul stream alone. It is not the full cache of every
layer's activations (Ramachandran et al. 2017), which a U-shaped network
with stride-2 layers makes intricate; the benchmark measures what it gives.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import DataMismatchError, optimizer_step

from .. import discretized_logistic as dl
from .common import AutoregressiveTrainingConfig, ImageAutoregressive


@dataclass
class PixelCNNPPConfig:
    filters: int = param(16, "channels of every layer of both streams (the paper uses 160 for CIFAR-10)", min=4, max=512)
    resnets: int = param(1, "gated residual blocks per scale on the way down (one more per scale on the way up)", min=0, max=8)
    scales: int = param(3, "resolutions: 3 is 28 -> 14 -> 7 (each halves the one before with a stride-2 convolution)", min=1, max=4)
    mixtures: int = param(5, "logistic components per pixel (the paper uses 10)", min=1, max=20)
    dropout: float = param(0.1, "dropout inside the residual blocks (the paper uses 0.5 for CIFAR-10)", min=0.0, max=0.9)
    ema_decay: float = param(0.999, "decay of the Polyak (moving) average of the weights used for sampling and evaluation (0: raw weights)",
                             min=0.0, max=0.99999)
    lr: float = param(2e-3, "Adam learning rate", min=1e-6, max=1e-1, log=True)
    lr_decay: float = param(0.9999, "learning rate multiplied by this after every step (the paper: 0.999995)", min=0.99, max=1.0)
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")


# -- shifted convolutions (the reference code's down_shifted_conv2d and friends) -------------------


def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Row i gets row i - 1 (zeros in row 0)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Column j gets column j - 1 (zeros in column 0)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


class DownShiftedConv2d(nn.Module):
    """A (kh, kw) kernel over the current row and the kh - 1 above, centred in columns: output row i sees input rows <= i."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 3), stride: int = 1):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel
        return self.conv(F.pad(x, ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)))


class DownRightShiftedConv2d(nn.Module):
    """A (kh, kw) kernel ending at the current pixel: output (i, j) sees inputs (i' <= i, j' <= j) within the kernel."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 2), stride: int = 1):
        super().__init__()
        self.kernel = kernel
        self.conv = nn.Conv2d(cin, cout, kernel, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel
        return self.conv(F.pad(x, (kw - 1, 0, kh - 1, 0)))


class DownShiftedDeconv2d(nn.Module):
    """Stride-2 transposed (kh, kw) convolution, cropped to ``size`` from the top and centred in columns."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 3)):
        super().__init__()
        self.kernel = kernel
        self.deconv = nn.ConvTranspose2d(cin, cout, kernel, stride=2, output_padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        left = (self.kernel[1] - 1) // 2
        return self.deconv(x)[:, :, : size[0], left : left + size[1]]


class DownRightShiftedDeconv2d(nn.Module):
    """Stride-2 transposed (kh, kw) convolution, cropped to ``size`` from the top left."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int] = (2, 2)):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(cin, cout, kernel, stride=2, output_padding=1)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.deconv(x)[:, :, : size[0], : size[1]]


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """ELU of x and of -x side by side (the reference code's nonlinearity: keeps both signs' information)."""
    return F.elu(torch.cat([x, -x], 1))


class GatedResnet(nn.Module):
    """x + a * sigmoid(b), [a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(concat_elu(aux))))).

    ``conv`` is the stream's shifted convolution, so the block keeps its
    stream's causality; ``aux`` (the other stream, or the short-cut from the
    way down) enters through a 1 x 1 convolution at the same position.
    """

    def __init__(self, filters: int, shifted: type, aux_channels: int, dropout: float):
        super().__init__()
        self.conv1 = shifted(2 * filters, filters)
        self.aux = nn.Conv2d(2 * aux_channels, filters, 1) if aux_channels else None
        self.dropout = nn.Dropout(dropout)
        self.conv2 = shifted(2 * filters, 2 * filters)
        with torch.no_grad():  # start near the identity, as the reference's init_scale=0.1 does
            self.conv2.conv.weight.mul_(0.1)

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None = None) -> torch.Tensor:
        c1 = self.conv1(concat_elu(x))
        if self.aux is not None and aux is not None:
            c1 = c1 + self.aux(concat_elu(aux))
        c2 = self.conv2(self.dropout(concat_elu(c1)))
        a, b = c2.chunk(2, 1)
        return x + a * torch.sigmoid(b)


class PixelCNNPPNet(nn.Module):
    """The two streams over ``scales`` resolutions: input N x C x H x W in [-1, 1], output N x P x H x W mixture parameters."""

    def __init__(self, colours: int, filters: int, resnets: int, scales: int, mixtures: int, dropout: float):
        super().__init__()
        f = filters
        cin = colours + 1  # + a channel of ones, so the zero padding at the border is told apart from black
        self.u_init = DownShiftedConv2d(cin, f, (2, 3))
        self.ul_init_up = DownShiftedConv2d(cin, f, (1, 3))
        self.ul_init_left = DownRightShiftedConv2d(cin, f, (2, 1))
        self.scales = scales
        self.resnets = resnets
        self.up_u = nn.ModuleList()
        self.up_ul = nn.ModuleList()
        self.down_u = nn.ModuleList()
        self.down_ul = nn.ModuleList()
        for s in range(scales):
            self.up_u.append(nn.ModuleList(GatedResnet(f, DownShiftedConv2d, 0, dropout) for _ in range(resnets)))
            self.up_ul.append(nn.ModuleList(GatedResnet(f, DownRightShiftedConv2d, f, dropout) for _ in range(resnets)))
            # The way up pops what the way down saved: at the coarsest scale its resnets (their last output starts
            # the way up), at the others their resnets and the layer that entered the scale.
            n_down = resnets if s == scales - 1 else resnets + 1
            # short-cuts: u gets its own stream's saved layer, ul gets u and its own saved layer
            self.down_u.append(nn.ModuleList(GatedResnet(f, DownShiftedConv2d, f, dropout) for _ in range(n_down)))
            self.down_ul.append(nn.ModuleList(GatedResnet(f, DownRightShiftedConv2d, 2 * f, dropout) for _ in range(n_down)))
        self.downsample_u = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(scales - 1))
        self.downsample_ul = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(scales - 1))
        self.upsample_u = nn.ModuleList(DownShiftedDeconv2d(f, f, (2, 3)) for _ in range(scales - 1))
        self.upsample_ul = nn.ModuleList(DownRightShiftedDeconv2d(f, f, (2, 2)) for _ in range(scales - 1))
        self.out = nn.Conv2d(f, dl.mixture_params_size(colours, mixtures), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([x, torch.ones_like(x[:, :1])], 1)
        return self.ul_stream(x, self.u_stream(x))

    def u_stream(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The down-shifted stream, all of it: what it feeds each ul block, in the order the ul blocks run.

        The u stream never sees the ul stream, and its row i depends on input rows < i only (at every scale:
        a coarse row r is built from fine rows 2r - 1 and 2r, which saw rows before 2r), so while row i is being
        drawn its feeds for rows <= i stay the same: sampling computes them once per row.
        """
        # Strictly causal start: u at row i sees the rows above (k // 2 columns either side per layer).
        u_list = [down_shift(self.u_init(x))]
        feeds = []
        for s in range(self.scales):  # the way down (section 2.3): resnets, then halve
            for block_u in self.up_u[s]:
                u_list.append(block_u(u_list[-1]))
                feeds.append(u_list[-1])
            if s < self.scales - 1:
                u_list.append(self.downsample_u[s](u_list[-1]))
        u = u_list.pop()
        for s in reversed(range(self.scales)):  # the way up, with short-cuts from the way down (section 2.4)
            for block_u in self.down_u[s]:
                u = block_u(u, u_list.pop())
                feeds.append(u)
            if s > 0:
                u = self.upsample_u[s - 1](u, tuple(u_list[-1].shape[-2:]))
        assert not u_list
        return feeds

    def ul_stream(self, x: torch.Tensor, feeds: list[torch.Tensor]) -> torch.Tensor:
        """The down-right-shifted stream given the u stream's feeds: the mixture parameters (N x P x H x W)."""
        # Strictly causal start: the row above (j - 1 .. j + 1) and, through the right shift, (i - 1, j - 1), (i, j - 1).
        ul_list = [down_shift(self.ul_init_up(x)) + right_shift(self.ul_init_left(x))]
        feeds = list(reversed(feeds))
        for s in range(self.scales):
            for block_ul in self.up_ul[s]:
                ul_list.append(block_ul(ul_list[-1], feeds.pop()))
            if s < self.scales - 1:
                ul_list.append(self.downsample_ul[s](ul_list[-1]))
        ul = ul_list.pop()
        for s in reversed(range(self.scales)):
            for block_ul in self.down_ul[s]:
                ul = block_ul(ul, torch.cat([feeds.pop(), ul_list.pop()], 1))
            if s > 0:
                ul = self.upsample_ul[s - 1](ul, tuple(ul_list[-1].shape[-2:]))
        assert not ul_list and not feeds
        return self.out(F.elu(ul))


class PixelCNNPP(ImageAutoregressive):
    config_class = PixelCNNPPConfig
    summary = "PixelCNN++: discretized logistic mixture, down/right-shifted streams (no blind spot), U-net with short-cuts, dropout, Polyak averaging"
    metric_groups = {"NLL (nats/example, 8-bit)": ["loss", "nll"], "Bits/dim (8-bit)": ["bpd"]}

    def __init__(self, config: PixelCNNPPConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output("softmax256", data_info)  # 8-bit targets and inputs; the head below is the mixture
        self.output_kind = "logistic-mixture"
        factor = 2 ** (config.scales - 1)
        if min(self.height, self.width) < factor:
            raise DataMismatchError(f"pixelcnn++ with {config.scales} scales halves the image {config.scales - 1} times; "
                                    f"{self.height} x {self.width} is too small: lower scales")
        self.row_multiple = factor
        self.mixtures = config.mixtures
        self.net = PixelCNNPPNet(self.colours, config.filters, config.resnets, config.scales, config.mixtures, config.dropout)
        # Named polyak, not ema: the base class may keep its own ``ema`` of all children; this one averages ``net`` only.
        self.polyak = EMA(self.net, decay=config.ema_decay) if config.ema_decay > 0 else None
        self.use_ema = True
        self.opt = torch.optim.Adam(self.net.parameters(), lr=config.lr, betas=(0.95, 0.9995))
        self.lr_schedule = torch.optim.lr_scheduler.ExponentialLR(self.opt, gamma=config.lr_decay)

    # -- the network and its mixture -------------------------------------------------------------
    def _active_net(self) -> nn.Module:
        """The raw weights while training; the Polyak average for sampling and evaluation (eval mode)."""
        if not self.training and self.use_ema and self.polyak is not None:
            return self.polyak.shadow
        return self.net

    def mixture(self, inp: torch.Tensor) -> dl.LogisticMixture:
        """The per-pixel mixtures (N x ... x H x W) for network input ``inp`` in [-1, 1]."""
        return dl.unpack_mixture(self._active_net()(inp), self.colours, self.mixtures)

    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised log-probabilities of the 256 levels, N x C x 256 x H x W: channel c given the earlier pixels and
        the pixel's earlier channels (eq. 3). Their softmax is themselves, so every softmax-based tool reads them."""
        return dl.channel_bin_log_probs(self.mixture(inp), inp)

    def nll_per_example(self, logits: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -logits.gather(2, t.unsqueeze(2)).squeeze(2).flatten(1).sum(1)

    def _nll(self, t: torch.Tensor) -> torch.Tensor:
        """-log p(x) in nats per example, the mixture scored directly at the true values (eq. 2; no 256-bin table)."""
        inp = self.net_input(t)
        with self.autocast():
            raw = self._active_net()(inp)
        mix = dl.unpack_mixture(raw.float(), self.colours, self.mixtures)
        return -dl.mixture_log_prob(mix, inp).flatten(1).sum(1)

    # -- training and evaluation --------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        nll = self._nll(self.targets(batch.x)).mean()
        optimizer_step(nll, self.opt, clip_grad_norm=self.config.grad_clip or None, name="nll")
        self.lr_schedule.step()
        if self.polyak is not None:
            self.polyak.update(self.net)
        v = nll.item()
        return {"loss": v, "nll": v, "bpd": v / (self.data_info.dim * math.log(2))}

    def schedulers(self) -> dict[str, Any]:
        return {"lr_decay": self.lr_schedule}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log p(x) per example in nats of the 8-bit images, under the Polyak-averaged weights."""
        self.eval()
        return -self._nll(self.targets(x.to(self.device)))

    # -- sampling -----------------------------------------------------------------------------------
    def sample_options(self) -> dict[str, Any]:
        return {"cached": True, "temperature": 1.0, "use_ema": True}

    def sampling_model(self, use_ema: bool = True) -> "PixelCNNPP":
        """The model itself, or a shallow copy that reads the other weights (``use_ema``): nothing shared is written,
        so a panel may draw with the raw weights on one thread while another reads the averaged ones."""
        if use_ema == self.use_ema:
            return self
        view = copy.copy(self)
        view.__dict__["use_ema"] = use_ema  # the copy's own flag; ``self.use_ema`` is untouched
        return view

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        t = None
        for t in self._generate(n, generator, cached=bool(opts["cached"]), temperature=float(opts["temperature"]),
                                use_ema=bool(opts["use_ema"])):
            pass
        return self.to_data(t)

    def logits_at(self, inp: torch.Tensor, c: int, i: int, j: int, labels: torch.Tensor | None = None,
                  guidance: float = 1.0, cached: bool = True) -> torch.Tensor:
        """256 log-probabilities (N x 256) of position (c, i, j); ``cached`` runs the network on rows <= i only."""
        return self._position_fn(cached)(inp, c, i, j)

    def position_logits_fn(self, n: int, labels: torch.Tensor | None, guidance: float, cached: bool):
        return self._position_fn(cached)

    def _position_fn(self, cached: bool):
        """(inp, c, i, j) -> N x 256 log-probs; ``cached``: rows <= i only, the u stream once per row.

        The network's output at (i, j) sees only earlier pixels, so it is the
        same for R, G and B of one pixel: one pass per pixel, not per channel.
        With ``cached``, rows below i are left out (kept to whole strides so the
        downsampling lines up) and the u stream, which depends on the rows above
        only (:meth:`PixelCNNPPNet.u_stream`), is computed when a row starts;
        each pixel runs the ul stream alone. The numbers are those of a full pass.
        """
        memo: dict[str, Any] = {}

        def at(inp: torch.Tensor, c: int, i: int, j: int) -> torch.Tensor:
            if memo.get("pos") != (i, j):
                net = self._active_net()
                if cached:
                    rows = min(self.height, math.ceil((i + 1) / self.row_multiple) * self.row_multiple)
                    x = torch.cat([inp[:, :, :rows], torch.ones_like(inp[:, :1, :rows])], 1)
                    if memo.get("row") != (i, id(net)):
                        memo["feeds"], memo["row"] = net.u_stream(x), (i, id(net))
                    raw = net.ul_stream(x, memo["feeds"])
                else:
                    raw = net(inp)
                memo["mix"] = dl.unpack_mixture(raw[:, :, i : i + 1, j : j + 1], self.colours, self.mixtures)
                memo["pos"] = (i, j)
            x = inp[:, :, i : i + 1, j : j + 1]
            return dl.channel_bin_log_probs(memo["mix"], x)[:, c, :, 0, 0]

        return at

    # -- showing the mixture --------------------------------------------------------------------------
    @torch.no_grad()
    def mixture_at(self, x: torch.Tensor, c: int, i: int, j: int) -> dict[str, torch.Tensor]:
        """The mixture behind p(x_(c,i,j) | before) for data ``x`` (N x C x H x W in [0, 1]).

        ``weights`` (N x K, the components' weights for channel c: the prior for
        the first channel, the posterior given the pixel's earlier channels
        after), ``components`` (N x K x 256, each component's bin probabilities),
        ``means`` and ``scales`` (N x K, on the 0..255 axis, coupled to the
        earlier channels), ``probs`` (N x 256, their mixture).
        """
        self.eval()
        inp = self.net_input(self.targets(x.to(self.device)))
        mix = self.mixture(inp).select((..., slice(i, i + 1), slice(j, j + 1)))
        px = inp[:, :, i : i + 1, j : j + 1]
        weights = dl.component_weights(mix, px)[:, c, :, 0, 0].exp()
        comps = dl.component_bin_log_probs(mix, px)[:, c, :, :, 0, 0].exp()
        means = dl.coupled_means(mix.float(), px.float())[:, c, :, 0, 0]
        scales = mix.log_scales.float()[:, c, :, 0, 0].exp()
        return {"weights": weights, "components": comps, "means": (means + 1) * 127.5, "scales": scales * 127.5,
                "probs": (weights.unsqueeze(-1) * comps).sum(1)}
