"""The variational bound on -log p(x_0) of a DDPM (Ho, Jain & Abbeel 2020, eq. 5), in nats per example.

    L = KL(q(x_T | x_0) || p(x_T))                                  prior term L_T
      + sum_{t=2..T} KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))   denoising terms
      - log p(x_0 | x_1)                                             decoder term L_0

Every KL is between Gaussians and has a closed form. The reverse process has
fixed variances: beta_t ("beta", DDPM's sigma_t^2 = beta_t) or the posterior
variance beta~_t ("posterior"); at the first step, where beta~ is 0, both use
beta~ of the second step, as Nichol & Dhariwal's reference code does. For
8-bit images the decoder is the discretised Gaussian of DDPM eq. 13 (one bin
of width 2/255 per pixel value in [-1, 1]), so the bound is on the discrete
data's negative log-likelihood and converts to bits/dim directly. For
continuous data (2-D points) the decoder is a Gaussian density.

Here timesteps are indexed 0..T-1 (the paper's 1..T): index 0 is the decoder
step. Summing T - 1 KL terms costs T - 1 network passes per example, so
:func:`bound_terms` estimates the sum by stratified Monte Carlo: 1..T-1 is cut
into ``k`` strata of geometrically growing width, one timestep is drawn
uniformly in each and its KL weighted by the stratum's width. Unbiased, and
exact when k >= T - 1. The strata are geometric because the KL mass sits at
the smallest timesteps: on a DDPM trained on digits, t = 1 alone held a sixth
of the sum and t < 10 half of it, so uniform strata of width (T - 1) / k
gave estimates that varied by a factor of 3 between seeds.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .schedule import NoiseSchedule

#: x_0 estimate at (x_t, t), model space; the bound's network.
X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

VARIANCES = ("beta", "posterior")


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) per element, in nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1.0)


def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """log P(x) per element for data on ``bins`` levels in [-1, 1] under N(mean, e^(2 log_scale)) cut into bins (DDPM eq. 13).

    The two outermost bins extend to -inf and +inf, so the probabilities sum to 1.
    """
    half = 1.0 / (bins - 1)
    inv = torch.exp(-log_scale)
    cdf_plus = _std_normal_cdf(inv * (x - mean + half))
    cdf_minus = _std_normal_cdf(inv * (x - mean - half))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_minus = torch.log((1.0 - cdf_minus).clamp(min=1e-12))
    log_delta = torch.log((cdf_plus - cdf_minus).clamp(min=1e-12))
    return torch.where(x < -1 + half, log_cdf_plus, torch.where(x > 1 - half, log_one_minus_cdf_minus, log_delta))


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, e^logvar) per element, in nats."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def reverse_logvar(schedule: NoiseSchedule, t: torch.Tensor, like: torch.Tensor, variance: str) -> torch.Tensor:
    """log sigma_t^2 of p(x_{t-1} | x_t): beta_t or beta~_t, with beta~ of step 1 at step 0 (where beta~_0 = 0)."""
    if variance not in VARIANCES:
        raise ValueError(f"unknown variance '{variance}'; choose one of {', '.join(VARIANCES)}")
    first = schedule.posterior_variance[1] if schedule.num_timesteps > 1 else schedule.betas[0]
    table = schedule.betas if variance == "beta" else schedule.posterior_variance
    table = torch.cat([first.view(1), table[1:]]).to(like.device, like.dtype)
    return torch.log(table[t.to(like.device).long()]).view(-1, *([1] * (like.ndim - 1)))


def prior_kl(schedule: NoiseSchedule, x0: torch.Tensor) -> torch.Tensor:
    """L_T = KL(q(x_T | x_0) || N(0, I)) per example (close to 0 for a good schedule)."""
    t = torch.full((x0.shape[0],), schedule.num_timesteps - 1, dtype=torch.long, device=x0.device)
    mean, std = schedule.q_mean_std(x0, t)
    return normal_kl(mean, 2 * torch.log(std), torch.zeros_like(mean), torch.zeros_like(mean)).flatten(1).sum(1)


def _reverse_mean(schedule: NoiseSchedule, x0_fn: X0Fn, x_t: torch.Tensor, t: torch.Tensor, clip: float | None) -> torch.Tensor:
    x0_hat = x0_fn(x_t, t)
    if clip is not None:
        x0_hat = x0_hat.clamp(-clip, clip)
    return schedule.posterior_mean_variance(x0_hat, x_t, t)[0]  # DDPM eq. 7 with x_0 predicted


def bound_terms(
    x0_fn: X0Fn,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    variance: str = "beta",
    discrete: bool = True,
    clip: float | None = 1.0,
) -> dict[str, torch.Tensor]:
    """The three parts of the bound per example (nats, model space): ``prior``, ``denoising`` (estimated), ``decoder``.

    ``x0`` is in model space ([-1, 1] for images); ``discrete`` selects the
    8-bit decoder of eq. 13 (images) or a Gaussian density (continuous data).
    """
    n, dev, T = x0.shape[0], x0.device, schedule.num_timesteps
    if k < 1:
        raise ValueError(f"need at least one timestep per example, got {k}")

    def noise() -> torch.Tensor:
        return torch.randn(x0.shape, generator=generator, device="cpu").to(dev, x0.dtype)

    # Decoder term L_0 = -log p(x_0 | x_1), exact (one network pass).
    t0 = torch.zeros(n, dtype=torch.long, device=dev)
    x1 = schedule.q_sample(x0, t0, noise())
    mean0 = _reverse_mean(schedule, x0_fn, x1, t0, clip if discrete else None)
    logvar0 = reverse_logvar(schedule, t0, x0, variance)
    if discrete:
        decoder = -discretized_gaussian_log_likelihood(x0, mean0, 0.5 * logvar0)
    else:
        decoder = -gaussian_log_density(x0, mean0, logvar0)
    out = {"prior": prior_kl(schedule, x0), "decoder": decoder.flatten(1).sum(1), "denoising": torch.zeros(n, device=dev, dtype=x0.dtype)}
    if T < 2:
        return out
    # Denoising terms: one timestep per stratum of 1..T-1, its KL weighted by the stratum's width.
    edges = timestep_strata(T, k)
    widths = (edges[1:] - edges[:-1]).to(dev, x0.dtype)
    u = torch.rand((n, len(widths)), generator=generator).to(dev)
    ts = (edges[:-1].to(dev) + (u * widths).floor().long()).clamp(1, T - 1)
    total = torch.zeros(n, device=dev, dtype=x0.dtype)
    for j in range(len(widths)):
        t = ts[:, j]
        x_t = schedule.q_sample(x0, t, noise())
        q_mean, q_var = schedule.posterior_mean_variance(x0, x_t, t)
        p_mean = _reverse_mean(schedule, x0_fn, x_t, t, clip if discrete else None)
        kl = normal_kl(q_mean, torch.log(q_var).expand_as(q_mean), p_mean, reverse_logvar(schedule, t, x0, variance).expand_as(p_mean))
        total = total + widths[j] * kl.flatten(1).sum(1)
    out["denoising"] = total
    return out


def timestep_strata(T: int, k: int) -> torch.Tensor:
    """Edges 1 = e_0 < e_1 < ... < e_m = T of at most ``k`` strata of 1..T-1, widths growing geometrically (all 1 when k >= T - 1)."""
    if k >= T - 1:
        return torch.arange(1, T + 1)
    edges = torch.unique(torch.round(torch.logspace(0, math.log10(T), k + 1, dtype=torch.float64)).long())
    edges[0], edges[-1] = 1, T
    return edges
