"""Two diffusion experiments run off the UI thread, with no Qt: the classifier-free guidance sweep (every
class at several guidance scales from the same noise, Ho & Salimans 2022) and NFE versus quality
(deterministic DDIM from one x_T at several step counts, scored against the data)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .diffusion_frames import ChainInterrupted, images_grid


# -- guidance sweep ---------------------------------------------------------------------------


def parse_scales(text: str) -> list[float]:
    """'0, 1, 2.5, 4' -> [0.0, 1.0, 2.5, 4.0]; a clear ValueError for anything else."""
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if not parts:
        raise ValueError("enter at least one guidance scale, for example: 0, 1, 3, 7")
    scales = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ValueError(f"'{p}' is not a number; enter scales separated by commas, for example: 0, 1, 3, 7") from None
        if v < 0 or not math.isfinite(v):
            raise ValueError(f"guidance scales must be 0 or more, got {p}")
        scales.append(v)
    return scales


@dataclass
class GuidanceSweep:
    """Samples for every (scale, class) from one seed: row ``i`` of ``images`` (or ``points[i]``) used ``scales[i]``."""

    scales: list[float]
    labels: np.ndarray  # the label of each sample in a row
    images: np.ndarray | None = None  # one uint8 grid: a row of samples per scale
    points: list[np.ndarray] | None = None
    tile: tuple[int, int] = (0, 0)  # (height, width) of one row of the grid, gaps included


def guidance_sweep(model: Any, scales: list[float], per_class: int, seed: int, options: dict[str, Any] | None = None) -> GuidanceSweep:
    """Sample every class at every guidance scale from the same noise (the generator is reseeded per scale)."""
    labels = torch.arange(model.num_classes).repeat_interleave(per_class)
    rows = []
    for s in scales:
        g = torch.Generator().manual_seed(seed)
        rows.append(model.sample_conditional(labels.to(model.device), g, guidance_scale=s, **(options or {})).cpu())
    if model.data_info.kind == "image":
        grid = images_grid(torch.cat(rows), ncols=len(labels))
        return GuidanceSweep(scales, labels.numpy(), images=grid, tile=(grid.shape[0] // len(scales), grid.shape[1]))
    return GuidanceSweep(scales, labels.numpy(), points=[r.float().numpy() for r in rows])


# -- NFE versus quality -----------------------------------------------------------------------


@dataclass
class NFECurve:
    """Deterministic DDIM from one x_T at several step counts: quality against network evaluations."""

    steps: list[int]
    nfe: list[int]
    mmd2: list[float]  # MMD^2 to the data (pixel space for images)
    rms_to_finest: list[float]  # RMS distance to the run with the most steps (the ODE solution it converges to)
    samples: list[np.ndarray]  # data-space samples of each run


def nfe_versus_quality(
    model: Any,
    reference: torch.Tensor,
    step_counts: list[int],
    n: int,
    seed: int,
    should_stop: Callable[[], bool] | None = None,
) -> NFECurve:
    """Sample DDIM (eta 0) from the same x_T with each of ``step_counts`` and score each run.

    With eta 0 every run integrates the same probability-flow ODE from the
    same start, so the distance to the finest run isolates the error of
    taking fewer, larger steps (DDIM paper, section 5.1 and table 1), and
    MMD^2 to held data (:func:`genstudio.metrics.mmd.mmd2_unbiased`) says
    how far the samples are from the data.
    """
    from genstudio.metrics.mmd import mmd2_unbiased

    counts = sorted({int(s) for s in step_counts})
    if not counts:
        raise ValueError("give at least one step count")
    T = model.schedule.num_timesteps
    if counts[0] < 1 or counts[-1] > T:
        raise ValueError(f"step counts must be between 1 and the model's {T} diffusion steps")
    x_T = model.initial_noise(n, torch.Generator().manual_seed(seed))
    outs, nfes = [], []
    for s in counts:
        last = None
        # The seeded generator only matters to models that draw noise even at eta 0 (the cascade's augmentation).
        for last in model.denoise_steps(n, torch.Generator().manual_seed(seed + 1), sampler="ddim", steps=s, eta=0.0, x_T=x_T):
            if should_stop is not None and should_stop():
                raise ChainInterrupted("stopped")
        x = last.x_t.detach().float().cpu()
        outs.append(x.clamp(0, 1) if model.data_info.kind == "image" else x)
        nfes.append(int(last.nfe))
    ref = reference.float().cpu()
    finest = outs[-1]
    return NFECurve(
        steps=counts,
        nfe=nfes,
        mmd2=[mmd2_unbiased(x.reshape(len(x), -1), ref.reshape(len(ref), -1)) for x in outs],
        rms_to_finest=[float(((x - finest) ** 2).mean().sqrt()) for x in outs],
        samples=[x.numpy() for x in outs],
    )
