"""Class-conditional diffusion with classifier-free guidance (Ho & Salimans, "Classifier-Free
Diffusion Guidance", 2022).

The idea: one network learns both the conditional noise prediction
eps(x_t, t, y) and the unconditional one eps(x_t, t, null), by replacing the
label with a "null" token for a fraction ``label_dropout`` of the training
examples (their algorithm 1, p_uncond). At sampling time the two are mixed:

    eps_guided = eps(x_t, t, null) + s (eps(x_t, t, y) - eps(x_t, t, null))

which is their eq. 6 with s = 1 + w. Scale s = 0 is the unconditional model,
s = 1 the plain conditional model, and s > 1 pushes samples towards what
makes the label likely (sharper, less diverse). Everything else (schedule,
parameterisations, DDPM and DDIM samplers, EMA) is :class:`DDPM`'s; the
class embedding is added to the timestep embedding (``unet.ClassEmbedding``).

Capabilities: Denoiser (as DDPM, with ``labels`` and ``guidance_scale``
accepted by ``denoise_steps``) and Conditional (``num_classes``,
``sample_conditional``). ``sample`` without labels draws from the
unconditional model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch

from genstudio.core.config import param
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError

from .ddpm import DDPM, DDPMConfig
from .samplers import DenoiseStep


@dataclass
class CFGDDPMConfig(DDPMConfig):
    label_dropout: float = param(0.1, "fraction of training labels replaced by the null label (p_uncond of Ho & Salimans)", min=0.0, max=1.0)
    guidance_scale: float = param(2.0, "default guidance scale s: 0 unconditional, 1 conditional, above 1 guided", min=0.0, max=50.0)


class ConditionalDDPM(DDPM):
    config_class = CFGDDPMConfig
    summary = "Class-conditional diffusion with classifier-free guidance: label dropout in training, guidance scale at sampling"

    def __init__(self, config: CFGDDPMConfig, data_info: DataInfo):
        if data_info.num_classes < 1:
            raise DataMismatchError(
                f"model 'ConditionalDDPM' needs a labelled dataset, but '{data_info.name}' has no classes; use 'ddpm' for unlabelled data"
            )
        super().__init__(config, data_info)
        self.num_classes = data_info.num_classes

    def label_classes(self) -> int:
        return self.data_info.num_classes

    @property
    def null_label(self) -> int:
        return self.data_info.num_classes

    # -- training -------------------------------------------------------------------------
    def training_labels(self, batch: Batch) -> torch.Tensor:
        y = batch.y.to(self.device)
        if (y < 0).any():
            raise DataMismatchError("ConditionalDDPM was given a batch with unlabelled examples (label -1)")
        drop = torch.rand(y.shape, device=y.device) < self.config.label_dropout  # Ho & Salimans, algorithm 1, line 3
        return torch.where(drop, torch.full_like(y, self.null_label), y)

    def evaluation_labels(self, batch: Batch) -> torch.Tensor:
        return batch.y.to(self.device).clamp(min=0)

    # -- guided noise prediction ------------------------------------------------------------
    def guided_eps(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None, guidance_scale: float, use_ema: bool = True) -> torch.Tensor:
        """eps(null) + s (eps(y) - eps(null)) (Ho & Salimans eq. 6, s = 1 + w); ``labels`` None is unconditional."""
        if labels is None or guidance_scale == 0:
            return self.predict_eps(x_t, t, use_ema, y=None)
        labels = labels.to(x_t.device).long()
        if guidance_scale == 1:
            return self.predict_eps(x_t, t, use_ema, y=labels)
        # One batched evaluation for both predictions.
        null = torch.full_like(labels, self.null_label)
        both = self.predict_eps(torch.cat([x_t, x_t]), torch.cat([t, t]), use_ema, y=torch.cat([labels, null]))
        eps_cond, eps_uncond = both.chunk(2)
        return eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    # -- sampling -------------------------------------------------------------------------------
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
        labels: torch.Tensor | None = None,
        guidance_scale: float | None = None,
    ) -> Iterator[DenoiseStep]:
        """As :meth:`DDPM.denoise_steps`, guided towards ``labels`` (n class indices; None samples unconditionally)."""
        scale = self.config.guidance_scale if guidance_scale is None else float(guidance_scale)
        if scale < 0:
            raise ValueError(f"guidance_scale must be 0 or more, got {scale}")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long)
            if labels.shape != (n,):
                raise ValueError(f"labels must hold one class per sample ({n}), got shape {tuple(labels.shape)}")
            if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < self.num_classes):
                raise ValueError(f"labels must be in 0..{self.num_classes - 1}")

        def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return self.guided_eps(x, t, labels, scale, use_ema)

        return self._chain(eps_fn, n, generator, sampler, steps, eta, spacing, variance, clip_x0, x_T)

    def sample_options(self) -> dict[str, Any]:
        return {**super().sample_options(), "labels": None, "guidance_scale": self.config.guidance_scale}

    @torch.no_grad()
    def sample_conditional(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, guidance_scale: float | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """One sample per label, guided with ``guidance_scale`` (the config's default when None)."""
        return self.sample(len(labels), generator, labels=labels, guidance_scale=guidance_scale, **kwargs)
