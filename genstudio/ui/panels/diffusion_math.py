"""The diffusion panel's arithmetic, kept free of Qt so it is tested headless.

Schedule curves and the forward-process readout (Ho et al. 2020, DDPM eq. 4:
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps), the plot ranges of
2-D chains, the arrows of the learned field -eps_hat(x, t), the trajectories'
polylines, and the stationary distribution of the Markov-chain view.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def schedule_curves(schedule: Any) -> list[tuple[str, np.ndarray]]:
    """(title, values over t) for the schedule plots: beta, alpha-bar and log SNR, or sigma and log SNR for score models."""
    snr = np.asarray(schedule.snr, dtype=np.float64)
    log_snr = np.log(np.clip(snr, 1e-30, None))
    if hasattr(schedule, "alpha_bar"):
        return [("beta_t", np.asarray(schedule.betas, np.float64)), ("alpha-bar_t", np.asarray(schedule.alpha_bar, np.float64)), ("log SNR_t", log_snr)]
    return [("sigma_t", np.asarray(schedule.sigmas, np.float64)), ("log SNR_t = -2 log sigma_t", log_snr)]


def forward_readout(schedule: Any, t: int) -> str:
    """One line of the forward-process quantities at ``t``."""
    snr = float(schedule.snr[t])
    parts = [f"t = {t}"]
    if hasattr(schedule, "alpha_bar"):
        ab = float(schedule.alpha_bar[t])
        parts += [f"alpha-bar = {ab:.4g}", f"sqrt(alpha-bar) = {math.sqrt(ab):.3f}", f"sqrt(1 - alpha-bar) = {math.sqrt(1 - ab):.3f}"]
    else:
        parts.append(f"sigma = {float(schedule.sigmas[t]):.4g}")
    parts += [f"SNR = {snr:.4g}", f"log SNR = {math.log(max(snr, 1e-30)):.2f}"]
    return "  ·  ".join(parts)


def view_range(extent: tuple[float, float, float, float] | None, points: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges covering the data's extent and the bulk (2nd to 98th percentile) of ``points``.

    A model that is still learning puts samples far off the data; they stay
    in view, with the data's box for scale.
    """
    finite = points[np.isfinite(points).all(1)] if len(points) else points
    boxes = []
    if extent is not None:
        boxes.append((extent[0], extent[1], extent[2], extent[3]))
    if len(finite):
        lo, hi = np.percentile(finite, [2, 98], axis=0)
        boxes.append((float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])))
    if not boxes:
        return (-1.0, 1.0), (-1.0, 1.0)
    b = np.array(boxes)
    return (float(b[:, 0].min()), float(b[:, 1].max())), (float(b[:, 2].min()), float(b[:, 3].max()))


def arrow_segments(points: np.ndarray, vectors: np.ndarray, cell_fraction: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (for ``connect='pairs'``) drawing an arrow per point; the longest arrow spans ``cell_fraction`` of a lattice cell.

    Lengths are scaled together, so the field's relative strength shows.
    """
    side = int(round(math.sqrt(len(points))))
    span = max(points[:, 0].max() - points[:, 0].min(), points[:, 1].max() - points[:, 1].min())
    cell = span / max(side - 1, 1)
    norms = np.linalg.norm(vectors, axis=1)
    scale = cell_fraction * cell / max(float(np.nanmax(norms)), 1e-12)
    v = vectors * scale
    tips = points + v
    # Two barbs, each a quarter of the arrow's length, at +-150 degrees from its direction.
    c, s = math.cos(math.radians(150)), math.sin(math.radians(150))
    left = tips + 0.3 * np.stack([c * v[:, 0] - s * v[:, 1], s * v[:, 0] + c * v[:, 1]], 1)
    right = tips + 0.3 * np.stack([c * v[:, 0] + s * v[:, 1], -s * v[:, 0] + c * v[:, 1]], 1)
    segs = np.stack([points, tips, tips, left, tips, right], 1).reshape(-1, 2)
    return segs[:, 0], segs[:, 1]


def trajectory_polylines(path: np.ndarray) -> np.ndarray:
    """frames x k x 2 positions -> one polyline per particle, separated by a NaN row (for ``connect='finite'``)."""
    k = path.shape[1]
    breaks = np.full((k, 1, 2), np.nan, np.float32)
    return np.concatenate([path.transpose(1, 0, 2), breaks], 1).reshape(-1, 2)


def stationary_distribution(P: np.ndarray) -> np.ndarray | None:
    """pi with pi P = pi, sum 1 (left eigenvector for eigenvalue 1); None when it is not unique."""
    vals, vecs = np.linalg.eig(P.T)
    ones = np.flatnonzero(np.abs(vals - 1) < 1e-8)
    if len(ones) != 1:
        return None
    v = np.real(vecs[:, ones[0]])
    v = v / v.sum()
    return v if (v >= -1e-12).all() else None
