"""Noise-conditional score network (Song & Ermon, "Generative Modeling by Estimating Gradients of
the Data Distribution", NeurIPS 2019; with the refinements of "Improved Techniques for Training
Score-Based Generative Models", NeurIPS 2020).

The idea: instead of a likelihood, learn the score grad_x log p_sigma(x) of the
data blurred by Gaussian noise, at a geometric ladder of noise levels
sigma_1 > ... > sigma_L, with one network s_theta(x, sigma). Denoising score
matching (Vincent 2011) makes this a regression: for x~ = x + sigma z the
score of the perturbation kernel is -(x~ - x) / sigma^2 = -z / sigma, so

    l(sigma) = 1/2 E || sigma s_theta(x~, sigma) + z ||^2          (NCSN eq. 5 times lambda(sigma) = sigma^2, eq. 6)

and, with the network written as s_theta(x, sigma) = -net(x, sigma) / sigma
(NCSNv2 technique 3: the output is divided by sigma), net predicts the noise z
exactly as a DDPM eps-network does; we call its output eps_hat. Sampling is
annealed Langevin dynamics (NCSN algorithm 1): at each level, from the
noisiest down, ``steps_per_level`` steps

    x <- x + (alpha_i / 2) s_theta(x, sigma_i) + sqrt(alpha_i) z,   alpha_i = step_size sigma_i^2 / sigma_L^2

then one final denoising step x <- x + sigma_L^2 s_theta(x, sigma_L)
(Tweedie's formula; NCSNv2 appendix and Jolicoeur-Martineau et al. 2021),
which removes the last sigma_L of noise that Langevin leaves.

Timesteps: level index t in 0..L-1 with sigma increasing in t, so t = L-1 is
the noisiest, as in DDPM; the panel's forward slider, schedule plots and
reverse chain read the same way for both families. Every Langevin step
yields a ``DenoiseStep`` (t, x_t, eps_hat, x0_hat = x - sigma eps_hat, the
Tweedie estimate of the clean sample), so the diffusion panel shows it.

Capability: Denoiser (``schedule`` is a :class:`SigmaSchedule`, ``q_sample``
adds sigma_t noise, ``denoise_steps`` yields per Langevin step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import randint, randn

from .base import DiffusionModel, DiffusionTrainingConfig
from .samplers import DenoiseStep

EVAL_SEED = 1234
#: The network's timestep embedding sees levels spread over 0..999, the range it was designed for.
EMBED_RANGE = 999.0


class SigmaSchedule:
    """Geometric noise levels sigma_t = sigma_min (sigma_max / sigma_min)^(t / (L - 1)), t = 0..L-1 (NCSN section 4.2)."""

    name = "geometric"

    def __init__(self, sigma_min: float, sigma_max: float, num_levels: int):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"noise levels need 0 < sigma_min < sigma_max, got {sigma_min} and {sigma_max}")
        if num_levels < 2:
            raise ValueError(f"a ladder of noise levels needs at least 2 levels, got {num_levels}")
        self.num_timesteps = num_levels
        self.sigmas = torch.exp(torch.linspace(math.log(sigma_min), math.log(sigma_max), num_levels, dtype=torch.float64))
        # Signal-to-noise ratio of x + sigma z for unit-scale data (variance-exploding: the signal is never scaled down).
        self.snr = 1.0 / self.sigmas**2

    def __repr__(self) -> str:
        return f"SigmaSchedule({float(self.sigmas[0]):.3g} .. {float(self.sigmas[-1]):.3g}, L={self.num_timesteps})"

    def __len__(self) -> int:
        return self.num_timesteps

    def sigma(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """sigma at levels ``t`` (N), shaped N x 1 x ... to broadcast against ``like``."""
        return self.sigmas.to(like.device, like.dtype)[t.to(like.device).long()].view(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_0 + sigma_t z: the perturbation kernel (variance exploding; model space)."""
        return x0 + self.sigma(t, x0) * noise


@dataclass
class NCSNConfig:
    sigma_max: float = param(1.0, "largest noise level, in model units (data scaled to [-1, 1]); NCSNv2 sets it near the largest distance between examples", min=1e-3, max=100.0)
    sigma_min: float = param(0.01, "smallest noise level", min=1e-4, max=1.0)
    num_levels: int = param(10, "noise levels L (geometric ladder)", min=2, max=1000)
    steps_per_level: int = param(100, "annealed Langevin steps per noise level when sampling", min=1, max=10000)
    step_size: float = param(2e-5, "Langevin step size epsilon at the smallest level (alpha_i = epsilon sigma_i^2 / sigma_L^2)", min=1e-9, max=1.0, log=True)
    base_channels: int = param(16, "U-Net channels at full resolution", min=8, max=512)
    channel_mults: list = param([1, 2, 4], "U-Net channel multiplier per resolution level", min=1, max=8)
    num_res_blocks: int = param(1, "residual blocks per U-Net level", min=1, max=4)
    attention: bool = param(True, "self-attention at the lowest U-Net resolution")
    mlp_hidden: int = param(128, "hidden width of the MLP score network for points", min=16, max=2048)
    mlp_depth: int = param(3, "residual layers of the MLP score network for points", min=1, max=12)
    lr: float = param_of(DiffusionTrainingConfig, "lr")
    warmup_steps: int = param_of(DiffusionTrainingConfig, "warmup_steps")
    grad_clip: float = param_of(DiffusionTrainingConfig, "grad_clip")
    ema_decay: float = param_of(DiffusionTrainingConfig, "ema_decay", help="decay of the weight average used for sampling (NCSNv2 technique 5)")


class NCSN(DiffusionModel):
    config_class = NCSNConfig
    summary = "Noise-conditional score network: denoising score matching at geometric noise levels, annealed Langevin sampling"
    data_kinds = ("image", "points")

    def __init__(self, config: NCSNConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        self.schedule = SigmaSchedule(config.sigma_min, config.sigma_max, config.num_levels)
        self.net = self.build_denoiser(config, data_info)
        self.ema = EMA(self.net, decay=config.ema_decay)
        self.build_optimiser(self.net.parameters(), config)

    # -- the network -------------------------------------------------------------------------
    def _raw(self, net: nn.Module, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.run_net(net, x, t.float() * (EMBED_RANGE / (self.schedule.num_timesteps - 1)))

    def predict_eps(self, x: torch.Tensor, t: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """eps_hat(x, t) = -sigma_t s_theta(x, sigma_t): the noise the network sees in x (model space)."""
        return self._raw(self.ema.shadow if use_ema else self.net, x, t)

    def score(self, x: torch.Tensor, t: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """s_theta(x, sigma_t) = -eps_hat / sigma_t, an estimate of grad_x log p_sigma_t(x) (model space)."""
        return -self.predict_eps(x, t, use_ema) / self.schedule.sigma(t, x)

    def _loss(self, net: nn.Module, x0: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = self.schedule.q_sample(x0, t, z)
        # 1/2 ||sigma s + z||^2 = 1/2 ||z - eps_hat||^2 (NCSN eqs. 5-6 with lambda = sigma^2), summed over dimensions.
        return 0.5 * ((self._raw(net, x, t) - z) ** 2).flatten(1).sum(1).mean()

    # -- training ----------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        x0 = self.to_model(batch.x)
        t = torch.randint(0, self.schedule.num_timesteps, (x0.shape[0],), device=x0.device)
        with self.autocast():
            loss = self._loss(self.net, x0, t, torch.randn_like(x0))
        return self.update(loss)

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """The denoising score matching loss of the raw and the EMA network, with fixed levels and noise."""
        self.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)
        x0 = self.to_model(batch.x)
        t = randint(self.schedule.num_timesteps, (x0.shape[0],), gen, x0.device)
        z = randn(x0.shape, gen, x0.device)
        return {"loss": self._loss(self.net, x0, t, z).item(), "loss_ema": self._loss(self.ema.shadow, x0, t, z).item()}

    # -- the Denoiser capability (q_sample: DiffusionModel's, with the schedule's x_0 + sigma_t z) ------
    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """The chain's start in model space: N(0, sigma_max^2 I), the data blurred beyond recognition."""
        return randn((n, *self.data_info.shape), generator, self.device) * float(self.schedule.sigmas[-1])

    def visited_timesteps(self, **_: Any) -> list[int]:
        """Noise levels the sampler walks, noisiest first."""
        return list(range(self.schedule.num_timesteps - 1, -1, -1))

    @torch.no_grad()
    def denoise_steps(
        self,
        n: int,
        generator: torch.Generator | None = None,
        steps_per_level: int | None = None,
        step_size: float | None = None,
        denoise: bool = True,
        use_ema: bool = True,
        x_T: torch.Tensor | None = None,
    ) -> Iterator[DenoiseStep]:
        """Annealed Langevin dynamics (NCSN algorithm 1), one :class:`DenoiseStep` per network evaluation.

        ``x_t`` and ``x0_hat`` are in data-space units, ``eps_hat`` in model
        space. ``t`` is the level of the step, ``t_prev`` the level of its
        output (the same level inside a level's run, -1 after the final
        denoising step). ``x_T`` (model space) replaces the initial noise.
        """
        self.eval()
        k = self.config.steps_per_level if steps_per_level is None else int(steps_per_level)
        eps = self.config.step_size if step_size is None else float(step_size)
        if k < 1:
            raise ValueError(f"steps_per_level must be at least 1, got {k}")
        if eps <= 0:
            raise ValueError(f"step_size must be positive, got {eps}")
        x = self.initial_noise(n, generator) if x_T is None else x_T.to(self.device)
        levels = self.visited_timesteps()
        sigma_min = float(self.schedule.sigmas[0])
        total = len(levels) * k + (1 if denoise else 0)
        nfe = 0
        for li, level in enumerate(levels):
            sigma = float(self.schedule.sigmas[level])
            alpha = eps * sigma**2 / sigma_min**2  # NCSN algorithm 1, line 3
            t = torch.full((n,), level, dtype=torch.long, device=self.device)
            for j in range(k):
                eps_hat = self.predict_eps(x, t, use_ema)
                nfe += 1
                x0_hat = x - sigma * eps_hat  # Tweedie: E[x_0 | x] = x + sigma^2 s(x)
                score = -eps_hat / sigma
                z = randn(x.shape, generator, self.device)
                x = x + 0.5 * alpha * score + math.sqrt(alpha) * z  # NCSN algorithm 1, line 6
                last = not denoise and li == len(levels) - 1 and j == k - 1
                next_level = -1 if last else (level if j < k - 1 else (levels[li + 1] if li + 1 < len(levels) else level))
                yield DenoiseStep(t=level, t_prev=next_level, x_t=self.to_data(x), eps_hat=eps_hat, x0_hat=self.to_data(x0_hat), index=nfe - 1, num_steps=total, nfe=nfe)
        if denoise:
            t = torch.zeros(n, dtype=torch.long, device=self.device)
            eps_hat = self.predict_eps(x, t, use_ema)
            nfe += 1
            x = x - sigma_min * eps_hat  # x + sigma_L^2 s(x, sigma_L)
            yield DenoiseStep(t=0, t_prev=-1, x_t=self.to_data(x), eps_hat=eps_hat, x0_hat=self.to_data(x), index=nfe - 1, num_steps=total, nfe=nfe)

    def sample_options(self) -> dict[str, Any]:
        return {"steps_per_level": self.config.steps_per_level, "step_size": self.config.step_size, "denoise": True, "use_ema": True}

    def preview_kwargs(self) -> dict[str, Any]:
        return {"steps_per_level": min(10, self.config.steps_per_level)}
