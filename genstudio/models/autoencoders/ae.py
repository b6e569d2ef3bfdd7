"""Deterministic autoencoder (Hinton & Salakhutdinov, "Reducing the
Dimensionality of Data with Neural Networks", Science 2006).

The idea: an encoder f squeezes x into a code z = f(x) of ``latent_dim``
numbers and a decoder g maps it back; both are trained to make g(f(x))
reconstruct x. The loss is the negative log-likelihood of the input under
the decoder's output, the same as the VAE's reconstruction term:

    images: sum over pixels of BCE(g(f(x)), x)   (decoder outputs logits)
    points: 1/2 ||g(f(x)) - x||^2                (in the normalised [-1, 1] space)

There is no prior over z, so a plain autoencoder cannot sample by itself.
To make ``sample`` and the latent explorer's random draws meaningful we keep
running moments (mean and variance per dimension) of the codes seen in
training and sample from that diagonal Gaussian; the decodes are only as
good as that Gaussian is a fit to the codes (often poor: that gap is the
reason the VAE exists, and the studio makes it visible).

This module also holds the base class of the denoising (``dae.py``) and
sparse (``sparse_ae.py``) autoencoders: they override :meth:`corrupt`,
:meth:`code_activation` and :meth:`extra_losses`. The networks are the
VAE's (``vae.py``): two stride-2 convolutions for images, an MLP for points.

Capabilities: Latent (``decode``, ``prior_sample`` from the running
moments) and Encoder (``encode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import GenerativeModel, optimizer_step, randn
from genstudio.models.autoencoders.vae import ConvDecoder, ConvEncoder
from genstudio.models.nets import crop_to, mlp, pad_to, padded_size, point_normalisation
from genstudio.models.autoencoders.settings import AutoencoderTrainingConfig


@dataclass
class AEConfig:
    latent_dim: int = param_of(AutoencoderTrainingConfig, "latent_dim", help="dimension of the code z (2 gives the 2-D manifold view)")
    channels: int = param_of(AutoencoderTrainingConfig, "channels")
    hidden: int = param_of(AutoencoderTrainingConfig, "hidden")
    lr: float = param_of(AutoencoderTrainingConfig, "lr")
    moments_decay: float = param(
        0.99, "decay of the running mean and variance of the codes that ``sample`` draws from", min=0.0, max=0.9999, advanced=True
    )


class AE(GenerativeModel):
    config_class = AEConfig
    family = "autoencoder"
    summary = "Autoencoder: a deterministic encoder to a small code and a decoder trained to reconstruct the input"
    data_kinds = ("image", "points")
    metric_groups = {"Reconstruction": ["loss", "recon"], "Pixel error (MSE)": ["mse"]}

    def __init__(self, config: Any, data_info: DataInfo):
        super().__init__(config, data_info)
        self.latent_dim = config.latent_dim
        self.is_image = data_info.kind == "image"
        if self.is_image:
            c, h, w = data_info.shape
            self.hp, self.wp = padded_size(h, 4), padded_size(w, 4)
            self.encoder = ConvEncoder(c, self.hp, self.wp, config.channels, config.hidden, config.latent_dim, outputs=1)
            self.decoder = ConvDecoder(c, self.hp, self.wp, config.channels, config.hidden, config.latent_dim)
        else:
            d = data_info.dim
            self.encoder = mlp([d, config.hidden, config.hidden, config.latent_dim], nn.ReLU)
            self.decoder = mlp([config.latent_dim, config.hidden, config.hidden, d], nn.ReLU)
            centre, scale = point_normalisation(data_info)
            self.register_buffer("centre", centre)
            self.register_buffer("scale", scale)
        # Running moments of the training codes: the Gaussian that ``prior_sample`` draws from.
        self.register_buffer("code_mean", torch.zeros(config.latent_dim))
        self.register_buffer("code_var", torch.ones(config.latent_dim))
        self.register_buffer("code_updates", torch.zeros((), dtype=torch.long))
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    # -- hooks for the variants -------------------------------------------------------
    def corrupt(self, x_model: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The encoder's input for a clean (model-space) batch; the plain AE leaves it alone."""
        return x_model

    def code_activation(self, h: torch.Tensor) -> torch.Tensor:
        """Map the encoder's last layer to the code (identity; the sparse AE uses a sigmoid)."""
        return h

    def extra_losses(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted penalty terms added to the loss, by metric name (none here)."""
        return {}

    # -- data space <-> model space ----------------------------------------------------
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x if self.is_image else (x - self.centre) / self.scale

    def _encode_model(self, x_model: torch.Tensor) -> torch.Tensor:
        inp = pad_to(x_model, self.hp, self.wp) if self.is_image else x_model
        return self.code_activation(self.encoder(inp))

    def _decode_model(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder output in model space: logits for images, coordinates for points."""
        out = self.decoder(z)
        return crop_to(out, *self.data_info.shape[1:]) if self.is_image else out

    def _to_data(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out) if self.is_image else out * self.scale + self.centre

    def _recon_per_example(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.is_image:
            return F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1)
        return 0.5 * ((out - target) ** 2).sum(1)

    def _mse(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean squared error per element in data space (comparable across models)."""
        return ((self._to_data(out) - self._to_data_target(target)) ** 2).mean()

    def _to_data_target(self, target: torch.Tensor) -> torch.Tensor:
        return target if self.is_image else target * self.scale + self.centre

    @torch.no_grad()
    def _update_code_moments(self, code: torch.Tensor) -> None:
        # Warm-up as in core/ema.py, so the first batches set the moments instead of the N(0, I) start.
        n = int(self.code_updates)
        decay = min(self.config.moments_decay, (1 + n) / (10 + n))
        code = code.float()  # under bf16 autocast the code is bf16; the moments stay fp32
        self.code_mean.lerp_(code.mean(0), 1 - decay)
        self.code_var.lerp_(code.var(0, unbiased=False) if code.shape[0] > 1 else torch.zeros_like(self.code_var), 1 - decay)
        self.code_updates += 1

    # -- training -------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        x = self._prepare(batch.x)
        with self.autocast():
            code = self._encode_model(self.corrupt(x))
            out = self._decode_model(code)
            recon = self._recon_per_example(out, x).mean()  # the target is always the clean input
            extra = self.extra_losses(code)
            loss = recon + sum(extra.values(), torch.zeros((), device=x.device))
        optimizer_step(loss, self.opt, {"recon": recon, **extra})
        self._update_code_moments(code.detach())
        stats = {"loss": loss.detach(), "recon": recon.detach(), "mse": self._mse(out.detach(), x), **{k: v.detach() for k, v in extra.items()}}
        stats.update(self.extra_stats(code.detach()))
        names = list(stats)
        return dict(zip(names, torch.stack([stats[k].float() for k in names]).tolist()))

    def extra_stats(self, code: torch.Tensor) -> dict[str, torch.Tensor]:
        """Metrics that are not loss terms (the sparse AE's mean activation)."""
        return {}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        self.eval()
        x = self._prepare(batch.x)
        code = self._encode_model(x)
        out = self._decode_model(code)
        recon = self._recon_per_example(out, x).mean()
        extra = self.extra_losses(code)
        loss = recon + sum(extra.values(), torch.zeros((), device=x.device))
        return {"loss": loss.item(), "recon": recon.item(), "mse": self._mse(out, x).item(), **{k: v.item() for k, v in extra.items()}}

    # -- capabilities ---------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code z = f(x) (N x latent_dim)."""
        self.eval()
        return self._encode_model(self._prepare(x))

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """g(z) in data space (images: Bernoulli means in [0, 1])."""
        self.eval()
        return self._to_data(self._decode_model(z.to(self.device)))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """g(f(x)) in data space."""
        return self.decode(self.encode(x))

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes from N(running mean, diag running variance) of the training codes."""
        eps = randn((n, self.latent_dim), generator, self.device)
        return self.code_mean + eps * self.code_var.clamp_min(0).sqrt()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        z = self.prior_sample(n, generator)
        # Temperature scales the spread around the codes' mean.
        z = self.code_mean + (z - self.code_mean) * float(opts["temperature"])
        return self.decode(z)

    def sample_options(self) -> dict[str, Any]:
        return {"temperature": 1.0}
