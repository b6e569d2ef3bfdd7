"""Arrays to Qt images, and example grids for the dataset preview (which examples: ``examples.py``).

Pure numpy except for the final conversion, so the tiling is testable
without a window.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_hwc_uint8(image: np.ndarray) -> np.ndarray:
    """Accept H x W, H x W x C or C x H x W (C in 1, 3, 4), uint8 or float in [0, 1]; return H x W x C uint8."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = (np.clip(a.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    elif a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)
    if a.ndim != 3:
        raise ValueError(f"expected an image array, got shape {a.shape}")
    return np.ascontiguousarray(a)


def qimage_from_array(image: np.ndarray) -> QImage:
    """A deep-copied QImage (the numpy buffer may be freed afterwards)."""
    a = to_hwc_uint8(image)
    h, w, c = a.shape
    if c == 1:
        fmt, a = QImage.Format.Format_Grayscale8, np.ascontiguousarray(a[:, :, 0])
    elif c == 3:
        fmt = QImage.Format.Format_RGB888
    elif c == 4:
        fmt = QImage.Format.Format_RGBA8888
    else:
        raise ValueError(f"cannot show an image with {c} channels")
    return QImage(a.data, w, h, a.strides[0], fmt).copy()


def tile_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1, pad_value: int = 0) -> np.ndarray:
    """N x C x H x W uint8 -> one H' x W' x C uint8 grid with ``pad`` pixels between tiles."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[:, None]
    n, c, h, w = x.shape
    if n == 0:
        return np.zeros((h, w, c), np.uint8)
    ncols = ncols or int(np.ceil(np.sqrt(n)))
    nrows = int(np.ceil(n / ncols))
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + col * (w + pad)
        grid[y0 : y0 + h, x0 : x0 + w] = x[i].transpose(1, 2, 0)
    return grid
