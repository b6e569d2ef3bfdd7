"""The flow panel's drawing arithmetic, kept free of Qt so it is tested headless: the square region of the
plane shown, polylines as one plot item, a robust zoom on the bulk of the points, and the timing text."""

from __future__ import annotations

import numpy as np


def view_extent(points: np.ndarray, extent: tuple[float, ...] | None, margin: float = 0.2) -> tuple[float, float, float, float]:
    """The square region of the plane shown: the data's box widened by ``margin``, its short side grown to the long one.

    Square, because the plots keep the aspect ratio (a warp must not look stretched) and a square
    map then fills its plot instead of leaving bands with no density drawn.
    """
    if extent is not None:
        x0, x1, y0, y1 = (float(v) for v in extent)
    elif len(points):
        (x0, y0), (x1, y1) = points.min(0), points.max(0)
    else:
        x0, x1, y0, y1 = -1.0, 1.0, -1.0, 1.0
    side = (1 + 2 * margin) * max(x1 - x0, y1 - y0, 1e-3)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return (float(cx - side / 2), float(cx + side / 2), float(cy - side / 2), float(cy + side / 2))


def polyline_arrays(lines: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L x P x 2 polylines -> x, y and a ``connect`` array that breaks between lines (one plot item for all)."""
    n_lines, n_points, _ = lines.shape
    connect = np.ones((n_lines, n_points), dtype=np.int32)
    connect[:, -1] = 0
    flat = lines.reshape(-1, 2)
    return flat[:, 0], flat[:, 1], connect.reshape(-1)


def robust_range(points: np.ndarray, margin: float = 0.25) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y ranges around the bulk of ``points`` (1st to 99th percentile), so stray grid lines do not zoom out."""
    pts = points[np.isfinite(points).all(1)]
    if not len(pts):
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = np.percentile(pts, [1, 99], axis=0)
    span = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - margin * span, hi + margin * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def fmt_time(seconds: float, n: int, what: str) -> str:
    """"density of grid points 40,000: 12.3 ms (0.3 µs each)"."""
    per = seconds / max(n, 1) * 1e6
    return f"{what} {n:,}: {seconds * 1000:.1f} ms ({per:.1f} µs each)"
