"""Vector-quantised VAE (van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete
Representation Learning", NeurIPS 2017).

The idea: the encoder outputs a grid of vectors z_e(x) (D channels at H/4 x
W/4); each is replaced by its nearest entry of a learned codebook
e_1..e_K, and the decoder sees only these z_q(x). The latent is a small map
of discrete codes. The loss (paper eq. 3):

    L = -log p(x | z_q(x)) + || sg[z_e(x)] - e ||^2 + beta || z_e(x) - sg[e] ||^2

with sg the stop-gradient. Quantisation has no gradient, so the decoder's
gradient is copied straight through to the encoder (z_e + sg[z_q - z_e]).
The second term moves codes towards the encoder outputs; the third, the
commitment loss (beta = 0.25 in the paper), keeps the encoder from growing
away from the codebook.

With ``ema`` the codebook term is replaced by exponential moving averages
(paper appendix A.1, eqs. 6-8): N_i <- g N_i + (1 - g) n_i,
m_i <- g m_i + (1 - g) sum_j z_e,j assigned to i, e_i = m_i / N_i.

The codebook starts at random encoder outputs of the first batch (rather
than the paper's uniform draws near zero, which leave all but one code
unused at first). Codes that no encoder output picked for ``restart_after`` steps are dead;
each is restarted at a random encoder output of the current batch (as in
Jukebox, Dhariwal et al. 2020, section 2.3), which keeps most of the codebook
in use. Logged: ``perplexity`` exp(H) of the batch's code usage (K when all
codes are used equally) and ``dead_codes``.

The images' likelihood is Bernoulli (BCE summed over pixels), as for the
other autoencoders here. Every squared distance is summed over the latent
grid too, so the three terms are per-example sums on one scale.

Capabilities: Latent (the flattened continuous z_e, D*h*w numbers;
``decode`` quantises, so any point decodes to a valid code map;
``prior_sample`` draws codes uniformly, the prior the paper trains with) and
Encoder. The code map itself: ``codes``, ``decode_codes``, ``code_usage``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import GenerativeModel, optimizer_step, randint
from genstudio.models.nets import crop_to, pad_to, padded_size
from genstudio.models.autoencoders.settings import AutoencoderTrainingConfig


@dataclass
class VQVAEConfig:
    num_codes: int = param(64, "codebook size K", min=2, max=4096)
    code_dim: int = param(16, "dimension D of each code vector", min=1, max=512)
    channels: int = param_of(AutoencoderTrainingConfig, "channels")
    beta: float = param(0.25, "weight of the commitment loss (the paper's 0.25)", min=0.0, max=10.0)
    ema: bool = param(True, "update the codebook by moving averages (paper appendix A.1) instead of its loss term")
    ema_decay: float = param(0.99, "decay of the codebook moving averages", min=0.5, max=0.9999)
    restart_after: int = param(100, "restart a code unused for this many steps at a random encoder output (0: never)", min=0, max=100_000)
    lr: float = param_of(AutoencoderTrainingConfig, "lr")


class ResBlock(nn.Module):
    """ReLU, 3x3 conv, ReLU, 1x1 conv, added to the input (the paper's residual block)."""

    def __init__(self, ch: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def nearest_codes(flat: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook row for each row of ``flat``: argmin_k ||z - e_k||^2 (paper eq. 1)."""
    d = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codebook.t() + codebook.pow(2).sum(1)[None]
    return d.argmin(1)


def perplexity(counts: torch.Tensor) -> torch.Tensor:
    """exp of the entropy of the code-usage distribution: 1 when one code is used, K when all K are used equally."""
    p = counts.float() / counts.sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-10))).sum())


class VQVAE(GenerativeModel):
    config_class = VQVAEConfig
    family = "autoencoder"
    summary = "VQ-VAE: encoder outputs snapped to a learned codebook; straight-through gradients, commitment loss"
    data_kinds = ("image",)
    metric_groups = {
        "Loss terms": ["loss", "recon", "codebook", "commitment"],
        "Codebook use": ["perplexity", "dead_codes"],
    }

    def __init__(self, config: VQVAEConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c, h, w = data_info.shape
        ch, d = config.channels, config.code_dim
        self.hp, self.wp = padded_size(h, 4), padded_size(w, 4)
        self.grid = (self.hp // 4, self.wp // 4)
        self.latent_dim = d * self.grid[0] * self.grid[1]
        self.num_codes = config.num_codes
        self.encoder = nn.Sequential(
            nn.Conv2d(c, ch, 4, 2, 1), nn.ReLU(), nn.Conv2d(ch, 2 * ch, 4, 2, 1), ResBlock(2 * ch), nn.ReLU(), nn.Conv2d(2 * ch, d, 1)
        )
        self.decoder = nn.Sequential(
            nn.Conv2d(d, 2 * ch, 3, 1, 1), ResBlock(2 * ch), nn.ReLU(), nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(ch, c, 4, 2, 1)
        )
        k = config.num_codes
        self.codebook = nn.Parameter(torch.empty(k, d).uniform_(-1.0 / k, 1.0 / k), requires_grad=not config.ema)
        self.register_buffer("ema_count", torch.ones(k))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("steps_unused", torch.zeros(k, dtype=torch.long))
        self.register_buffer("usage", torch.zeros(k))  # moving average of the fraction of outputs per code
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self.opt = torch.optim.Adam([p for p in self.parameters() if p.requires_grad], lr=config.lr)

    # -- pieces -----------------------------------------------------------------------------
    def _encode_grid(self, x: torch.Tensor) -> torch.Tensor:
        """z_e(x): N x D x h x w."""
        return self.encoder(pad_to(x.to(self.device), self.hp, self.wp))

    def _quantise(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_q with the same shape as z_e, code indices N x h x w)."""
        n, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = nearest_codes(flat, self.codebook)
        z_q = self.codebook[idx].view(n, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.view(n, h, w)

    def _decode_grid(self, z_q: torch.Tensor) -> torch.Tensor:
        """Decoder logits cropped to the data's size."""
        return crop_to(self.decoder(z_q), *self.data_info.shape[1:])

    def _recon(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()

    # -- training -------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        x = batch.x.to(self.device)
        with self.autocast():
            z_e = self._encode_grid(x)
            if not bool(self.initialised):
                with torch.no_grad():
                    self._init_codebook(z_e.detach())
            z_q, idx = self._quantise(z_e)
            # Straight-through estimator: forward uses z_q, backward copies dL/dz_q to z_e (paper section 3.2).
            logits = self._decode_grid(z_e + (z_q - z_e).detach())
            recon = self._recon(logits, x)
            commitment = (z_e - z_q.detach()).pow(2).flatten(1).sum(1).mean()
            codebook = (z_e.detach() - z_q).pow(2).flatten(1).sum(1).mean()
            loss = recon + self.config.beta * commitment
            if not self.config.ema:
                loss = loss + codebook
        optimizer_step(loss, self.opt, {"recon": recon, "commitment": commitment, "codebook": codebook})
        counts = torch.bincount(idx.flatten(), minlength=self.num_codes)
        with torch.no_grad():  # the codebook's moving averages are kept in fp32, like the weights
            z_e32 = z_e.detach().float()
            if self.config.ema:
                self._ema_update(z_e32, idx, counts)
            dead = self._track_and_restart(z_e32, counts)
        stats = torch.stack(
            [loss.detach(), recon.detach(), codebook.detach(), commitment.detach(), perplexity(counts), dead.float()]
        ).tolist()
        return dict(zip(("loss", "recon", "codebook", "commitment", "perplexity", "dead_codes"), stats))

    def _init_codebook(self, z_e: torch.Tensor) -> None:
        """Start the codes at random encoder outputs of the first batch, so they begin where the data is."""
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        pick = randint(flat.shape[0], (self.num_codes,), None, flat.device)
        self.codebook.data.copy_(flat[pick])
        self.ema_sum.copy_(flat[pick])
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    def _ema_update(self, z_e: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        """Paper appendix A.1, eqs. 6-8, with Laplace smoothing of the counts so no code divides by zero."""
        g = self.config.ema_decay
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
        onehot = F.one_hot(idx.flatten(), self.num_codes).to(flat.dtype)
        self.ema_count.mul_(g).add_(counts.to(flat.dtype), alpha=1 - g)
        self.ema_sum.mul_(g).add_(onehot.t() @ flat, alpha=1 - g)
        total = self.ema_count.sum()
        smoothed = (self.ema_count + 1e-5) / (total + self.num_codes * 1e-5) * total
        self.codebook.data.copy_(self.ema_sum / smoothed[:, None])

    def _track_and_restart(self, z_e: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Count steps since each code was used; restart the dead ones at random encoder outputs. Returns the dead count."""
        used = counts > 0
        self.steps_unused.add_(1).masked_fill_(used, 0)
        self.usage.lerp_(counts.float() / counts.sum().clamp_min(1), 0.01)
        limit = self.config.restart_after
        if limit <= 0:
            return (self.steps_unused > 0).sum()
        dead = self.steps_unused >= limit
        n_dead = dead.sum()
        if bool(n_dead > 0):
            flat = z_e.permute(0, 2, 3, 1).reshape(-1, z_e.shape[1])
            pick = randint(flat.shape[0], (int(n_dead),), None, flat.device)
            new = flat[pick]
            self.codebook.data[dead] = new
            self.ema_sum[dead] = new
            self.ema_count[dead] = 1.0
            self.steps_unused[dead] = 0
        return n_dead

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        self.eval()
        x = batch.x.to(self.device)
        z_e = self._encode_grid(x)
        z_q, idx = self._quantise(z_e)
        recon = self._recon(self._decode_grid(z_q), x)
        commitment = (z_e - z_q).pow(2).flatten(1).sum(1).mean()
        counts = torch.bincount(idx.flatten(), minlength=self.num_codes)
        return {
            "loss": (recon + self.config.beta * commitment).item(),
            "recon": recon.item(),
            "commitment": commitment.item(),
            "perplexity": perplexity(counts).item(),
            "codes_used": int((counts > 0).sum()),
        }

    # -- the code map -------------------------------------------------------------------------
    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices of each image: N x h x w (int64)."""
        self.eval()
        return self._quantise(self._encode_grid(x))[1]

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Images (in [0, 1]) decoded from a code map N x h x w, e.g. after a user edited it."""
        self.eval()
        codes = codes.to(self.device).long()
        if codes.dim() != 3 or tuple(codes.shape[1:]) != self.grid:
            raise ValueError(f"expected codes of shape N x {self.grid[0]} x {self.grid[1]}, got {tuple(codes.shape)}")
        if (codes < 0).any() or (codes >= self.num_codes).any():
            raise ValueError(f"codes must be in 0..{self.num_codes - 1}")
        z_q = self.codebook[codes].permute(0, 3, 1, 2)
        return torch.sigmoid(self._decode_grid(z_q))

    @torch.no_grad()
    def code_usage(self, x: torch.Tensor) -> torch.Tensor:
        """How many grid cells of ``x`` picked each code: K counts."""
        return torch.bincount(self.codes(x).flatten(), minlength=self.num_codes)

    # -- capabilities ---------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The continuous encoder output z_e(x), flattened to N x (D*h*w)."""
        self.eval()
        return self._encode_grid(x).flatten(1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Quantise a flattened z_e to the nearest codes, then decode; images in [0, 1]."""
        self.eval()
        z_e = z.to(self.device).view(-1, self.config.code_dim, *self.grid)
        z_q, _ = self._quantise(z_e)
        return torch.sigmoid(self._decode_grid(z_q))

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes drawn uniformly (the prior the paper trains with), as flattened code vectors."""
        idx = randint(self.num_codes, (n, *self.grid), generator, self.device)
        return self.codebook.detach()[idx].permute(0, 3, 1, 2).flatten(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Decodes of uniformly random code maps: a VQ-VAE needs a learned prior (a PixelCNN over codes) for good samples."""
        return self.decode(self.prior_sample(n, generator))


__all__ = ["VQVAE", "VQVAEConfig", "nearest_codes", "perplexity"]
