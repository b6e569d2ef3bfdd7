"""The latent explorer's arithmetic, kept free of Qt so it is tested headless.

- Projections of encoded data to 2-D (the latent itself when it has at most
  two dimensions, PCA, or t-SNE of van der Maaten & Hinton 2008) and the way
  back from a clicked 2-D spot to a latent: exact for the identity, the
  PCA plane's point for PCA (z = mean + p W^T), and for t-SNE, which has no
  inverse, an inverse-distance weighted mean of the latents of the nearest
  embedded examples.
- Interpolation, linear or spherical. Slerp (Shoemake 1985, proposed for
  generative models by White, "Sampling Generative Networks", 2016) keeps
  the norm of Gaussian latents typical, where the linear midpoint of two
  high-dimensional N(0, I) draws has a norm sqrt(2) too small:

      slerp(a, b; t) = sin((1 - t) theta) / sin(theta) a + sin(t theta) / sin(theta) b,
      cos(theta) = a.b / (|a| |b|)

- Ranking of latent dimensions (by KL to the prior when the model reports
  it, else by the spread of the encodings) and the latent batches behind the
  manifold grid and the traversal rows.
- Where the class names go on the map, pushed apart so none hides another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROJECTIONS = ("auto", "pca", "tsne")


@dataclass
class Projection:
    """A fitted map from latents (N x d) to the plane, with the way back."""

    kind: str  # identity, pca or tsne
    coords: np.ndarray  # N x 2, the projected latents
    latents: np.ndarray  # N x d, what was projected
    mean: np.ndarray | None = None  # PCA
    components: np.ndarray | None = None  # PCA: 2 x d

    def to_latent(self, point: tuple[float, float], k: int = 5) -> np.ndarray:
        """A latent (d,) for a spot of the plane."""
        p = np.asarray(point, dtype=np.float64)
        d = self.latents.shape[1]
        if self.kind == "identity":
            return p[:d].astype(np.float32)
        if self.kind == "pca":
            return (self.mean + p @ self.components).astype(np.float32)
        # t-SNE: inverse-distance weights over the k nearest embedded examples.
        dist = np.linalg.norm(self.coords - p, axis=1)
        near = np.argsort(dist)[:k]
        w = 1.0 / np.maximum(dist[near], 1e-6)
        return (w @ self.latents[near] / w.sum()).astype(np.float32)


def project(latents: np.ndarray, method: str = "auto", seed: int = 0) -> Projection:
    """Project N x d latents to 2-D; ``auto`` is the identity for d <= 2, else PCA."""
    z = np.asarray(latents, dtype=np.float64)
    if z.ndim != 2 or len(z) == 0:
        raise ValueError(f"expected an N x d array of latents, got shape {z.shape}")
    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection '{method}'; choose from {', '.join(PROJECTIONS)}")
    n, d = z.shape
    if d <= 2 and method == "auto" or d == 1:
        coords = z if d == 2 else np.concatenate([z, np.zeros((n, 1))], 1)
        return Projection("identity", coords.astype(np.float32), z.astype(np.float32))
    if method in ("auto", "pca") or n < 5:
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(z)
        return Projection("pca", pca.transform(z).astype(np.float32), z.astype(np.float32), pca.mean_, pca.components_)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(2.0, (n - 1) / 3)))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(z)
    return Projection("tsne", coords.astype(np.float32), z.astype(np.float32))


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation between two vectors; linear when they are (anti)parallel or zero."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-12 or nb < 1e-12:
        return (1 - t) * a + t * b
    cos = np.clip(a @ b / (na * nb), -1.0, 1.0)
    theta = np.arccos(cos)
    if np.sin(theta) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * theta) * a + np.sin(t * theta) * b) / np.sin(theta)


def interpolate(a: np.ndarray, b: np.ndarray, n: int, mode: str = "linear") -> np.ndarray:
    """``n`` latents from ``a`` to ``b`` inclusive (n x d), linear or slerp."""
    if n < 2:
        raise ValueError(f"interpolation needs at least 2 frames, got {n}")
    if mode not in ("linear", "slerp"):
        raise ValueError(f"unknown interpolation '{mode}'; choose linear or slerp")
    ts = np.linspace(0.0, 1.0, n)
    if mode == "linear":
        out = (1 - ts)[:, None] * np.asarray(a, np.float64) + ts[:, None] * np.asarray(b, np.float64)
    else:
        out = np.stack([slerp(a, b, t) for t in ts])
    return out.astype(np.float32)


def rank_dimensions(dim: int, kl: np.ndarray | None = None, latents: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """(dimension order, score per dimension, score name): by KL when given, else by variance of the latents."""
    if kl is not None:
        score, name = np.asarray(kl, np.float64), "KL"
    elif latents is not None and len(latents) > 1:
        score, name = np.asarray(latents, np.float64).var(0), "var"
    else:
        score, name = np.ones(dim), "prior"
    order = np.argsort(-score, kind="stable")
    return order, score, name


def grid_latents(base: np.ndarray, i: int, j: int, span_i: tuple[float, float], span_j: tuple[float, float], n: int) -> np.ndarray:
    """n*n latents over dimensions i (left to right) and j (top to bottom, high to low), others at ``base``."""
    if i == j:
        raise ValueError("the manifold grid needs two different dimensions")
    xs = np.linspace(span_i[0], span_i[1], n)
    ys = np.linspace(span_j[1], span_j[0], n)  # first row is the top: the highest value, as on a y axis
    z = np.repeat(np.asarray(base, np.float32)[None], n * n, 0)
    z[:, i] = np.tile(xs, n)
    z[:, j] = np.repeat(ys, n)
    return z


def traversal_latents(base: np.ndarray, dims: list[int] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """One row per dimension: ``base`` with that dimension set to each value (len(dims) * steps x d).

    ``values`` is one row of ``steps`` values shared by all dimensions, or a
    d x steps array with each dimension's own values.
    """
    values = np.asarray(values, np.float32)
    steps = values.shape[-1]
    rows = []
    for d in dims:
        z = np.repeat(np.asarray(base, np.float32)[None], steps, 0)
        z[:, d] = values[d] if values.ndim == 2 else values
        rows.append(z)
    return np.concatenate(rows, 0) if rows else np.zeros((0, len(base)), np.float32)


def class_label_positions(coords: np.ndarray, labels: np.ndarray, min_gap: float = 0.06, rounds: int = 50) -> dict[int, tuple[float, float]]:
    """Where each class's name goes on the map: the coordinate-wise median of its points (robust to strays),
    then names closer than ``min_gap`` of the map's extent pushed apart so none hides another."""
    classes = [int(c) for c in np.unique(labels) if c >= 0]
    if not classes:
        return {}
    pos = np.array([np.median(coords[labels == c], axis=0) for c in classes], float)
    span = np.maximum(coords.max(0) - coords.min(0), 1e-12)
    for _ in range(rounds):
        moved = False
        for a in range(len(pos)):
            for b in range(a + 1, len(pos)):
                delta = (pos[b] - pos[a]) / span  # in fractions of the map, so both axes count alike
                dist = float(np.hypot(*delta))
                if dist >= min_gap:
                    continue
                # Coincident names move apart along a fixed diagonal; others along the line joining them.
                direction = delta / dist if dist > 1e-9 else np.array([0.6, 0.8])
                push = (min_gap - dist) / 2 * direction * span
                pos[a] -= push
                pos[b] += push
                moved = True
        if not moved:
            break
    return {c: (float(x), float(y)) for c, (x, y) in zip(classes, pos)}
