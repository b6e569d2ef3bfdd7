"""What a set of samples must satisfy beyond shape and range: shared by the model tests."""

from __future__ import annotations

import torch

#: The value range of samples per data kind (points have none).
SAMPLE_RANGE = {"image": (0.0, 1.0), "audio": (-1.0, 1.0)}


def sample_faults(a: torch.Tensor, other_seed: torch.Tensor, kind: str) -> list[str]:
    """What is wrong with samples ``a`` (n >= 2, one generator seed) and ``other_seed`` (another seed); [] when nothing.

    In range and finite is not enough: a clamp makes any output pass that. The samples must also
    vary, differ from each other, follow the generator, and not sit at one end of the range. The
    floors are far below what every untrained model gives (smallest measured: std 4e-4, nearest
    pair 2e-3 apart, 1e-3 between seeds, mean 0.32-0.58 on images).
    """
    faults = []
    if not torch.isfinite(a).all():
        return ["samples are not finite"]
    if kind in SAMPLE_RANGE:
        lo, hi = SAMPLE_RANGE[kind]
        if a.min() < lo or a.max() > hi:
            faults.append(f"samples span [{float(a.min()):.3g}, {float(a.max()):.3g}], outside [{lo}, {hi}]")
        mean = float(a.mean())
        if min(mean - lo, hi - mean) < 0.02 * (hi - lo):
            faults.append(f"samples sit at one end of the range (mean {mean:.3g})")
    if float(a.std()) < 1e-5:
        faults.append(f"samples are constant (std {float(a.std()):.2g})")
    if float(torch.pdist(a.flatten(1).double()).min()) < 1e-5:
        faults.append("two samples of one batch are identical")
    if float((a - other_seed).abs().max()) < 1e-5:
        faults.append("another generator seed gives the same samples")
    return faults
