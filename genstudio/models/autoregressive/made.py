"""MADE (Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation", ICML 2015).

The idea: an ordinary autoencoder over the D flattened dimensions becomes an
autoregressive model once its weight matrices are multiplied by binary
masks that cut every path from input d' to output d unless d' comes before
d in an *order*. Each unit gets a degree (section 4):

- inputs: m^0(d) = the rank of d in the order (1..D);
- hidden layer l: m^l(k) drawn uniformly from {min m^(l-1), ..., D - 1};
- the hidden mask is M^l[k, k'] = [m^l(k) >= m^(l-1)(k')]  (eq. 12),
  the output mask M^V[d, k] = [m^0(d) > m^L(k)]  (eq. 13),

so output d sees exactly the inputs ranked below it, and the outputs are
the Bernoulli logits of p(x_d | x_<d): one pass gives the exact likelihood.
``direct`` adds the paper's direct input-to-output connections (masked by >).

Connectivity-agnostic training (section 4.2): with ``num_masks`` > 1 the
model cycles through that many mask sets, one per step, each with fresh
hidden degrees (and a fresh order when ``order`` is random): one set of
weights learns an ensemble of autoregressive models. ``log_prob``,
generation and the inside views use mask set 0 (one exact model);
validation also reports ``nll_ensemble``, the exact NLL of the uniform
mixture of all the sets (eq. 16's averaging, in probability space).

Images are binarised at 0.5 (Bernoulli outputs); the nats are of the
binarised images. Meant for small images (8x8 digits, 28x28 MNIST).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError

from .common import AutoregressiveTrainingConfig, ImageAutoregressive, raster_index

MAX_DIM = 4096  # 64 x 64 grey; beyond that the dense layers are unreasonable


@dataclass
class MADEConfig:
    hidden: int = param(500, "units per hidden layer", min=8, max=8192)
    layers: int = param(1, "hidden layers", min=1, max=6)
    order: str = param("natural", "input order: natural (raster, as PixelCNN) or random (one per mask set)", choices=("natural", "random"))
    num_masks: int = param(1, "mask sets cycled through in training (connectivity-agnostic training when > 1)", min=1, max=64)
    direct: bool = param(True, "direct input-to-output connections (masked)")
    mask_seed: int = param(0, "seed of the hidden degrees and random orders", min=0)
    lr: float = param_of(AutoregressiveTrainingConfig, "lr")
    grad_clip: float = param_of(AutoregressiveTrainingConfig, "grad_clip")


class MADE(ImageAutoregressive):
    config_class = MADEConfig
    summary = "MADE: an autoencoder whose masked weights make it autoregressive; exact likelihood in one pass (binarised images)"
    metric_groups = {
        "NLL (nats/example, binarised images)": ["loss", "nll", "nll_ensemble"],
        "Bits/dim": ["bpd"],
    }

    def __init__(self, config: MADEConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self._setup_output("bernoulli", data_info)
        d = data_info.dim
        if d > MAX_DIM:
            raise DataMismatchError(f"MADE is for small images (at most {MAX_DIM} values); '{data_info.name}' has {d}; try pixelcnn")
        self.dim = d
        sizes = [d] + [config.hidden] * config.layers + [d]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.direct_linear = nn.Linear(d, d, bias=False) if config.direct else None
        self.degrees = [self._make_degrees(s) for s in range(config.num_masks)]
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self.active_set = 0
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    # -- masks --------------------------------------------------------------------
    def _natural_ranks(self) -> torch.Tensor:
        """Rank (1..D) of each flattened C x H x W index in raster order, R -> G -> B inside a pixel."""
        c, h, w = self.colours, self.height, self.width
        ranks = torch.empty(self.dim, dtype=torch.long)
        for cc in range(c):
            for i in range(h):
                for j in range(w):
                    ranks[(cc * h + i) * w + j] = raster_index(cc, i, j, c, w) + 1
        return ranks

    def _make_degrees(self, mask_set: int) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.config.mask_seed * 1000 + mask_set)
        if self.config.order == "natural":
            m0 = self._natural_ranks()
        else:
            m0 = torch.randperm(self.dim, generator=g) + 1
        degrees = [m0]
        for _ in range(self.config.layers):
            low = int(degrees[-1].min())
            # Degrees in [low, D-1]: a unit of degree D would connect to no output.
            degrees.append(torch.randint(low, max(self.dim, low + 1), (self.config.hidden,), generator=g))
        return degrees

    def masks(self, mask_set: int = 0) -> list[torch.Tensor]:
        """The connectivity masks (out x in) of each layer, input to output; with ``direct`` the direct mask is last."""
        deg = self.degrees[mask_set]
        out = [(deg[l + 1][:, None] >= deg[l][None, :]).float() for l in range(len(deg) - 1)]
        out.append((deg[0][:, None] > deg[-1][None, :]).float())
        if self.direct_linear is not None:
            out.append((deg[0][:, None] > deg[0][None, :]).float())
        return out

    def order(self, mask_set: int = 0) -> torch.Tensor:
        """Flattened (C x H x W) indices in the order they are generated."""
        return torch.argsort(self.degrees[mask_set][0])

    def generation_order(self) -> list[list[tuple[int, int, int]]]:
        h, w = self.height, self.width
        steps = []
        for d in self.order(0).tolist():
            c, rest = divmod(d, h * w)
            steps.append([(c, *divmod(rest, w))])
        return steps

    # -- the network ----------------------------------------------------------------
    def _flat_logits(self, x: torch.Tensor, mask_set: int) -> torch.Tensor:
        masks = [m.to(x.device) for m in self.masks(mask_set)]
        hid = x
        for n, lin in enumerate(self.linears):
            hid = F.linear(hid, lin.weight * masks[n], lin.bias)
            if n < len(self.linears) - 1:
                hid = F.relu(hid)
        if self.direct_linear is not None:
            hid = hid + F.linear(x, self.direct_linear.weight * masks[-1])
        return hid

    def logits(self, inp: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        n = inp.shape[0]
        out = self._flat_logits(inp.reshape(n, -1), self.active_set)
        return out.view(n, self.colours, 1, self.height, self.width)

    # -- training -----------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.active_set = int(self.steps_done) % self.config.num_masks
        try:
            metrics = super().train_step(batch)
        finally:
            self.active_set = 0
        self.steps_done += 1
        return metrics

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        out = super().evaluate(batch)
        k = self.config.num_masks
        if k > 1:
            t = self.targets(batch.x.to(self.device))
            inp = self.net_input(t).flatten(1)
            logp = torch.stack(
                [-F.binary_cross_entropy_with_logits(self._flat_logits(inp, s), t.flatten(1), reduction="none").sum(1) for s in range(k)]
            )
            out["nll_ensemble"] = -(torch.logsumexp(logp, 0) - math.log(k)).mean().item()
        return out
