"""Conditional VAE (Sohn, Lee & Yan, "Learning Structured Output Representation
using Deep Conditional Generative Models", NeurIPS 2015; the class-conditional
form of Kingma et al., "Semi-supervised Learning with Deep Generative Models",
2014, model M2 with observed labels).

The idea: condition both networks on the class y, so the latent z is free to
hold what the label does not say ("style"):

    log p(x|y) >= E_q(z|x,y)[log p(x|z,y)] - KL(q(z|x,y) || N(0, I))       (Sohn et al. eq. 4)

The label enters the encoder as K constant one-hot channels stacked on the
image (or K extra inputs for points) and the decoder as a one-hot vector
concatenated to z. Sampling fixes a class and draws z (from the VAE's ``prior`` option); a fixed z
swept across classes keeps the style and changes the digit.

Without a label, ``encode`` first asks the model which class explains x best,
argmax_y ELBO(x, y) (a Bayes classifier with a uniform class prior), and
``log_prob`` bounds log p(x) = log sum_y p(y) p(x|y) by a log-sum-exp of the
per-class IWAE bounds, which is still a lower bound.

Capabilities: Latent, Encoder, Likelihood and Conditional (``num_classes``,
``sample_conditional``). The dataset must be labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError
from genstudio.models.autoencoders.vae import VAE, VAEConfig, kl_standard_normal


@dataclass
class CVAEConfig(VAEConfig):
    pass


class CVAE(VAE):
    config_class = CVAEConfig
    summary = "Conditional VAE: encoder and decoder both see the class label; z holds the style"

    def __init__(self, config: CVAEConfig, data_info: DataInfo):
        if data_info.num_classes < 2:
            raise DataMismatchError(
                f"cvae needs a labelled dataset with at least 2 classes; '{data_info.name}' has {data_info.num_classes}"
            )
        self.num_classes = data_info.num_classes
        super().__init__(config, data_info)

    # -- conditioning -------------------------------------------------------------
    def condition_size(self, data_info: DataInfo) -> int:
        return data_info.num_classes

    def _one_hot(self, y: torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
        if y is None:
            raise ValueError("cvae needs class labels here")
        y = y.to(device).long()
        if y.shape != (n,):
            raise ValueError(f"expected {n} labels, got shape {tuple(y.shape)}")
        if (y < 0).any() or (y >= self.num_classes).any():
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}")
        return F.one_hot(y, self.num_classes).float()

    def _condition_encoder_input(self, inp: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        onehot = self._one_hot(y, inp.shape[0], inp.device)
        if self.is_image:
            # K constant planes, one of them all ones: the conv encoder sees the label at every pixel.
            planes = onehot[:, :, None, None].expand(-1, -1, inp.shape[2], inp.shape[3])
            return torch.cat([inp, planes], 1)
        return torch.cat([inp, onehot], 1)

    def _condition_latent(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([z, self._one_hot(y, z.shape[0], z.device)], 1)

    def _labels(self, batch: Batch) -> torch.Tensor:
        if not batch.has_labels:
            raise DataMismatchError("cvae needs every example labelled; this batch has examples without a label")
        return batch.y

    def default_labels(self, n: int) -> torch.Tensor:
        """Classes 0, 1, ..., K-1, 0, 1, ... for ``n`` examples: a grid of unlabelled samples shows every class."""
        return torch.arange(n, device=self.device) % self.num_classes

    # -- capabilities -------------------------------------------------------------
    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """argmax_y of the ELBO at the posterior mean (no sampling noise): the class the model finds likeliest."""
        self.eval()
        xm = self._prepare(x.to(self.device))
        n = xm.shape[0]
        scores = []
        for k in range(self.num_classes):
            y = torch.full((n,), k, dtype=torch.long, device=xm.device)
            recon, kl_dims, _ = self._elbo_terms(xm, torch.zeros(n, self.latent_dim, device=xm.device), y)
            scores.append(-(recon + kl_dims.sum(1)))
        return torch.stack(scores, 1).argmax(1)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior mean of q(z|x, y); without ``labels`` y is the model's own guess (:meth:`classify`)."""
        self.eval()
        x = x.to(self.device)
        y = labels if labels is not None else self.classify(x)
        return self._posterior(self._prepare(x), y)[0]

    @torch.no_grad()
    def encode_distribution(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        self.eval()
        x = x.to(self.device)
        y = labels if labels is not None else self.classify(x)
        return self._posterior(self._prepare(x), y)

    @torch.no_grad()
    def kl_per_dim(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mu, logvar = self.encode_distribution(x, labels)
        return kl_standard_normal(mu, logvar).mean(0)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """IWAE bound on log p(x|y) with labels; without, on log p(x) = log (1/K) sum_y p(x|y)."""
        self.eval()
        x = x.to(self.device)
        if labels is not None:
            gen = torch.Generator().manual_seed(1234)
            return self._iwae_bound(x, self.config.iw_samples, gen, labels.to(self.device))
        per_class = []
        for k in range(self.num_classes):
            gen = torch.Generator().manual_seed(1234)
            y = torch.full((x.shape[0],), k, dtype=torch.long, device=self.device)
            per_class.append(self._iwae_bound(x, self.config.iw_samples, gen, y))
        # log p(x) >= log sum_y p(y) exp(bound_y), p(y) = 1/K: each bound is below log p(x|y).
        return torch.logsumexp(torch.stack(per_class, 0), 0) - math.log(self.num_classes)

    @torch.no_grad()
    def decode(
        self,
        z: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: bool = False,
        labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decoder mean for (z, y); ``labels`` default to :meth:`default_labels`."""
        self.eval()
        z = z.to(self.device)
        y = labels.to(self.device) if labels is not None else self.default_labels(z.shape[0])
        return self._decoder_mean_or_draw(*self._decoder_out(z, y), generator, noise)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        return self.sample_conditional(self.default_labels(n), generator, **kwargs)

    @torch.no_grad()
    def sample_conditional(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, guidance_scale: float = 1.0, **kwargs: Any
    ) -> torch.Tensor:
        if guidance_scale != 1.0:
            raise ValueError(f"cvae has no guidance; guidance_scale must be 1.0, got {guidance_scale}")
        opts = {**self.sample_options(), **kwargs}
        labels = labels.to(self.device).long()
        z = self.latent_sample(labels.shape[0], generator, str(opts["prior"]), float(opts["temperature"]))
        return self.decode(z, generator, noise=bool(opts["decoder_noise"]), labels=labels)
