"""Mode coverage on the 8gaussians set, the GAN-collapse measure of the
unrolled-GAN and VEEGAN papers (Metz et al. 2017; Srivastava et al. 2017,
section 5.1).

A sample is "high quality" when it lies within 3 standard deviations of
some mode's centre; a mode is covered when at least 0.8 % of the samples
(VEEGAN's 20 of 2,500) are high-quality samples near it.
"""

from __future__ import annotations

import math

import torch

from genstudio.data.points import EIGHT_GAUSSIANS_RADIUS, EIGHT_GAUSSIANS_SD

MIN_FRACTION = 20 / 2500


def eight_gaussians_centres() -> torch.Tensor:
    """The 8 centres of the 8gaussians set (8 x 2), in data coordinates."""
    angles = torch.arange(8, dtype=torch.float32) * (math.pi / 4)
    return torch.stack([angles.cos(), angles.sin()], 1) * EIGHT_GAUSSIANS_RADIUS


def mode_coverage(
    samples: torch.Tensor,
    centres: torch.Tensor | None = None,
    sd: float = EIGHT_GAUSSIANS_SD,
    k_sd: float = 3.0,
    min_fraction: float = MIN_FRACTION,
) -> tuple[int, float, torch.Tensor]:
    """(modes covered, fraction of high-quality samples, samples per mode) for N x 2 ``samples``."""
    centres = eight_gaussians_centres() if centres is None else centres
    x = samples.detach().float().cpu()
    finite = torch.isfinite(x).all(1)
    x = x[finite]
    if len(x) == 0:
        return 0, 0.0, torch.zeros(len(centres), dtype=torch.long)
    d = torch.cdist(x, centres.float())
    nearest = d.argmin(1)
    good = d.gather(1, nearest[:, None]).squeeze(1) <= k_sd * sd
    per_mode = torch.bincount(nearest[good], minlength=len(centres))
    need = max(1, math.ceil(min_fraction * len(samples)))
    return int((per_mode >= need).sum()), float(good.float().sum() / len(samples)), per_mode
