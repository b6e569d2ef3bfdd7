"""The code-prior panel's pictures and numbers, with no Qt (tested headless): a code grid drawn as coloured,
numbered cells, and the usage statistics of code maps."""

from __future__ import annotations

import colorsys

import numpy as np

#: Pixels per code cell in a code-grid picture (the view scales it; the border marks the current cell).
CELL = 10
UNDRAWN = np.array([70, 70, 70], np.uint8)
CURRENT = np.array([250, 80, 60], np.uint8)


def code_colours(num_codes: int) -> np.ndarray:
    """K x 3 uint8: one colour per code, hues spread with the golden ratio so neighbouring codes differ."""
    out = np.zeros((num_codes, 3), np.uint8)
    for k in range(num_codes):
        r, g, b = colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.55 + 0.35 * (k % 3) / 2, 0.95 - 0.25 * (k % 2))
        out[k] = (int(r * 255), int(g * 255), int(b * 255))
    return out


def code_grid_picture(codes: np.ndarray, drawn: np.ndarray, num_codes: int, current: tuple[int, int] | None = None,
                      cell: int = CELL) -> np.ndarray:
    """One code map (h x w ints) as an (h cell) x (w cell) x 3 picture: drawn cells in their code's colour,
    the rest grey, the ``current`` cell outlined."""
    h, w = codes.shape
    colours = code_colours(num_codes)
    pic = np.empty((h * cell, w * cell, 3), np.uint8)
    for i in range(h):
        for j in range(w):
            colour = colours[int(codes[i, j]) % num_codes] if drawn[i, j] else UNDRAWN
            pic[i * cell : (i + 1) * cell, j * cell : (j + 1) * cell] = colour
            pic[i * cell, j * cell : (j + 1) * cell] = 30  # thin grid lines
            pic[i * cell : (i + 1) * cell, j * cell] = 30
    if current is not None:
        i, j = current
        y0, x0 = i * cell, j * cell
        pic[y0 : y0 + cell, x0 : x0 + 2] = CURRENT
        pic[y0 : y0 + cell, x0 + cell - 2 : x0 + cell] = CURRENT
        pic[y0 : y0 + 2, x0 : x0 + cell] = CURRENT
        pic[y0 + cell - 2 : y0 + cell, x0 : x0 + cell] = CURRENT
    return pic


def code_captions(codes: np.ndarray, drawn: np.ndarray, cell: int = CELL, origin: tuple[int, int] = (0, 0)) -> list:
    """ImageView captions (x, y, w, h, text) numbering the drawn cells of one code map placed at ``origin``."""
    x0, y0 = origin
    h, w = codes.shape
    return [(x0 + j * cell + 1, y0 + i * cell + 1, cell - 2, cell - 2, str(int(codes[i, j])))
            for i in range(h) for j in range(w) if drawn[i, j]]


def usage(codes: np.ndarray, num_codes: int) -> np.ndarray:
    """How many cells of the code maps picked each code: K counts."""
    return np.bincount(np.asarray(codes, np.int64).ravel(), minlength=num_codes)[:num_codes]


def perplexity(counts: np.ndarray) -> float:
    """exp(entropy) of the usage: 1 when one code is used, K when all K are used equally."""
    p = counts / max(counts.sum(), 1)
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum())) if len(p) else 0.0


def total_variation(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance between the two usage distributions: 0 when they match, 1 when disjoint."""
    pa, pb = a / max(a.sum(), 1), b / max(b.sum(), 1)
    return float(0.5 * np.abs(pa - pb).sum())
