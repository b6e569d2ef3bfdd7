"""The autoregressive panel's arithmetic, kept free of Qt so it is tested headless: the speed slider's
log scale, and where each example and pixel sits in a tiled grid of samples (:func:`..images.tile_grid`)."""

from __future__ import annotations

import math

#: The slider's speeds, steps per second; the last position means as fast as the model goes.
SPEED_STEPS = 40
MIN_SPEED, MAX_SPEED = 1.0, 2000.0


def speed_of(slider_value: int) -> float | None:
    """Steps per second for a slider position (log scale), None for the last (as fast as possible)."""
    if slider_value >= SPEED_STEPS:
        return None
    f = slider_value / (SPEED_STEPS - 1)
    return MIN_SPEED * (MAX_SPEED / MIN_SPEED) ** f


def grid_cell(x: float, y: float, n: int, ncols: int, h: int, w: int, pad: int = 1) -> tuple[int, int, int] | None:
    """(example, row, column) under image coordinates (x, y) of a :func:`tile_grid` picture, or None on padding."""
    if x < 0 or y < 0:
        return None
    col, jx = divmod(int(x) - pad, w + pad)
    row, iy = divmod(int(y) - pad, h + pad)
    if jx < 0 or iy < 0 or jx >= w or iy >= h or col >= ncols:
        return None
    k = row * ncols + col
    return (k, iy, jx) if 0 <= k < n else None


def cell_origin(k: int, ncols: int, h: int, w: int, pad: int = 1) -> tuple[int, int]:
    """Top-left image pixel (x, y) of example ``k`` in a :func:`tile_grid` picture."""
    r, c = divmod(k, ncols)
    return pad + c * (w + pad), pad + r * (h + pad)


def sample_columns(n: int) -> int:
    """Columns of the sample grid: wider than tall, as the view is (10 samples: 5 x 2)."""
    rows = max(1, round(math.sqrt(n / 1.6)))
    return max(1, math.ceil(n / rows))


def fit_columns(n: int, cell_w: int, cell_h: int, area_w: float, area_h: float, pad: int = 1) -> int:
    """Columns of an ``n``-image grid (``pad`` pixels between and around cells) that draw the cells largest in an
    ``area_w`` x ``area_h`` view; :func:`sample_columns` when the view has no size yet. Fewer columns on a tie."""
    if area_w <= 0 or area_h <= 0:
        return sample_columns(n)
    best, best_scale = 1, -1.0
    for cols in range(1, max(1, n) + 1):
        rows = math.ceil(n / cols)
        scale = min(area_w / (cols * (cell_w + pad) + pad), area_h / (rows * (cell_h + pad) + pad))
        if scale > best_scale + 1e-9:
            best, best_scale = cols, scale
    return best


def describe_positions(positions: list, audio: bool, colours: int) -> str:
    """What a step draws, for the progress line: "pixel (3, 5) RGB", "row 4" or "t = 128..135"."""
    if not positions:
        return "—"
    if audio:
        ts = [p[2] for p in positions]
        return f"t = {ts[0]}" if len(ts) == 1 else f"t = {ts[0]}..{ts[-1]}"
    first = positions[0]
    if len(positions) > colours:
        return f"row {first[1]}"
    chans = "".join("RGB"[c] for c, _, _ in positions) if colours == 3 else ""
    return f"pixel ({first[1]}, {first[2]})" + (f" {chans}" if chans else "")
