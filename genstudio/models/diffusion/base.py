"""What the diffusion models share: data space, denoiser networks, the training update, EMA sampling weights.

DDPM (and its classifier-free-guided subclass), NCSN and the cascade differ
in their noise processes and samplers, not in the machinery around them:

- images live in [-1, 1] (DDPM section 4), 2-D points are normalised into
  [-1, 1] from the data's extent; odd image sizes are padded (with zeros, the
  noise mean) to the U-Net's multiple and cropped back, so the diffusion
  itself happens at the data's size;
- Adam with a linear learning-rate warm-up, gradient clipping, and an EMA of
  every network that sampling uses by default (``use_ema``);
- ``sample`` runs ``denoise_steps`` to the end and clamps images to [0, 1];
- ``q_sample`` applies the schedule's forward process in model space
  (``schedule.q_sample``: variance-preserving for DDPM, x + sigma z for NCSN).

Attribute names (``net``, ``ema``, ``centre``, ``scale``) are those the
checkpoints were written with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import nn

from genstudio.core.config import param
from genstudio.core.data_types import DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import GenerativeModel, optimizer_step
from genstudio.models.nets import crop_to, pad_to, padded_size, point_normalisation

from .samplers import DenoiseStep
from .schedule import SCHEDULES
from .unet import MLPDenoiser, UNet


@dataclass
class DiffusionTrainingConfig:
    """Settings the diffusion models share, declared once; each config takes them with ``param_of``.

    They sit at different places in each model's form (the schedule first, the
    optimiser last), so the configs place them rather than inherit them.
    """

    timesteps: int = param(1000, "number of diffusion steps T", min=2, max=4000)
    schedule: str = param("linear", "noise schedule: linear (DDPM), cosine (improved DDPM), sigmoid", choices=SCHEDULES)
    lr: float = param(1e-3, "Adam learning rate (after warm-up)", min=1e-6, max=1e-1, log=True)
    warmup_steps: int = param(100, "linear learning-rate warm-up steps", min=0, max=100000)
    grad_clip: float = param(1.0, "clip the gradient norm to this (0 turns clipping off)", min=0.0, max=1000.0)
    ema_decay: float = param(0.999, "decay of the weight average used for sampling (warmed up as in core.ema)", min=0.0, max=0.99999)


def channel_multipliers(channel_mults: Iterable[Any]) -> tuple[int, ...]:
    """The config's U-Net channel multipliers as ints, refused when empty or not positive."""
    mults = tuple(int(m) for m in channel_mults)
    if not mults or min(mults) < 1:
        raise ValueError("channel_mults needs at least one positive multiplier, for example [1, 2, 2]")
    return mults


def check_sample_options(model: Any, kwargs: dict[str, Any]) -> None:
    """Refuse keyword arguments ``model.sample_options()`` does not know, naming the ones it does."""
    known = model.sample_options()
    unknown = set(kwargs) - set(known)
    if unknown:
        raise TypeError(f"unknown sampling option(s) {', '.join(sorted(unknown))}; known: {', '.join(known)}")


def warmup_factor(warmup_steps: int) -> Callable[[int], float]:
    """Learning-rate factor of a linear warm-up over ``warmup_steps`` optimiser steps (1 throughout when 0)."""
    return lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0


class DiffusionModel(GenerativeModel):
    """Base of the diffusion models; subclasses build their networks with the helpers below."""

    family = "diffusion"
    metric_groups = {"Loss": ["loss", "loss_ema"], "Gradient norm": ["grad_norm"]}

    # -- construction -------------------------------------------------------------------------
    def build_denoiser(self, config: Any, data_info: DataInfo, dropout: float = 0.0, num_classes: int = 0) -> nn.Module:
        """The network for this data: a U-Net for images (padded to its multiple), a residual MLP for points.

        Reads ``base_channels``, ``channel_mults``, ``num_res_blocks``,
        ``attention``, ``mlp_hidden`` and ``mlp_depth`` from ``config``; sets
        ``is_image`` and the padding sizes or the point normalisation buffers.
        """
        mults = channel_multipliers(config.channel_mults)
        self.is_image = data_info.kind == "image"
        if self.is_image:
            c, h, w = data_info.shape
            multiple = 2 ** (len(mults) - 1)
            self.hp, self.wp = padded_size(h, multiple), padded_size(w, multiple)
            return UNet(c, config.base_channels, mults, config.num_res_blocks, config.attention, dropout, num_classes=num_classes)
        centre, scale = point_normalisation(data_info)
        self.register_buffer("centre", centre)
        self.register_buffer("scale", scale)
        return MLPDenoiser(data_info.dim, config.mlp_hidden, config.mlp_depth, num_classes=num_classes)

    def build_optimiser(self, params: Iterable[nn.Parameter], config: Any) -> None:
        """Adam at ``config.lr`` with a linear warm-up over ``config.warmup_steps``."""
        self.opt = torch.optim.Adam(params, lr=config.lr)
        self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(self.opt, warmup_factor(config.warmup_steps))

    def ema_pairs(self) -> list[tuple[EMA, nn.Module]]:
        """(average, network) pairs updated after every step; one network by default."""
        return [(self.ema, self.net)]

    # -- data space <-> model space -----------------------------------------------------------
    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data space to diffusion space: images [0, 1] -> [-1, 1]; points -> extent-normalised."""
        return x * 2 - 1 if self.is_image else (x - self.centre) / self.scale

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_model` (not clamped: a noisy x_t leaves [0, 1])."""
        return (x + 1) / 2 if self.is_image else x * self.scale + self.centre

    def run_net(self, net: nn.Module, x: torch.Tensor, *args: Any) -> torch.Tensor:
        """``net(x, *args)``, images padded to the U-Net's multiple and the output cropped back."""
        if self.is_image:
            h, w = x.shape[-2:]
            return crop_to(net(pad_to(x, self.hp, self.wp), *args), h, w)
        return net(x, *args)

    # -- training ---------------------------------------------------------------------------------
    def update(self, loss: torch.Tensor, terms: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
        """One optimiser step on ``loss`` (clipped), the warm-up, the EMAs; the logged values."""
        grad_norm = optimizer_step(loss, self.opt, terms, clip_grad_norm=self.config.grad_clip or None)
        self.lr_schedule.step()
        for ema, net in self.ema_pairs():
            ema.update(net)
        out = {"loss": loss.item(), **{k: v.item() for k, v in (terms or {}).items()}}
        if grad_norm is not None:
            out["grad_norm"] = grad_norm
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"warmup": self.lr_schedule}

    # -- the Denoiser capability -------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) for data-space ``x0``, returned in data-space units (images unclamped)."""
        x0m = self.to_model(x0.to(self.device))
        if noise is None:
            noise = torch.randn_like(x0m)
        return self.to_data(self.schedule.q_sample(x0m, t.to(self.device), noise.to(self.device)))

    def denoise_steps(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> Iterator[DenoiseStep]:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """``n`` samples in data space (images clamped to [0, 1]); keyword arguments as in :meth:`sample_options`."""
        check_sample_options(self, kwargs)
        last = None
        for last in self.denoise_steps(n, generator, **kwargs):
            pass
        assert last is not None
        return last.x_t.clamp(0, 1) if self.is_image else last.x_t
