"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014).

The idea: an encoder q(z|x) = N(mu(x), diag sigma^2(x)) and a decoder p(x|z)
are trained together by maximising the evidence lower bound

    ELBO(x) = E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))        (paper eq. 3; beta = 1)

with the reparameterisation z = mu + sigma * eps, eps ~ N(0, I) (paper
section 2.4), which makes the sampled term differentiable. ``beta`` != 1 is
the beta-VAE of Higgins et al. (2017), which ``beta-vae`` reuses.

Decoder likelihoods:

- ``bernoulli`` (images): log p(x|z) = -BCE(logits, x). On grey-level
  targets in [0, 1] this is a cross-entropy, not a normalised density
  (the continuous Bernoulli of Loaiza-Ganem & Cunningham 2019 would fix
  that; we do not implement it), so the reported nats and bits/dim are only
  true likelihoods when the images are binary; ``binarize`` thresholds them
  at 0.5 so they are.
- ``gaussian`` (default for 2-D points): N(x; mean(z), sigma^2) with sigma
  either fixed or predicted per dimension by the decoder.

Sampling draws z from the N(0, I) prior or (``prior="mixture"``, the
default for images) from a Gaussian mixture fitted to the posterior means of
the training set: ex-post density estimation (Ghosh et al., "From
Variational to Deterministic Autoencoders", ICLR 2020, section 4; see
``latent_density.py``). The means of the most recent training batches are
kept with the weights, and the mixture is fitted from them when a sample is
asked for (and cached until training writes new ones).

``kl_warmup`` raises the KL weight linearly from 0 to ``beta`` over the first
steps (Bowman et al. 2016; Sonderby et al. 2016), so the decoder learns to use
z before the KL term pulls the posteriors to the prior.

Validation reports the ELBO terms per example in nats and ``nll_iw``, the
importance-weighted bound of Burda et al. ("Importance Weighted
Autoencoders", 2016, eq. 8) with K samples, which tightens towards -log p(x)
as K grows. Points are normalised into [-1, 1] from the data's extent and
their likelihoods corrected by the log-determinant of that affine map.

Capabilities: Latent (``decode``, ``prior_sample`` from N(0, I), ``mixture_sample``), Encoder (``encode``
returns the posterior mean) and Likelihood (``log_prob`` is the IWAE bound,
so ``exact_likelihood`` is False).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError, GenerativeModel, optimizer_step, rand, randn
from genstudio.models.nets import crop_to, mlp, pad_to, padded_size, point_normalisation
from genstudio.models.autoencoders.latent_density import CodeBank, Mixture, fit_mixture, sample_mixture
from genstudio.models.autoencoders.settings import AutoencoderTrainingConfig

LOG_2PI = math.log(2 * math.pi)
# Floor on a learned decoder variance (sigma >= 0.01): without it the
# constant black border of MNIST drives the variance to zero and the
# likelihood to infinity.
MIN_LOGVAR = math.log(1e-4)
# Fixed seed for the noise drawn in ``evaluate`` and ``log_prob``: validation
# numbers are reproducible and never advance the training RNG stream, so a
# resumed run stays identical to an uninterrupted one.
EVAL_SEED = 1234
# A latent dimension whose mean KL to the prior is below this (nats) carries no information.
ACTIVE_KL = 0.01


@dataclass
class VAEConfig:
    latent_dim: int = param_of(AutoencoderTrainingConfig, "latent_dim")
    likelihood: str = param(
        "auto",
        "decoder likelihood: bernoulli (images), gaussian; auto picks bernoulli for images and gaussian for points",
        choices=("auto", "bernoulli", "gaussian"),
    )
    gaussian_variance: str = param(
        "learned", "gaussian decoder: variance predicted per dimension (learned) or fixed to sigma^2", choices=("learned", "fixed")
    )
    sigma: float = param(0.1, "decoder standard deviation when gaussian_variance is fixed", min=1e-3, max=10.0, log=True)
    beta: float = param(1.0, "weight of the KL term (1 is the VAE; >1 the beta-VAE)", min=0.0, max=100.0)
    binarize: bool = param(False, "threshold images at 0.5 so the bernoulli likelihood is a true likelihood")
    # The warm-up and the fitted mixture prior: FID 10.3 against 27.7 for the old defaults after the same
    # 5,466 steps on mnist5k (n=500; benchmarks/vae_methods.py, RESULTS.md).
    kl_warmup: int = param(2000, "steps over which the KL weight rises linearly from 0 to beta (0: no warm-up)", min=0, max=1_000_000)
    channels: int = param_of(AutoencoderTrainingConfig, "channels")
    decoder_channels: int = param(0, "channels of the image decoder's last layers (0: as channels)", min=0, max=512)
    hidden: int = param_of(AutoencoderTrainingConfig, "hidden")
    lr: float = param_of(AutoencoderTrainingConfig, "lr")
    prior: str = param(
        "mixture",
        "what samples draw z from: the N(0, I) prior (standard) or a Gaussian mixture fitted to the encoded training set (mixture)",
        choices=("standard", "mixture"),
    )
    # 30 components: on both 10-minute mnist5k runs the held-out likelihood of the banked codes is flat from 20 to
    # 30 and falls beyond (the mixture starts memorising codes), and FID (n=500, sample seed 0) fell from 9.97 / 11.3
    # with 10 to 9.26 / 6.97 (benchmarks/vae_mixture.py, RESULTS.md).
    mixture_components: int = param(30, "components of the fitted mixture (Ghosh et al. 2020 used 10)", min=1, max=100, advanced=True)
    code_bank: int = param(4096, "posterior means of the latest training batches kept to fit the mixture", min=16, max=65536, advanced=True)
    iw_samples: int = param(64, "importance samples K for the IWAE bound in validation", min=1, max=5000)
    iw_examples: int = param(32, "examples per validation batch scored with the IWAE bound (it costs K decoder passes each)", min=1, max=1024)


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(logvar)) summed over all but the first dimension."""
    ll = -0.5 * (LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))
    return ll.flatten(1).sum(1)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per latent dimension, in closed form (paper appendix B)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions and a dense layer to ``outputs`` x latent_dim values ((mu, logvar) by default).

    The deterministic autoencoders use ``outputs=1`` (the code itself).
    """

    def __init__(self, in_ch: int, height: int, width: int, channels: int, hidden: int, latent_dim: int, outputs: int = 2):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_ch, channels, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.dense = mlp([2 * channels * (height // 4) * (width // 4), hidden, outputs * latent_dim], nn.ReLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.convs(x))


class ConvDecoder(nn.Module):
    """Dense layers to a (2C, H/4, W/4) map and two stride-2 transposed convolutions."""

    def __init__(self, out_ch: int, height: int, width: int, channels: int, hidden: int, latent_dim: int):
        super().__init__()
        self.shape = (2 * channels, height // 4, width // 4)
        self.dense = nn.Sequential(mlp([latent_dim, hidden, self.shape[0] * self.shape[1] * self.shape[2]], nn.ReLU), nn.ReLU())
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(channels, out_ch, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.dense(z).view(-1, *self.shape))


class VAE(GenerativeModel):
    config_class = VAEConfig
    family = "autoencoder"
    summary = "Variational autoencoder: encoder, reparameterised Gaussian latent, decoder, trained on the ELBO"
    data_kinds = ("image", "points")
    metric_groups = {
        "ELBO terms": ["loss", "recon", "kl"],
        "Likelihood bounds (nats)": ["nll_iw"],
        "Bits/dim": ["bpd"],
        "Active latent dimensions": ["active_dims"],
    }
    exact_likelihood = False

    def __init__(self, config: VAEConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.latent_dim = config.latent_dim
        self.is_image = data_info.kind == "image"
        lik = config.likelihood
        if lik == "auto":
            lik = "bernoulli" if self.is_image else "gaussian"
        if lik == "bernoulli" and not self.is_image:
            raise DataMismatchError("the bernoulli likelihood needs images in [0, 1]; use likelihood=gaussian for points")
        self.likelihood_kind = lik
        if lik == "gaussian":
            self.likelihood_data = "continuous"
        else:  # the BCE of grey targets is no probability of the data unless they are binary (module doc)
            self.likelihood_data = "binarised" if config.binarize else "grey as Bernoulli"
        self.learned_variance = lik == "gaussian" and config.gaussian_variance == "learned"
        out_mult = 2 if self.learned_variance else 1  # mean and log-variance
        # Extra inputs of a conditional model (the CVAE's one-hot label); 0 here.
        cond = self.condition_size(data_info)

        if self.is_image:
            c, h, w = data_info.shape
            self.hp, self.wp = padded_size(h, 4), padded_size(w, 4)
            self.encoder = ConvEncoder(c + cond, self.hp, self.wp, config.channels, config.hidden, config.latent_dim)
            dec_ch = config.decoder_channels or config.channels
            self.decoder = ConvDecoder(out_mult * c, self.hp, self.wp, dec_ch, config.hidden, config.latent_dim + cond)
        else:
            d = data_info.dim
            self.encoder = mlp([d + cond, config.hidden, config.hidden, 2 * config.latent_dim], nn.ReLU)
            self.decoder = mlp([config.latent_dim + cond, config.hidden, config.hidden, out_mult * d], nn.ReLU)
            centre, scale = point_normalisation(data_info)
            self.register_buffer("centre", centre)
            self.register_buffer("scale", scale)
        self.code_bank = CodeBank(config.code_bank, config.latent_dim)
        self.register_buffer("steps_trained", torch.zeros((), dtype=torch.long))  # for the KL warm-up
        self._mixture: tuple[int, Mixture] | None = None  # (codes written when fitted, the fit)
        self._register_load_state_dict_pre_hook(lambda sd, prefix, *rest: self._fill_missing(sd, prefix))
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)

    def _fill_missing(self, state_dict: dict[str, torch.Tensor], prefix: str) -> None:
        """A checkpoint written before the code bank and step count existed loads with them empty."""
        for key, value in (("steps_trained", self.steps_trained), ("code_bank.codes", self.code_bank.codes), ("code_bank.written", self.code_bank.written)):
            state_dict.setdefault(prefix + key, torch.zeros_like(value))
        self._mixture = None

    # -- data space <-> model space --------------------------------------------
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.is_image:
            if self.config.binarize:
                x = (x > 0.5).to(x.dtype)
            return x
        return (x - self.centre) / self.scale

    def _log_jacobian(self) -> torch.Tensor | float:
        """log |d x_model / d x_data|, added to model-space log-densities to get data-space ones."""
        if self.is_image:
            return 0.0
        return -torch.log(self.scale).sum()

    # -- conditioning hooks (the CVAE overrides them; the VAE ignores labels) ----
    def condition_size(self, data_info: DataInfo) -> int:
        """Number of extra encoder channels / decoder inputs a label adds (0: unconditional)."""
        return 0

    def _condition_encoder_input(self, inp: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return inp

    def _condition_latent(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return z

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    # -- networks ---------------------------------------------------------------
    def _posterior(self, x_model: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        inp = pad_to(x_model, self.hp, self.wp) if self.is_image else x_model
        mu, logvar = self.encoder(self._condition_encoder_input(inp, y)).chunk(2, dim=1)
        return mu, logvar

    def _decoder_out(self, z: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Decoder parameters in model space: (logits or mean, log-variance or None)."""
        out = self.decoder(self._condition_latent(z, y))
        if self.is_image:
            out = crop_to(out, *self.data_info.shape[1:])
        if self.learned_variance:
            mean, raw = out.chunk(2, dim=1)
            return mean, MIN_LOGVAR + F.softplus(raw - MIN_LOGVAR)
        return out, None

    def _log_px_given_z(self, x_model: torch.Tensor, params: tuple[torch.Tensor, torch.Tensor | None]) -> torch.Tensor:
        """log p(x|z) per example in model space (nats)."""
        mean, logvar = params
        if self.likelihood_kind == "bernoulli":
            return -F.binary_cross_entropy_with_logits(mean, x_model, reduction="none").flatten(1).sum(1)
        if logvar is None:
            logvar = torch.full_like(mean, 2 * math.log(self.config.sigma))
        return gaussian_log_density(x_model, mean, logvar)

    def _elbo_terms(
        self, x_model: torch.Tensor, eps: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-example reconstruction NLL, KL per latent dim (N x L), and the posterior mean."""
        mu, logvar = self._posterior(x_model, y)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation, paper eq. 10
        recon = -self._log_px_given_z(x_model, self._decoder_out(z, y)) - self._log_jacobian()
        return recon, kl_standard_normal(mu, logvar), mu

    # -- training ---------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        x = self._prepare(batch.x)
        eps = torch.randn(x.shape[0], self.latent_dim, device=x.device)
        beta = self.kl_weight()
        with self.autocast():
            recon, kl_dims, mu = self._elbo_terms(x, eps, self._labels(batch))
            recon, kl = recon.mean(), kl_dims.sum(1).mean()
            loss = recon + beta * kl
        optimizer_step(loss, self.opt, {"recon": recon, "kl": kl})
        self.code_bank.add(mu)
        self.steps_trained += 1
        return {"loss": loss.item(), "recon": recon.item(), "kl": kl.item()}

    def kl_weight(self) -> float:
        """beta, scaled by the warm-up's linear ramp over the first ``kl_warmup`` steps."""
        if self.config.kl_warmup <= 0:
            return self.config.beta
        return self.config.beta * min(1.0, (int(self.steps_trained) + 1) / self.config.kl_warmup)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        self.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)
        x = self._prepare(batch.x)
        eps = randn((x.shape[0], self.latent_dim), gen, x.device)
        y = self._labels(batch)
        recon, kl_dims, _ = self._elbo_terms(x, eps, y)
        recon, kl = recon.mean(), kl_dims.sum(1).mean()
        out = {
            "loss": (recon + self.config.beta * kl).item(),
            "recon": recon.item(),
            "kl": kl.item(),
            "elbo": (-(recon + kl)).item(),
            # Dimensions in use: mean KL above 0.01 nats (posterior collapse when few are; core/alarms.py).
            "active_dims": float((kl_dims.mean(0) > ACTIVE_KL).sum()),
        }
        subset = batch.x[: self.config.iw_examples]
        y_subset = y[: self.config.iw_examples] if y is not None else None
        nll_iw = -self._iwae_bound(subset, self.config.iw_samples, gen, y_subset).mean()
        out["nll_iw"] = nll_iw.item()
        if self.is_image:
            out["bpd"] = (nll_iw / (self.data_info.dim * math.log(2))).item()
        return out

    def _iwae_bound(
        self, x_data: torch.Tensor, k: int, generator: torch.Generator | None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(x) >= log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x) (Burda et al. 2016, eq. 8)."""
        x = self._prepare(x_data)
        n = x.shape[0]
        mu, logvar = self._posterior(x, y)
        std = torch.exp(0.5 * logvar)
        # Chunks of importance samples bound the memory of one decoder pass to about 1024 examples.
        chunk = max(1, 1024 // max(n, 1))
        log_w = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            eps = randn((kk, n, self.latent_dim), generator, x.device)
            z = mu + std * eps  # kk x n x L
            y_rep = y.repeat(kk) if y is not None else None  # z is sample-major: row s * n + i
            params = self._decoder_out(z.reshape(kk * n, -1), y_rep)
            x_rep = x.unsqueeze(0).expand(kk, *x.shape).reshape(kk * n, *x.shape[1:])
            log_px = self._log_px_given_z(x_rep, params).view(kk, n)
            log_pz = (-0.5 * (LOG_2PI + z**2)).sum(-1)
            log_qz = (-0.5 * (LOG_2PI + logvar + eps**2)).sum(-1)
            log_w.append(log_px + log_pz - log_qz)
        lw = torch.cat(log_w, 0)
        bounds = torch.logsumexp(lw, 0) - math.log(k)
        return bounds + self._log_jacobian()

    # -- capabilities -----------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Per-example IWAE lower bound on log p(x) in nats, with ``iw_samples`` samples (a fixed seed)."""
        self.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)
        return self._iwae_bound(x, self.config.iw_samples, gen)

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu(x) (N x latent_dim)."""
        self.eval()
        return self._posterior(self._prepare(x))[0]

    @torch.no_grad()
    def encode_distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance (N x latent_dim each)."""
        self.eval()
        return self._posterior(self._prepare(x))

    @torch.no_grad()
    def kl_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        """Mean KL(q(z_j|x) || N(0,1)) per latent dimension over ``x``: which dimensions are in use."""
        mu, logvar = self.encode_distribution(x)
        return kl_standard_normal(mu, logvar).mean(0)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, generator: torch.Generator | None = None, noise: bool = False) -> torch.Tensor:
        """The decoder's mean in data space (images: probabilities in [0, 1]).

        With ``noise`` a draw from p(x|z) instead: for points the Gaussian
        decoder's spread is part of the model's density.
        """
        self.eval()
        return self._decoder_mean_or_draw(*self._decoder_out(z.to(self.device)), generator, noise)

    def _decoder_mean_or_draw(
        self, mean: torch.Tensor, logvar: torch.Tensor | None, generator: torch.Generator | None, noise: bool
    ) -> torch.Tensor:
        """Decoder parameters (model space) to data space: the mean, or with ``noise`` a draw from p(x|z)."""
        if self.likelihood_kind == "bernoulli":
            probs = torch.sigmoid(mean)
            if noise:
                probs = (rand(probs.shape, generator, probs.device) < probs).to(probs.dtype)
            return probs
        if noise:
            if logvar is None:
                logvar = torch.full_like(mean, 2 * math.log(self.config.sigma))
            mean = mean + torch.exp(0.5 * logvar) * randn(mean.shape, generator, mean.device)
        if self.is_image:
            return mean.clamp(0, 1)
        return mean * self.scale + self.centre

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z from the N(0, I) prior the model was trained with."""
        return randn((n, self.latent_dim), generator, self.device)

    def fitted_mixture(self) -> Mixture | None:
        """The mixture fitted to the banked training codes (refitted only after training wrote new ones); None before any."""
        written = int(self.code_bank.written)
        if written < 2:
            return None
        if self._mixture is None or self._mixture[0] != written:
            self._mixture = (written, fit_mixture(self.code_bank.filled(), self.config.mixture_components))
        return self._mixture[1]

    def mixture_sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """z from the fitted mixture (ex-post density estimation); from N(0, I) while no codes are banked."""
        mix = self.fitted_mixture()
        if mix is None:
            return self.prior_sample(n, generator) * temperature
        return sample_mixture(mix, n, generator, temperature).to(self.device)

    def latent_sample(self, n: int, generator: torch.Generator | None = None, prior: str = "standard", temperature: float = 1.0) -> torch.Tensor:
        """z from ``prior``: "standard" (N(0, I)) or "mixture" (the fitted density)."""
        if prior == "mixture":
            return self.mixture_sample(n, generator, temperature)
        if prior != "standard":
            raise ValueError(f"unknown prior {prior!r}; choose standard or mixture")
        return self.prior_sample(n, generator) * temperature

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        z = self.latent_sample(n, generator, str(opts["prior"]), float(opts["temperature"]))
        return self.decode(z, generator, noise=bool(opts["decoder_noise"]))

    def sample_options(self) -> dict[str, Any]:
        # Images show the decoder mean (the usual VAE picture); points draw from
        # p(x|z), since the Gaussian decoder's spread is part of their density.
        return {"temperature": 1.0, "decoder_noise": not self.is_image, "prior": self.config.prior}

    def sample_choices(self) -> dict[str, tuple[Any, ...]]:
        return {"prior": ("standard", "mixture")}

    def preview_kwargs(self) -> dict[str, Any]:
        return {}
