"""Denoising diffusion probabilistic model (Ho, Jain & Abbeel, "Denoising Diffusion
Probabilistic Models", NeurIPS 2020).

The idea: a fixed forward process adds Gaussian noise over T steps until the
data is indistinguishable from N(0, I) (DDPM eq. 2, 4); a network learns to
undo one step at a time. With the noise parameterisation the training
objective reduces to

    L_simple = E_{t, x_0, eps} || eps - eps_theta(sqrt(ab_t) x_0 + sqrt(1 - ab_t) eps, t) ||^2    (DDPM eq. 14)

and sampling runs the learned reverse chain from x_T ~ N(0, I) (algorithm 2),
or the DDIM sampler (Song et al. 2021) in any number of steps. The schedule
and the samplers are pure math in ``schedule.py`` and ``samplers.py``; the
networks in ``unet.py``. The network can also predict x_0 or the velocity v
(Salimans & Ho 2022); the samplers always receive the implied eps. The loss
can weight each timestep by min(SNR, gamma) on the x_0 error (min-SNR, Hang
et al. 2023). The defaults, v-prediction with the cosine schedule and min-SNR,
reached in 585 CPU steps on mnist5k a FID that eps / linear / uniform did not
reach in 2,341 (benchmarks/RESULTS.md, DDPM methods).

Images are scaled to [-1, 1] (DDPM section 4); 2-D points are normalised into
[-1, 1] from the data's extent. Odd image sizes are padded (with zeros, the
noise mean) to a multiple of 2^(levels - 1) for the U-Net and cropped back,
so the diffusion itself happens at the data's size. Samples come from an
EMA of the weights by default (``use_ema``): sampling the raw weights scored
FID ~12 against ~3.2 in one CIFAR-10 reproduction.

Capabilities: Denoiser (``schedule``, ``q_sample``, ``denoise_steps`` yielding a
``DenoiseStep`` per network evaluation) and Likelihood as a bound:
``log_prob`` is minus the variational bound of DDPM eq. 5 (vlb.py), with an
8-bit discretised decoder for images, so validation reports bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import randint, randn

from .base import DiffusionModel, DiffusionTrainingConfig
from .samplers import SAMPLERS, SPACINGS, VARIANCES, DenoiseStep, EpsFn, ddim_invert, denoise
from .schedule import make_schedule
from .vlb import bound_terms

# Fixed seed for the timesteps and noise drawn in ``evaluate``: validation
# loss is comparable across evaluations and never advances the training RNG.
EVAL_SEED = 1234
#: Validation examples (per batch) and timesteps per example of the Monte-Carlo variational bound (vlb.py):
#: 11 network passes on 32 examples, about 2% of training time at the default eval_every on this CPU.
BOUND_EXAMPLES = 32
BOUND_TIMESTEPS = 10
LOSS_WEIGHTINGS = ("uniform", "min-snr")


def min_snr_weight(snr: torch.Tensor, gamma: float, prediction: str) -> torch.Tensor:
    """Min-SNR-gamma loss weight per timestep (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting", eq. 10-11).

    Every parameterisation's MSE is a weighted MSE on x_0: ||eps - eps_hat||^2 = SNR ||x0 - x0_hat||^2 and
    ||v - v_hat||^2 = (SNR + 1) ||x0 - x0_hat||^2. Min-SNR clamps the x_0 weight at min(SNR, gamma), so
    the weight on the network's own target is min(SNR, gamma) for x0, min(SNR, gamma) / SNR for eps and
    min(SNR, gamma) / (SNR + 1) for v: the easy low-noise timesteps stop dominating the gradient.
    """
    clamped = snr.clamp(max=gamma)
    if prediction == "x0":
        return clamped
    if prediction == "eps":
        return clamped / snr
    if prediction == "v":
        return clamped / (snr + 1.0)
    raise ValueError(f"unknown prediction '{prediction}'; choose eps, x0 or v")


@dataclass
class DDPMConfig:
    timesteps: int = param_of(DiffusionTrainingConfig, "timesteps")
    # v-prediction, cosine schedule and min-SNR weighting: FID 12.4 against 350 for eps / linear /
    # uniform after the same 585 steps on mnist5k (benchmarks/ddpm_methods.py, RESULTS.md).
    schedule: str = param_of(DiffusionTrainingConfig, "schedule", default="cosine")
    prediction: str = param("v", "what the network predicts: eps (DDPM), x0, or v (velocity)", choices=("eps", "x0", "v"))
    loss_weighting: str = param("min-snr", "per-timestep loss weight: uniform (DDPM L_simple) or min-snr (Hang et al. 2023)", choices=LOSS_WEIGHTINGS)
    snr_gamma: float = param(5.0, "min-snr: the SNR above which a timestep's weight stops growing (the paper's gamma)", min=0.1, max=100.0)
    base_channels: int = param(16, "U-Net channels at full resolution", min=8, max=512)
    channel_mults: list = param([1, 2, 4], "U-Net channel multiplier per resolution level (each extra level halves the size)", min=1, max=8)
    num_res_blocks: int = param(1, "residual blocks per U-Net level", min=1, max=4)
    attention: bool = param(True, "self-attention at the lowest U-Net resolution")
    dropout: float = param(0.0, "dropout inside residual blocks", min=0.0, max=0.5)
    mlp_hidden: int = param(128, "hidden width of the MLP denoiser for points", min=16, max=2048)
    mlp_depth: int = param(3, "residual layers of the MLP denoiser for points", min=1, max=12)
    lr: float = param_of(DiffusionTrainingConfig, "lr")
    warmup_steps: int = param_of(DiffusionTrainingConfig, "warmup_steps")
    grad_clip: float = param_of(DiffusionTrainingConfig, "grad_clip")
    ema_decay: float = param_of(DiffusionTrainingConfig, "ema_decay")


class DDPM(DiffusionModel):
    config_class = DDPMConfig
    summary = "Denoising diffusion: learn to remove Gaussian noise step by step; DDPM and DDIM samplers"
    data_kinds = ("image", "points")
    metric_groups = {**DiffusionModel.metric_groups, "Likelihood bound (nats)": ["nll"], "Bits/dim (bound)": ["bpd"]}
    exact_likelihood = False  # the variational bound of DDPM eq. 5 (vlb.py)

    def __init__(self, config: DDPMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.schedule = make_schedule(config.schedule, config.timesteps)
        self.net = self.build_denoiser(config, data_info, config.dropout, num_classes=self.label_classes())
        # Images: the discretised decoder of DDPM eq. 13 makes it a bound on 8-bit data.
        self.likelihood_data = "8-bit" if self.is_image else "continuous"
        self.ema = EMA(self.net, decay=config.ema_decay)
        self.build_optimiser(self.net.parameters(), config)

    def label_classes(self) -> int:
        """Classes the network embeds (0: unconditional); the conditional subclass overrides it."""
        return 0

    # -- the network, in every parameterisation ------------------------------------
    def _raw(self, net: nn.Module, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.run_net(net, x_t, t, *((y,) if self.label_classes() else ()))

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, use_ema: bool = True, y: torch.Tensor | None = None) -> torch.Tensor:
        """eps_hat(x_t, t) in model space, whatever the network predicts (``y``: labels, conditional models only)."""
        net = self.ema.shadow if use_ema else self.net
        out = self._raw(net, x_t, t, y)
        if self.config.prediction == "eps":
            return out
        if self.config.prediction == "x0":
            return self.schedule.predict_eps(x_t, t, out)
        return self.schedule.from_velocity(x_t, t, out)[0]

    def _target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        if self.config.prediction == "eps":
            return noise
        if self.config.prediction == "x0":
            return x0
        return self.schedule.velocity(x0, t, noise)

    def _loss(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        x_t = self.schedule.q_sample(x0, t, noise)
        out, target = self._raw(self.net, x_t, t, y), self._target(x0, t, noise)
        if self.config.loss_weighting == "uniform":
            return F.mse_loss(out, target)  # DDPM eq. 14
        per_example = (out.float() - target.float()).pow(2).flatten(1).mean(1)
        snr = self.schedule.gather("snr", t, per_example).float()
        return (min_snr_weight(snr, self.config.snr_gamma, self.config.prediction) * per_example).mean()

    def training_labels(self, batch: Batch) -> torch.Tensor | None:
        """Labels the network is trained with (None: unconditional); the conditional subclass drops some out."""
        return None

    def evaluation_labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    # -- training -------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        x0 = self.to_model(batch.x)
        t = torch.randint(0, self.schedule.num_timesteps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        with self.autocast():
            loss = self._loss(x0, t, noise, self.training_labels(batch))
        return self.update(loss)

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """L_simple of the raw and the EMA network on validation data, with fixed timesteps and noise."""
        self.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)
        x0 = self.to_model(batch.x)
        t = randint(self.schedule.num_timesteps, (x0.shape[0],), gen, x0.device)
        noise = randn(x0.shape, gen, x0.device)
        x_t = self.schedule.q_sample(x0, t, noise)
        target = self._target(x0, t, noise)
        y = self.evaluation_labels(batch)
        out = {
            "loss": F.mse_loss(self._raw(self.net, x_t, t, y), target).item(),
            "loss_ema": F.mse_loss(self._raw(self.ema.shadow, x_t, t, y), target).item(),
        }
        # The variational bound on a subset: BOUND_TIMESTEPS + 1 network passes per example.
        nll = -self.log_prob(batch.x[:BOUND_EXAMPLES], gen).mean().item()
        out["nll"] = nll
        if self.is_image:
            out["bpd"] = nll / (self.data_info.dim * math.log(2))
        return out

    # -- the Likelihood capability: a variational bound --------------------------------
    @torch.no_grad()
    def bound(
        self, x: torch.Tensor, generator: torch.Generator | None = None, timesteps: int = BOUND_TIMESTEPS, variance: str = "beta", use_ema: bool = True
    ) -> dict[str, torch.Tensor]:
        """The parts of the bound on -log p(x) per example in nats (``prior``, ``denoising``, ``decoder``, ``total``).

        Images: of the 8-bit data (DDPM eq. 13 decoder); points: a density in
        the data's own units. Conditional models are scored unconditionally
        (the null label), as a bound on p(x). ``timesteps`` per example
        estimate the T - 1 denoising terms (exact at T - 1; see vlb.py).
        """
        self.eval()
        x0 = self.to_model(x.to(self.device))

        def x0_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.schedule.predict_x0(x_t, t, self.predict_eps(x_t, t, use_ema))

        terms = bound_terms(x0_fn, self.schedule, x0, timesteps, generator, variance, discrete=self.is_image)
        if not self.is_image:  # x_model = (x - centre) / scale: densities differ by the Jacobian
            terms["decoder"] = terms["decoder"] + torch.log(self.scale.expand(x0.shape[1:])).sum()
        terms["total"] = terms["prior"] + terms["denoising"] + terms["decoder"]
        return terms

    def log_prob(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Minus the variational bound per example (a lower bound on log p(x), nats); fixed noise unless ``generator``."""
        gen = generator if generator is not None else torch.Generator().manual_seed(EVAL_SEED)
        return -self.bound(x, gen)["total"]

    # -- the Denoiser capability -------------------------------------------------------
    @torch.no_grad()
    def denoise_steps(
        self,
        n: int,
        generator: torch.Generator | None = None,
        sampler: str = "ddpm",
        steps: int | None = None,
        eta: float = 0.0,
        spacing: str = "trailing",
        variance: str = "beta",
        clip_x0: bool = True,
        use_ema: bool = True,
        x_T: torch.Tensor | None = None,
    ) -> Iterator[DenoiseStep]:
        """Yield one :class:`DenoiseStep` per network evaluation, from pure noise to data.

        ``x_t`` and ``x0_hat`` of each step are in data-space units (images
        (x+1)/2, unclamped; points raw coordinates); ``eps_hat`` is in the
        model's noise space. ``x_T`` (model space) replaces the initial noise.
        Keyword arguments as in :meth:`sample_options`.
        """

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.predict_eps(x_t, t, use_ema)

        return self._chain(eps_fn, n, generator, sampler, steps, eta, spacing, variance, clip_x0, x_T)

    @torch.no_grad()
    def _chain(
        self,
        eps_fn: EpsFn,
        n: int,
        generator: torch.Generator | None,
        sampler: str,
        steps: int | None,
        eta: float,
        spacing: str,
        variance: str,
        clip_x0: bool,
        x_T: torch.Tensor | None,
    ) -> Iterator[DenoiseStep]:
        self.eval()
        x = self.initial_noise(n, generator) if x_T is None else x_T.to(self.device)
        clip = 1.0 if (clip_x0 and self.is_image) else None
        for step in denoise(eps_fn, self.schedule, x, sampler, steps, spacing, eta, variance, clip, generator):
            step.x_t = self.to_data(step.x_t)
            step.x0_hat = self.to_data(step.x0_hat)
            yield step

    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """x_T ~ N(0, I) in model space, the start of every reverse chain."""
        return randn((n, *self.data_info.shape), generator, self.device)

    @torch.no_grad()
    def ddim_invert(self, x0: torch.Tensor, steps: int = 50, spacing: str = "trailing", refine: int = 0, use_ema: bool = True) -> torch.Tensor:
        """The model-space x_T that deterministic DDIM (eta 0, same steps and spacing, no clipping) maps to data-space ``x0``.

        See :func:`samplers.ddim_invert`; pass the result as ``x_T`` to
        :meth:`denoise_steps` with ``clip_x0=False`` to reconstruct ``x0``.
        """
        self.eval()

        def eps_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.predict_eps(x_t, t, use_ema)

        return ddim_invert(eps_fn, self.schedule, self.to_model(x0.to(self.device)), steps, spacing, refine)

    def sample_options(self) -> dict[str, Any]:
        return {
            "sampler": "ddpm",  # one of SAMPLERS
            "steps": None,  # None: all T for ddpm, 50 for ddim
            "eta": 0.0,  # DDIM only: 0 deterministic, 1 DDPM-like noise
            "spacing": "trailing",  # one of SPACINGS
            "variance": "beta",  # DDPM only: one of VARIANCES
            "clip_x0": True,  # clip predicted x_0 to the data range (images)
            "use_ema": True,
        }

    def sample_choices(self) -> dict[str, tuple[Any, ...]]:
        """Allowed values of the sampling options that take a fixed set."""
        return {"sampler": SAMPLERS, "spacing": SPACINGS, "variance": VARIANCES}

    def preview_kwargs(self) -> dict[str, Any]:
        # The sampler issue 21 scores with (``genstudio eval --sampler ddim --steps 50``), so the
        # preview grid shows what the numbers describe.
        return {"sampler": "ddim", "steps": min(50, self.schedule.num_timesteps), "eta": 0.0}
