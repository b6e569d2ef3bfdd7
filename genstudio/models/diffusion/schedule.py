"""Noise schedules of Gaussian diffusion: pure math, no network.

Notation of Ho et al., "Denoising Diffusion Probabilistic Models" (2020):
the forward process adds noise with variances beta_1..beta_T,

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)                     (DDPM eq. 2)

and, with alpha_t = 1 - beta_t and alpha_bar_t = prod_{s<=t} alpha_s,

    q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I)                 (DDPM eq. 4)
    q(x_{t-1} | x_t, x_0) = N(mu_tilde_t(x_t, x_0), beta_tilde_t I)              (DDPM eq. 6)
    mu_tilde_t = sqrt(alpha_bar_{t-1}) beta_t / (1 - alpha_bar_t) x_0
               + sqrt(alpha_t) (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) x_t     (DDPM eq. 7)
    beta_tilde_t = (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) beta_t              (DDPM eq. 7)

Timesteps are 0-based here, as in every implementation: index t in 0..T-1
is the paper's t+1, and alpha_bar_{-1} = 1 (clean data). All tables are
computed in float64 and handed out in the caller's dtype and device.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine", "sigmoid")


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear betas (section 4), scaled by 1000 / T so any T ends at about the same alpha_bar.

    The scaling is Nichol & Dhariwal's (improved DDPM, ``get_named_beta_schedule``).
    """
    scale = 1000.0 / num_timesteps
    betas = torch.linspace(scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64)
    return betas.clamp(max=0.999)  # below T = 20 the scaled end would pass 1


def betas_from_alpha_bar(alpha_bar_fn, num_timesteps: int, max_beta: float = 0.999) -> torch.Tensor:
    """beta_t = 1 - alpha_bar(t+1) / alpha_bar(t) on a grid of T steps, clipped (improved DDPM eq. 17 and section 3.2)."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    ab = alpha_bar_fn(steps)
    return (1 - ab[1:] / ab[:-1]).clamp(max=max_beta)


def cosine_alpha_bar(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    """alpha_bar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) * pi / 2) (Nichol & Dhariwal 2021, eq. 17); u = t/T."""
    f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    f0 = math.cos(s / (1 + s) * math.pi / 2) ** 2
    return f / f0


def sigmoid_alpha_bar(u: torch.Tensor, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> torch.Tensor:
    """The sigmoid schedule of Jabri et al. 2022 ("Scalable Adaptive Computation", algorithm 1), normalised to 1 at u = 0."""
    v_start = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64))
    v_end = torch.sigmoid(torch.tensor(end / tau, dtype=torch.float64))
    return (-torch.sigmoid((u * (end - start) + start) / tau) + v_end) / (v_end - v_start)


def cosine_betas(num_timesteps: int, s: float = 0.008) -> torch.Tensor:
    return betas_from_alpha_bar(lambda u: cosine_alpha_bar(u, s), num_timesteps)


def sigmoid_betas(num_timesteps: int) -> torch.Tensor:
    return betas_from_alpha_bar(sigmoid_alpha_bar, num_timesteps)


class NoiseSchedule:
    """Every per-timestep quantity of the forward process and its posterior, from the betas."""

    def __init__(self, betas: torch.Tensor, name: str = "custom"):
        betas = betas.to(torch.float64)
        if betas.ndim != 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must be a 1-D tensor with every value in (0, 1)")
        self.name = name
        self.num_timesteps = len(betas)
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alpha_bar = torch.cumprod(self.alphas, 0)
        self.alpha_bar_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])
        # Signal-to-noise ratio alpha_bar / (1 - alpha_bar) (Kingma et al. 2021, "Variational Diffusion Models", eq. 2).
        self.snr = self.alpha_bar / (1.0 - self.alpha_bar)
        # DDPM eq. 7: the posterior q(x_{t-1} | x_t, x_0).
        self.posterior_variance = betas * (1.0 - self.alpha_bar_prev) / (1.0 - self.alpha_bar)
        self.posterior_mean_coef_x0 = betas * torch.sqrt(self.alpha_bar_prev) / (1.0 - self.alpha_bar)
        self.posterior_mean_coef_xt = (1.0 - self.alpha_bar_prev) * torch.sqrt(self.alphas) / (1.0 - self.alpha_bar)
        self._cache: dict[tuple, dict[str, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name!r}, T={self.num_timesteps})"

    def __len__(self) -> int:
        return self.num_timesteps

    # -- table lookup -------------------------------------------------------------
    def _table(self, name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (str(device), dtype)
        tables = self._cache.setdefault(key, {})
        if name not in tables:
            tables[name] = getattr(self, name).to(device=device, dtype=dtype)
        return tables[name]

    def gather(self, name: str, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """Table ``name`` at timesteps ``t`` (N), shaped N x 1 x ... to broadcast against ``like``."""
        values = self._table(name, like.device, like.dtype)[t.to(like.device).long()]
        return values.view(-1, *([1] * (like.ndim - 1)))

    def alpha_bar_at(self, t: int) -> float:
        """alpha_bar at one timestep, with alpha_bar_{-1} = 1 (clean data)."""
        return 1.0 if t < 0 else float(self.alpha_bar[t])

    # -- the forward process ------------------------------------------------------
    def q_mean_std(self, x0: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and standard deviation of q(x_t | x_0) (DDPM eq. 4)."""
        ab = self.gather("alpha_bar", t, x0)
        return torch.sqrt(ab) * x0, torch.sqrt(1.0 - ab).expand_as(x0)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps (DDPM eq. 4, reparameterised)."""
        ab = self.gather("alpha_bar", t, x0)
        return torch.sqrt(ab) * x0 + torch.sqrt(1.0 - ab) * noise

    def posterior_mean_variance(self, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mu_tilde_t(x_t, x_0) and beta_tilde_t of q(x_{t-1} | x_t, x_0) (DDPM eqs. 6-7)."""
        mean = self.gather("posterior_mean_coef_x0", t, x_t) * x0 + self.gather("posterior_mean_coef_xt", t, x_t) * x_t
        return mean, self.gather("posterior_variance", t, x_t)

    # -- conversions between parameterisations --------------------------------------
    def predict_x0(self, x_t: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t) (DDPM eq. 15)."""
        ab = self.gather("alpha_bar", t, x_t)
        return (x_t - torch.sqrt(1.0 - ab) * eps) / torch.sqrt(ab)

    def predict_eps(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """eps = (x_t - sqrt(alpha_bar_t) x_0) / sqrt(1 - alpha_bar_t) (DDPM eq. 4 solved for eps)."""
        ab = self.gather("alpha_bar", t, x_t)
        return (x_t - torch.sqrt(ab) * x0) / torch.sqrt(1.0 - ab)

    def velocity(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0 (Salimans & Ho 2022, "Progressive Distillation", section 4)."""
        ab = self.gather("alpha_bar", t, x0)
        return torch.sqrt(ab) * eps - torch.sqrt(1.0 - ab) * x0

    def from_velocity(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(eps, x_0) from v: x_0 = sqrt(ab) x_t - sqrt(1-ab) v, eps = sqrt(1-ab) x_t + sqrt(ab) v."""
        ab = self.gather("alpha_bar", t, x_t)
        a, s = torch.sqrt(ab), torch.sqrt(1.0 - ab)
        return s * x_t + a * v, a * x_t - s * v


def make_schedule(kind: str, num_timesteps: int) -> NoiseSchedule:
    """A named schedule: ``linear`` (DDPM), ``cosine`` (improved DDPM) or ``sigmoid`` (Jabri et al.)."""
    if num_timesteps < 1:
        raise ValueError(f"a schedule needs at least one timestep, got {num_timesteps}")
    builders = {"linear": linear_betas, "cosine": cosine_betas, "sigmoid": sigmoid_betas}
    if kind not in builders:
        raise ValueError(f"unknown noise schedule '{kind}'; choose one of {', '.join(SCHEDULES)}")
    return NoiseSchedule(builders[kind](num_timesteps), name=kind)
