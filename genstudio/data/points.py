"""Synthetic 2-D point sets and a 1-D waveform set, all drawn from ``options.seed``.

The 2-D sets follow the FFJORD toy recipes (Grathwohl et al. 2019,
``lib/toy_data.py``) so that a density model's NLL can be placed beside the
set's differential entropy, the best NLL any model can reach
(:data:`DIFFERENTIAL_ENTROPY`).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from genstudio.core.data_types import DataInfo
from genstudio.data.dataset import DataError, DataOptions, Dataset

# Differential entropy in nats of the sets whose density is known in closed form.
# - 8gaussians: an equal mixture of 8 isotropic Gaussians, sd 0.5/1.414, centres
#   at radius 4/1.414. ln 8 + ln(2 pi e sd^2) = 2.838 would hold for disjoint
#   components; the slight overlap lowers it. Computed once by quadrature of
#   -p log p on a 0.004 grid over [-5, 5]^2 (2.8319) and checked by Monte Carlo
#   of -log p over 2M samples (2.8309 +- 0.0008); tests/data re-checks it.
# - checkerboard: uniform on 8 squares of side 2 (area 32), so ln 32.
DIFFERENTIAL_ENTROPY: dict[str, float] = {
    "8gaussians": 2.832,
    "checkerboard": math.log(32),
}

_SQRT2_FFJORD = 1.414  # FFJORD divides by 1.414, not sqrt(2); the entropy above depends on it
EIGHT_GAUSSIANS_SD = 0.5 / _SQRT2_FFJORD
EIGHT_GAUSSIANS_RADIUS = 4.0 / _SQRT2_FFJORD

WAVE_SAMPLE_RATE = 8000
WAVE_LENGTH = 2048  # 0.256 s: longer than a small WaveNet's receptive field, short enough for CPU
WAVE_CLIPS = 1000
WAVE_KINDS = ("sine", "square", "saw")


def extent(points: torch.Tensor, margin: float = 0.05) -> tuple[float, float, float, float]:
    """Bounding box (xmin, xmax, ymin, ymax) of N x 2 points, widened by ``margin`` of each span.

    The margin keeps the outermost points off the edge of density heatmaps.
    A zero span (all points on a line) still gets a unit margin.
    """
    lo = points.min(0).values.tolist()
    hi = points.max(0).values.tolist()
    box: list[float] = []
    for a, b in zip(lo, hi):
        pad = (b - a) * margin if b > a else 1.0
        box += [a - pad, b + pad]
    return (box[0], box[1], box[2], box[3])


def points_dataset(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor | None,
    name: str,
    class_names: tuple[str, ...] = (),
) -> Dataset:
    """Wrap N x 2 coordinates (float32) and optional labels in a Dataset with its extent."""
    wide = np.asarray(x, dtype=np.float64)
    if wide.ndim != 2 or wide.shape[1] != 2:
        raise DataError(f"points must be an N x 2 array; got shape {wide.shape}")
    # Checked before the cast: 1e39 would become inf in float32 (and NaN must never reach training).
    if not np.isfinite(wide).all() or (np.abs(wide) > np.finfo(np.float32).max).any():
        raise DataError(f"points of '{name}' contain NaN, infinite or beyond-float32 values")
    xt = torch.from_numpy(wide.astype(np.float32))
    yt = torch.full((len(xt),), -1, dtype=torch.int64) if y is None else torch.as_tensor(np.asarray(y, dtype=np.int64))
    labelled = len(yt) > 0 and bool((yt >= 0).all())
    info = DataInfo(
        kind="points",
        shape=(2,),
        num_classes=max(len(class_names), int(yt.max()) + 1) if labelled else 0,
        name=name,
        class_names=tuple(class_names) if labelled else (),
        extent=extent(xt) if len(xt) else None,
    )
    return Dataset(xt, yt, info)


def eight_gaussians_log_prob(x: torch.Tensor) -> torch.Tensor:
    """Exact log density of the 8gaussians set at N x 2 points (for entropy and model checks)."""
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    centres = torch.stack([angles.cos(), angles.sin()], 1) * EIGHT_GAUSSIANS_RADIUS
    var = EIGHT_GAUSSIANS_SD**2
    d2 = ((x.double()[:, None, :] - centres[None]) ** 2).sum(-1)
    log_comp = -d2 / (2 * var) - math.log(2 * math.pi * var)
    return (torch.logsumexp(log_comp, dim=1) - math.log(8)).to(x.dtype)


def moons(options: DataOptions) -> Dataset:
    """scikit-learn's two interleaving half circles; the label says which moon."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=options.n_points, noise=options.noise, random_state=options.seed)
    return points_dataset(x, y, "moons", ("upper", "lower"))


def circles(options: DataOptions) -> Dataset:
    """scikit-learn's two concentric circles (inner radius half the outer); the label says which."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=options.n_points, noise=options.noise, factor=0.5, random_state=options.seed)
    return points_dataset(x, y, "circles", ("outer", "inner"))


def eight_gaussians(options: DataOptions) -> Dataset:
    """FFJORD's 8 Gaussians: centres 4 (cos k pi/4, sin k pi/4), sd 0.5, all / 1.414; label k.

    ``options.noise`` is ignored: the recipe's fixed sd is what the entropy in
    :data:`DIFFERENTIAL_ENTROPY` is computed for.
    """
    rng = np.random.default_rng(options.seed)
    k = rng.integers(0, 8, options.n_points)
    angles = k * (np.pi / 4)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
    x = (centres + 0.5 * rng.standard_normal((options.n_points, 2))) / _SQRT2_FFJORD
    return points_dataset(x, k, "8gaussians", tuple(f"{45 * i} deg" for i in range(8)))


def checkerboard(options: DataOptions) -> Dataset:
    """FFJORD's checkerboard: uniform on the 8 dark squares of a 4 x 4 board spanning [-4, 4]^2.

    ``options.noise`` is ignored (the density must stay uniform for ln 32 to hold).
    """
    rng = np.random.default_rng(options.seed)
    n = options.n_points
    x1 = rng.random(n) * 4 - 2
    # Pick one of the two unit cells in x1's column, then shift by the column's
    # parity: this is what makes the squares alternate.
    x2 = rng.random(n) - rng.integers(0, 2, n) * 2 + np.floor(x1) % 2
    return points_dataset(np.stack([x1, x2], 1) * 2, None, "checkerboard")


def swissroll(options: DataOptions) -> Dataset:
    """FFJORD's swiss roll: scikit-learn's 3-D roll seen from above, (x, z) / 5.

    ``options.noise`` is the noise sd in the output's units (FFJORD used 0.2),
    so it is passed to scikit-learn times 5.
    """
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(n_samples=options.n_points, noise=options.noise * 5, random_state=options.seed)
    return points_dataset(x[:, [0, 2]] / 5.0, None, "swissroll")


def _band_limited(kind: int, phase: np.ndarray, freq: np.ndarray, sample_rate: int) -> np.ndarray:
    """One tone of the given kind from its phase (radians), summing only harmonics below Nyquist.

    A naive square or saw (sign or frac of the phase) aliases at 8 kHz;
    additive synthesis keeps the clips clean. Harmonics are capped at 15:
    beyond that the amplitudes (1/k) add little and the cost grows.
    sin(k phase) comes from the recurrence sin(k t) = 2 cos(t) sin((k-1) t) - sin((k-2) t),
    a multiply-add per harmonic instead of a sine, which is most of the cost.
    """
    s1 = np.sin(phase)
    if kind == 0:
        return s1
    out = np.zeros_like(phase)
    two_cos = 2.0 * np.cos(phase)
    prev, cur = np.zeros_like(phase), s1  # sin(0 t), sin(1 t)
    nyquist = sample_rate / 2
    for k in range(1, 16):
        if k > 1:
            prev, cur = cur, two_cos * cur - prev
        if kind == 1 and k % 2 == 0:
            continue  # a square wave has odd harmonics only
        below = (k * freq < nyquist).astype(phase.dtype)  # per tone: drop harmonics that would alias
        sign = 1.0 if kind == 1 or k % 2 == 1 else -1.0
        out += (below * (sign / k)) * cur
    return out * (4 / np.pi if kind == 1 else 2 / np.pi)


def waveforms(options: DataOptions) -> Dataset:
    """1,000 clips of 2,048 samples at 8 kHz: chords of 1 to 3 tones of one timbre.

    Each clip mixes 1-3 tones of a single kind (sine, square or saw, which is
    the label, so a conditional WaveNet has something to condition on) at
    frequencies log-uniform in 110-880 Hz with random phases and amplitudes,
    scaled to a random peak in [0.3, 0.9]. Stored as float32 N x 1 x L in [-1, 1].
    """
    rng = np.random.default_rng(options.seed)
    n, length, sr = WAVE_CLIPS, WAVE_LENGTH, WAVE_SAMPLE_RATE
    kinds = rng.integers(0, len(WAVE_KINDS), n)
    t = np.arange(length) / sr
    x = np.zeros((n, length))
    n_tones = rng.integers(1, 4, n)
    for j in range(3):
        freq = np.exp(rng.uniform(np.log(110), np.log(880), n))[:, None]
        phase = 2 * np.pi * freq * t[None, :] + rng.uniform(0, 2 * np.pi, (n, 1))
        amp = rng.uniform(0.3, 1.0, (n, 1)) * (j < n_tones)[:, None]
        for kind in range(len(WAVE_KINDS)):
            rows = kinds == kind
            x[rows] += amp[rows] * _band_limited(kind, phase[rows], freq[rows], sr)
    peak = np.abs(x).max(1, keepdims=True)
    x = x / np.maximum(peak, 1e-8) * rng.uniform(0.3, 0.9, (n, 1))
    info = DataInfo(
        kind="audio",
        shape=(1, length),
        num_classes=len(WAVE_KINDS),
        name="waveforms",
        class_names=WAVE_KINDS,
        sample_rate=sr,
    )
    xt = torch.from_numpy(x.astype(np.float32)).unsqueeze(1)
    return Dataset(xt, torch.from_numpy(kinds.astype(np.int64)), info)
