"""Cascaded diffusion (Ho, Saharia, Chan, Fleet, Norouzi & Salimans, "Cascaded Diffusion Models for
High Fidelity Image Generation", JMLR 2022 / arXiv 2021).

The idea: instead of one model at full resolution, a pipeline. A base DDPM
generates a low-resolution image (here half the size, by 2 x 2 average
pooling); a super-resolution DDPM generates the full-resolution image
conditioned on the low-resolution one, upsampled and concatenated to its
input channels. The paper's key ingredient is **noise conditioning
augmentation** (section 4.1, algorithm 3): during training the low-resolution
conditioning image is itself corrupted by the forward process at a random
level s,

    z_s = sqrt(alpha_bar_s) x_low + sqrt(1 - alpha_bar_s) eps,    s ~ U{0, ..., aug_max}

and the super-resolution network is told s. The base model's samples are
imperfect; a super-resolution stage that has learned to trust a slightly
noised input copes with them, where one trained on clean inputs amplifies
their artefacts. At sampling the conditioning is noised to a fixed level
``sample_aug`` (the paper sweeps it; a small level is usually best).

Both stages share one noise schedule and the DDPM/DDIM samplers of
``samplers.py``; each has its own EMA. The augmentation level enters the
super-resolution U-Net through a learned embedding per level, added to the
timestep embedding (``unet.ClassEmbedding``). ``denoise_steps`` yields the
base stage's steps (shown upsampled to full size, nearest neighbour) and then
the super-resolution stage's, with one running NFE count.

Capability: Denoiser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import DataMismatchError, randint, randn
from genstudio.models.nets import crop_to, pad_to, padded_size

from .base import DiffusionModel, DiffusionTrainingConfig, channel_multipliers
from .samplers import SAMPLERS, SPACINGS, VARIANCES, DenoiseStep, denoise
from .schedule import make_schedule
from .unet import UNet

EVAL_SEED = 1234


@dataclass
class CascadeConfig:
    timesteps: int = param_of(DiffusionTrainingConfig, "timesteps", help="number of diffusion steps T of both stages")
    schedule: str = param_of(DiffusionTrainingConfig, "schedule", default="cosine", help="noise schedule of both stages: linear, cosine, sigmoid")
    base_channels: int = param(16, "base (low-resolution) U-Net channels", min=8, max=512)
    sr_channels: int = param(16, "super-resolution U-Net channels at full resolution", min=8, max=512)
    channel_mults: list = param([1, 2], "U-Net channel multiplier per level, both stages", min=1, max=8)
    attention: bool = param(False, "self-attention at the lowest U-Net resolution")
    aug_max: int = param(250, "largest noise-conditioning augmentation level s seen in training (timesteps; 0 turns augmentation off)", min=0, max=4000)
    aug_levels: int = param(10, "augmentation levels embedded (s is rounded to one of this many evenly spaced levels)", min=1, max=1000)
    sample_aug: int = param(50, "augmentation level of the conditioning image at sampling", min=0, max=4000)
    lr: float = param_of(DiffusionTrainingConfig, "lr", help="Adam learning rate (after warm-up), both stages")
    warmup_steps: int = param_of(DiffusionTrainingConfig, "warmup_steps")
    grad_clip: float = param_of(DiffusionTrainingConfig, "grad_clip")
    ema_decay: float = param_of(DiffusionTrainingConfig, "ema_decay", help="decay of the weight averages used for sampling")


class Cascade(DiffusionModel):
    config_class = CascadeConfig
    summary = "Cascaded diffusion: a half-resolution base DDPM and a super-resolution DDPM with noise-conditioning augmentation"
    data_kinds = ("image",)
    metric_groups = {"Loss": ["loss", "loss_base", "loss_sr", "loss_ema"], "Gradient norm": ["grad_norm"]}

    def __init__(self, config: CascadeConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c, h, w = data_info.shape
        if h < 4 or w < 4 or h % 2 or w % 2:
            raise DataMismatchError(f"cascade halves the image for its base stage and needs even sizes of at least 4, got {h} x {w}")
        if config.sample_aug > config.timesteps - 1 or config.aug_max > config.timesteps - 1:
            raise ValueError(f"aug_max and sample_aug must be below timesteps ({config.timesteps})")
        mults = channel_multipliers(config.channel_mults)
        self.is_image = True
        self.schedule = make_schedule(config.schedule, config.timesteps)
        multiple = 2 ** (len(mults) - 1)
        self.low_size = (h // 2, w // 2)
        self.low_padded = (padded_size(h // 2, multiple), padded_size(w // 2, multiple))
        self.padded = (padded_size(h, multiple), padded_size(w, multiple))
        self.base = UNet(c, config.base_channels, mults, 1, config.attention)
        self.sr = UNet(2 * c, config.sr_channels, mults, 1, config.attention, num_classes=config.aug_levels, out_channels=c)
        self.base_ema = EMA(self.base, decay=config.ema_decay)
        self.sr_ema = EMA(self.sr, decay=config.ema_decay)
        self.build_optimiser(list(self.base.parameters()) + list(self.sr.parameters()), config)

    def ema_pairs(self) -> list[tuple[EMA, nn.Module]]:
        return [(self.base_ema, self.base), (self.sr_ema, self.sr)]

    # -- resolutions ------------------------------------------------------------------------
    def downsample(self, x: torch.Tensor) -> torch.Tensor:
        """Full -> half resolution by 2 x 2 average pooling (the base stage's data)."""
        return F.avg_pool2d(x, 2)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        """Half -> full resolution, bilinear (the conditioning image of the super-resolution stage)."""
        return F.interpolate(x, size=self.data_info.shape[1:], mode="bilinear", align_corners=False)

    def aug_bin(self, s: torch.Tensor) -> torch.Tensor:
        """Augmentation level s (timesteps) -> the index of its embedding, evenly spaced over 0..aug_max."""
        if self.config.aug_max == 0:
            return torch.zeros_like(s)
        return torch.round(s.float() / self.config.aug_max * (self.config.aug_levels - 1)).long().clamp(0, self.config.aug_levels - 1)

    # -- the two networks ---------------------------------------------------------------------
    def base_eps(self, x_low: torch.Tensor, t: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        net = self.base_ema.shadow if use_ema else self.base
        return crop_to(net(pad_to(x_low, *self.low_padded), t), *self.low_size)

    def sr_eps(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, s: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """eps_hat of the super-resolution stage, given the upsampled (augmented) low-resolution image and its level s."""
        net = self.sr_ema.shadow if use_ema else self.sr
        h, w = x_t.shape[-2:]
        return crop_to(net(pad_to(torch.cat([x_t, cond], 1), *self.padded), t, self.aug_bin(s)), h, w)

    def augment(self, low: torch.Tensor, s: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Noise-conditioning augmentation: the forward process at level s applied to the conditioning image (CDM algorithm 3)."""
        return self.schedule.q_sample(low, s, noise)

    def _losses(self, x0: torch.Tensor, gen: torch.Generator | None, use_ema: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n, dev = x0.shape[0], x0.device
        low = self.downsample(x0)
        t_base = randint(self.schedule.num_timesteps, (n,), gen, dev)
        eps_base = randn(low.shape, gen, dev)
        loss_base = F.mse_loss(self.base_eps(self.schedule.q_sample(low, t_base, eps_base), t_base, use_ema), eps_base)  # DDPM eq. 14
        t = randint(self.schedule.num_timesteps, (n,), gen, dev)
        eps = randn(x0.shape, gen, dev)
        s = randint(self.config.aug_max + 1, (n,), gen, dev)
        cond = self.upsample(self.augment(low, s, randn(low.shape, gen, dev)))
        loss_sr = F.mse_loss(self.sr_eps(self.schedule.q_sample(x0, t, eps), t, cond, s, use_ema), eps)
        return loss_base, loss_sr

    # -- training ---------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        with self.autocast():
            loss_base, loss_sr = self._losses(self.to_model(batch.x), None, use_ema=False)
        return self.update(loss_base + loss_sr, {"loss_base": loss_base, "loss_sr": loss_sr})

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Both stages' losses (raw weights) and their sum with the EMA weights, fixed noise."""
        self.eval()
        x0 = self.to_model(batch.x)
        base, sr = self._losses(x0, torch.Generator().manual_seed(EVAL_SEED), use_ema=False)
        base_e, sr_e = self._losses(x0, torch.Generator().manual_seed(EVAL_SEED), use_ema=True)
        return {"loss": (base + sr).item(), "loss_base": base.item(), "loss_sr": sr.item(), "loss_ema": (base_e + sr_e).item()}

    # -- the Denoiser capability (q_sample: the super-resolution stage's forward process, full size) ------
    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The base stage's x_T (half resolution, model space)."""
        return randn((n, self.data_info.shape[0], *self.low_size), generator, self.device)

    def _full(self, x_low: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x_low, size=self.data_info.shape[1:], mode="nearest")

    @torch.no_grad()
    def denoise_steps(
        self,
        n: int,
        generator: torch.Generator | None = None,
        sampler: str = "ddim",
        steps: int | None = None,
        eta: float = 0.0,
        spacing: str = "trailing",
        variance: str = "beta",
        clip_x0: bool = True,
        use_ema: bool = True,
        x_T: torch.Tensor | None = None,
        sample_aug: int | None = None,
    ) -> Iterator[DenoiseStep]:
        """Both stages' reverse chains, one :class:`DenoiseStep` per network evaluation (base steps upsampled for display).

        ``x_T`` (model space, half resolution) replaces the base stage's
        initial noise; ``sample_aug`` the config's conditioning noise level.
        """
        self.eval()
        s_level = self.config.sample_aug if sample_aug is None else int(sample_aug)
        if not 0 <= s_level < self.schedule.num_timesteps:
            raise ValueError(f"sample_aug must be in 0..{self.schedule.num_timesteps - 1}, got {s_level}")
        x = self.initial_noise(n, generator) if x_T is None else x_T.to(self.device)
        nfe = 0
        low = x
        for step in denoise(lambda z, t: self.base_eps(z, t, use_ema), self.schedule, x, sampler, steps, spacing, eta, variance, 1.0 if clip_x0 else None, generator):
            nfe += 1
            low = step.x_t
            # t_prev -1 on the base stage's last step: its output is a clean (low-resolution) sample.
            yield DenoiseStep(
                t=step.t, t_prev=step.t_prev, x_t=self.to_data(self._full(step.x_t)), eps_hat=self._full(step.eps_hat), x0_hat=self.to_data(self._full(step.x0_hat)),
                index=nfe - 1, num_steps=2 * step.num_steps, nfe=nfe,
            )
        # Stage 2: condition on the base sample, noised to level s (CDM section 4.1), and super-resolve.
        low = low.clamp(-1, 1)
        s = torch.full((n,), s_level, dtype=torch.long, device=self.device)
        cond = self.upsample(self.augment(low, s, randn(low.shape, generator, self.device)))
        x_full = randn((n, *self.data_info.shape), generator, self.device)
        for step in denoise(lambda z, t: self.sr_eps(z, t, cond, s, use_ema), self.schedule, x_full, sampler, steps, spacing, eta, variance, 1.0 if clip_x0 else None, generator):
            nfe += 1
            yield DenoiseStep(
                t=step.t, t_prev=step.t_prev, x_t=self.to_data(step.x_t), eps_hat=step.eps_hat, x0_hat=self.to_data(step.x0_hat),
                index=nfe - 1, num_steps=2 * step.num_steps, nfe=nfe,
            )

    @torch.no_grad()
    def sample_low(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Only the base stage: half-resolution samples in [0, 1]."""
        last = None
        for last in denoise(lambda z, t: self.base_eps(z, t), self.schedule, self.initial_noise(n, generator), generator=generator, **kwargs):
            pass
        return self.to_data(last.x_t).clamp(0, 1)

    def sample_options(self) -> dict[str, Any]:
        return {
            "sampler": "ddim",  # both stages
            "steps": None,  # per stage; None: T for ddpm, 50 for ddim
            "eta": 0.0,
            "spacing": "trailing",
            "variance": "beta",
            "clip_x0": True,
            "use_ema": True,
            "sample_aug": self.config.sample_aug,
        }

    def sample_choices(self) -> dict[str, tuple[Any, ...]]:
        return {"sampler": SAMPLERS, "spacing": SPACINGS, "variance": VARIANCES}

    def preview_kwargs(self) -> dict[str, Any]:
        return {"sampler": "ddim", "steps": 20}
