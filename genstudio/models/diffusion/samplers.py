"""Reverse-process samplers: pure math over a :class:`NoiseSchedule`, no network.

A sampler walks a decreasing list of timesteps t_0 > t_1 > ... > t_{S-1}
and, at each, turns the network's noise prediction eps_hat(x_t, t) into the
sample at the next (lower) noise level t_prev, with t_prev = -1 meaning clean
data (alpha_bar_{-1} = 1). Steps may skip timesteps: every formula is
written for a pair (t, t_prev), and with t_prev = t - 1 it is the paper's
formula exactly.

- DDPM ancestral step (Ho et al. 2020, algorithm 2 / eq. 11), on a skipped
  pair with the respaced beta = 1 - alpha_bar_t / alpha_bar_{t_prev}
  (Nichol & Dhariwal 2021, section 4). Reverse variance ``beta`` (sigma^2 =
  beta_t, "fixed large") or ``beta_tilde`` (the posterior variance, "fixed
  small"); Ho et al. found both similar, one reproduction scored FID 3.12 vs
  5.30 in favour of ``beta``.
- DDIM step (Song, Meng & Ermon 2021, eq. 12) with eta: 0 is deterministic,
  1 matches DDPM's posterior variance (eq. 16).

- DPM-Solver++(2M) step (Lu et al. 2022, "DPM-Solver++: Fast Solver for
  Guided Sampling of Diffusion Probabilistic Models", algorithm 2): the
  probability-flow ODE solved in log-SNR time with the predicted x_0, second
  order by reusing the previous step's x_0 (one network evaluation per step,
  like DDIM, whose step is its first-order case). The first step and the
  last (into clean data, where log-SNR is infinite) are first order.

- DDIM inversion (:func:`ddim_invert`): eta 0 makes DDIM a deterministic
  map x_T -> x_0, and running it backwards recovers the x_T of a sample.

Every step returns the predicted x_0 (DDPM eq. 15) beside the new sample,
which the studio shows to preview progress, as diffusers does; it counts
network evaluations (NFE), and a consumer interrupts sampling by stopping
the iteration (no evaluation happens after the last step it asked for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from genstudio.core.model import randn

from .schedule import NoiseSchedule

SAMPLERS = ("ddpm", "ddim", "dpm++2m")
SPACINGS = ("leading", "trailing", "linspace")
VARIANCES = ("beta", "beta_tilde")


@dataclass
class DenoiseStep:
    """One reverse step, as yielded by :func:`denoise`.

    ``t`` is the timestep the network was evaluated at: the noise level of
    the input of this step. ``x_t`` is the sample AFTER this step, which is
    at noise level ``t_prev`` (the next timestep of the walk, or -1 for clean
    data on the last step); it is the input of the next step. ``eps_hat`` is
    the predicted noise and ``x0_hat`` the predicted clean sample (clipped
    when clipping is on), both computed from the input at level ``t``.
    ``nfe`` counts network evaluations so far, this step included.
    """

    t: int
    t_prev: int
    x_t: torch.Tensor
    eps_hat: torch.Tensor
    x0_hat: torch.Tensor
    index: int = 0
    num_steps: int = 0
    nfe: int = 0

    @property
    def is_last(self) -> bool:
        return self.t_prev < 0


def select_timesteps(num_timesteps: int, steps: int, spacing: str = "trailing") -> list[int]:
    """``steps`` decreasing timesteps out of 0..T-1, as in diffusers' ``set_timesteps``.

    - ``leading`` (DDIM paper, diffusers' default): 0, k, 2k, ... with
      k = T // steps; it never visits T-1, so the walk starts from a noise
      level a little below the one it was trained to start from.
    - ``trailing``: T-1, T-1-T/steps, ... down to T/steps - 1; starts at T-1
      (recommended by Lin et al. 2024, "Common Diffusion Noise Schedules and
      Sample Steps are Flawed", table 2).
    - ``linspace``: round(linspace(0, T-1, steps)); visits both ends.
    """
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"steps must be between 1 and the number of timesteps {num_timesteps}, got {steps}")
    if spacing == "leading":
        ts = [i * (num_timesteps // steps) for i in range(steps)]
    elif spacing == "trailing":
        ratio = num_timesteps / steps
        ts = [int(round(num_timesteps - i * ratio)) - 1 for i in range(steps)][::-1]
    elif spacing == "linspace":
        ts = [int(round(v)) for v in torch.linspace(0, num_timesteps - 1, steps, dtype=torch.float64).tolist()]
    else:
        raise ValueError(f"unknown timestep spacing '{spacing}'; choose one of {', '.join(SPACINGS)}")
    return sorted(set(ts), reverse=True)


def _clip(x0_hat: torch.Tensor, clip_x0: float | None) -> torch.Tensor:
    return x0_hat if clip_x0 is None else x0_hat.clamp(-clip_x0, clip_x0)


def ddpm_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    eps_hat: torch.Tensor,
    noise: torch.Tensor | None,
    variance: str = "beta",
    clip_x0: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ancestral step x_t -> x_{t_prev} ~ p(x_{t_prev} | x_t); returns (x_prev, x0_hat).

    1. x0_hat = (x_t - sqrt(1 - alpha_bar_t) eps_hat) / sqrt(alpha_bar_t)         (DDPM eq. 15), optionally clipped.
    2. mean = posterior mean mu_tilde(x_t, x0_hat)                                  (DDPM eq. 7); unclipped it equals
       1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - alpha_bar_t) eps_hat)                (DDPM eq. 11).
    3. x_prev = mean + sigma z with sigma^2 = beta_t or beta_tilde_t; no noise on the last step (algorithm 2, line 4).
    """
    if variance not in VARIANCES:
        raise ValueError(f"unknown reverse variance '{variance}'; choose one of {', '.join(VARIANCES)}")
    ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
    alpha = ab_t / ab_prev  # respaced alpha of the pair (equals alpha_t when t_prev = t - 1)
    beta = 1.0 - alpha
    x0_hat = _clip((x_t - math.sqrt(1.0 - ab_t) * eps_hat) / math.sqrt(ab_t), clip_x0)
    mean = (math.sqrt(ab_prev) * beta / (1.0 - ab_t)) * x0_hat + (math.sqrt(alpha) * (1.0 - ab_prev) / (1.0 - ab_t)) * x_t
    if t_prev < 0:
        return mean, x0_hat
    var = beta if variance == "beta" else beta * (1.0 - ab_prev) / (1.0 - ab_t)
    if noise is None:
        raise ValueError("a DDPM step above t = 0 needs noise")
    return mean + math.sqrt(var) * noise, x0_hat


def ddim_sigma(schedule: NoiseSchedule, t: int, t_prev: int, eta: float) -> float:
    """sigma_t(eta) = eta sqrt((1 - ab_prev) / (1 - ab_t)) sqrt(1 - ab_t / ab_prev) (DDIM eq. 16)."""
    ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
    return eta * math.sqrt((1.0 - ab_prev) / (1.0 - ab_t)) * math.sqrt(1.0 - ab_t / ab_prev)


def ddim_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    eps_hat: torch.Tensor,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip_x0: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DDIM step x_t -> x_{t_prev}; returns (x_prev, x0_hat).

    x_prev = sqrt(ab_prev) x0_hat + sqrt(1 - ab_prev - sigma^2) eps_hat + sigma z   (DDIM eq. 12)

    When x0_hat is clipped, eps_hat is re-derived from it so the two stay
    consistent (as diffusers does).
    """
    ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
    x0_hat = (x_t - math.sqrt(1.0 - ab_t) * eps_hat) / math.sqrt(ab_t)
    if clip_x0 is not None:
        x0_hat = _clip(x0_hat, clip_x0)
        eps_hat = (x_t - math.sqrt(ab_t) * x0_hat) / math.sqrt(1.0 - ab_t)
    sigma = ddim_sigma(schedule, t, t_prev, eta)
    x_prev = math.sqrt(ab_prev) * x0_hat + math.sqrt(max(1.0 - ab_prev - sigma**2, 0.0)) * eps_hat
    if sigma > 0:
        if noise is None:
            raise ValueError("a DDIM step with eta > 0 needs noise")
        x_prev = x_prev + sigma * noise
    return x_prev, x0_hat


def half_log_snr(schedule: NoiseSchedule, t: int) -> float:
    """lambda_t = log(alpha_t / sigma_t) = log(sqrt(ab_t) / sqrt(1 - ab_t)) (DPM-Solver's time variable)."""
    ab = schedule.alpha_bar_at(t)
    return 0.5 * (math.log(ab) - math.log1p(-ab))


def dpmpp_2m_step(
    schedule: NoiseSchedule,
    x_t: torch.Tensor,
    t: int,
    t_prev: int,
    eps_hat: torch.Tensor,
    previous: tuple[torch.Tensor, float] | None = None,
    clip_x0: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """DPM-Solver++(2M) step x_t -> x_{t_prev}; returns (x_prev, x0_hat, h) for the next step's ``previous``.

    With alpha = sqrt(ab), sigma = sqrt(1 - ab), lambda = log(alpha / sigma), h = lambda_prev - lambda_t:

        D = x0_hat                                          first order (no ``previous``), or
        D = (1 + 1/(2r)) x0_hat - 1/(2r) x0_hat_before,     r = h_before / h            (DPM-Solver++ algorithm 2)
        x_prev = (sigma_prev / sigma_t) x_t - alpha_prev (exp(-h) - 1) D

    ``previous`` is (x0_hat, h) of the step before. The first-order case is
    exactly DDIM (eta 0); into clean data (t_prev = -1) the step returns x0_hat.
    """
    ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
    x0_hat = _clip((x_t - math.sqrt(1.0 - ab_t) * eps_hat) / math.sqrt(ab_t), clip_x0)
    if t_prev < 0:
        return x0_hat, x0_hat, math.inf
    h = half_log_snr(schedule, t_prev) - half_log_snr(schedule, t)
    d = x0_hat
    if previous is not None and math.isfinite(previous[1]):
        x0_before, h_before = previous
        k = h / (2.0 * h_before)  # 1 / (2r)
        d = (1.0 + k) * x0_hat - k * x0_before
    sigma_ratio = math.sqrt((1.0 - ab_prev) / (1.0 - ab_t))
    return sigma_ratio * x_t - math.sqrt(ab_prev) * math.expm1(-h) * d, x0_hat, h


EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def denoise(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_T: torch.Tensor,
    sampler: str = "ddpm",
    steps: int | None = None,
    spacing: str = "trailing",
    eta: float = 0.0,
    variance: str = "beta",
    clip_x0: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[DenoiseStep]:
    """Run the reverse chain from ``x_T``, yielding one :class:`DenoiseStep` per network evaluation.

    ``eps_fn(x_t, t)`` predicts the noise for a batch at timesteps ``t`` (N).
    ``steps`` defaults to T for ``ddpm`` and 50 for ``ddim`` and ``dpm++2m`` (capped at T).
    Noise comes only from ``generator``; stopping the iteration early
    interrupts sampling.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler '{sampler}'; choose one of {', '.join(SAMPLERS)}")
    T = schedule.num_timesteps
    if steps is None or steps == 0:
        steps = T if sampler == "ddpm" else min(50, T)
    timesteps = select_timesteps(T, steps, spacing)
    x = x_T
    n = x.shape[0]
    previous: tuple[torch.Tensor, float] | None = None  # DPM-Solver++(2M): the last step's x0_hat and h
    for i, t in enumerate(timesteps):
        t_prev = timesteps[i + 1] if i + 1 < len(timesteps) else -1
        eps_hat = eps_fn(x, torch.full((n,), t, dtype=torch.long, device=x.device))
        needs_noise = t_prev >= 0 and (sampler == "ddpm" or (sampler == "ddim" and eta > 0))
        noise = randn(x.shape, generator, x.device, x.dtype) if needs_noise else None
        if sampler == "ddpm":
            x, x0_hat = ddpm_step(schedule, x, t, t_prev, eps_hat, noise, variance, clip_x0)
        elif sampler == "dpm++2m":
            x, x0_hat, h = dpmpp_2m_step(schedule, x, t, t_prev, eps_hat, previous, clip_x0)
            previous = (x0_hat, h)
        else:
            x, x0_hat = ddim_step(schedule, x, t, t_prev, eps_hat, eta, noise, clip_x0)
        yield DenoiseStep(t=t, t_prev=t_prev, x_t=x, eps_hat=eps_hat, x0_hat=x0_hat, index=i, num_steps=len(timesteps), nfe=i + 1)


def ddim_invert(
    eps_fn: EpsFn,
    schedule: NoiseSchedule,
    x_0: torch.Tensor,
    steps: int = 50,
    spacing: str = "trailing",
    refine: int = 0,
) -> torch.Tensor:
    """Run deterministic DDIM (eta 0) backwards: clean ``x_0`` -> the x_T that DDIM would map to it.

    The sampler's step t -> t_prev (DDIM eq. 12 with sigma = 0),

        x_prev = sqrt(ab_prev) (x_t - sqrt(1 - ab_t) e) / sqrt(ab_t) + sqrt(1 - ab_prev) e,   e = eps(x_t, t)

    solved for x_t gives

        x_t = sqrt(ab_t / ab_prev) (x_prev - sqrt(1 - ab_prev) e) + sqrt(1 - ab_t) e.

    e depends on the unknown x_t; the usual inversion (Song et al. 2021,
    section 4.3; Dhariwal & Nichol 2021, appendix F) evaluates it at x_prev,
    which is exact only as steps shrink. ``refine`` fixed-point iterations
    re-evaluate e at the current estimate of x_t (one network evaluation
    each); they converge to the sampler's exact x_T at the rate
    (sqrt(1 - ab_t) - sqrt(ab_t / ab_prev) sqrt(1 - ab_prev)) |d eps / d x|,
    fast at low noise and slow near t = T - 1, where x_t is nearly its own
    noise and that rate approaches 1. Walks the same timesteps as :func:`denoise` with ``steps``
    and ``spacing``, in the opposite order, without clipping.
    """
    if refine < 0:
        raise ValueError(f"refine must be 0 or more fixed-point iterations, got {refine}")
    timesteps = select_timesteps(schedule.num_timesteps, steps, spacing)[::-1]  # increasing
    x = x_0
    n = x.shape[0]
    t_prev = -1
    for t in timesteps:
        ab_t, ab_prev = schedule.alpha_bar_at(t), schedule.alpha_bar_at(t_prev)
        t_batch = torch.full((n,), t, dtype=torch.long, device=x.device)

        def solve(e: torch.Tensor) -> torch.Tensor:
            return math.sqrt(ab_t / ab_prev) * (x - math.sqrt(1.0 - ab_prev) * e) + math.sqrt(1.0 - ab_t) * e

        x_t = solve(eps_fn(x, t_batch))
        for _ in range(refine):
            x_t = solve(eps_fn(x_t, t_batch))
        x, t_prev = x_t, t
    return x
