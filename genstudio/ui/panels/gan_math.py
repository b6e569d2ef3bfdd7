"""The GAN view's arithmetic, kept free of Qt so it is tested headless: the region of the plane shown, the
heatmap's grid, the generator's gradient arrows, the sandbox notice, and on images the most / least real
ranking, D's score histograms and the loss plots' step window, and :func:`scores_view`, everything the image view
draws made ready on the sandbox's worker thread (the UI thread then only hands arrays to the plots)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

HEATMAP_SIZE = 64  # D is evaluated on a HEATMAP_SIZE x HEATMAP_SIZE grid over the view
ARROW_FRACTION = 0.08  # the longest arrow spans this fraction of the view
STRIP = 8  # images in each "most / least real" strip
HIST_BINS = 30


def view_extent(real: np.ndarray, extent: tuple[float, float, float, float] | None, margin: float = 0.15) -> tuple[float, float, float, float]:
    """The square-ish region shown: the data's extent (or the points' box) widened by ``margin``."""
    if extent is None:
        if len(real):
            (x0, y0), (x1, y1) = real.min(0), real.max(0)
        else:
            x0, x1, y0, y1 = -1.0, 1.0, -1.0, 1.0
    else:
        x0, x1, y0, y1 = extent
    w, h = max(x1 - x0, 1e-6), max(y1 - y0, 1e-6)
    return (x0 - margin * w, x1 + margin * w, y0 - margin * h, y1 + margin * h)


def heatmap_grid(extent: tuple[float, float, float, float], n: int = HEATMAP_SIZE) -> np.ndarray:
    """Centres of an n x n grid of cells over ``extent``, row-major from the bottom row: (n*n) x 2."""
    x0, x1, y0, y1 = extent
    xs = x0 + (np.arange(n) + 0.5) * (x1 - x0) / n
    ys = y0 + (np.arange(n) + 0.5) * (y1 - y0) / n
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)


def arrow_segments(points: np.ndarray, direction: np.ndarray, span: float, fraction: float = ARROW_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """x and y arrays of (start, end) pairs for ``connect='pairs'``; the longest arrow is ``fraction`` of ``span``."""
    norms = np.linalg.norm(direction, axis=1)
    top = norms.max() if len(norms) else 0.0
    scale = fraction * span / top if top > 0 else 0.0
    ends = points + direction * scale
    xs = np.stack([points[:, 0], ends[:, 0]], 1).ravel()
    ys = np.stack([points[:, 1], ends[:, 1]], 1).ravel()
    return xs, ys


def sandbox_notice(step: int, sandbox_steps: int) -> str:
    """The line that tells the user the buttons train a private copy, not the run."""
    done = f"; {sandbox_steps} sandbox steps so far" if sandbox_steps else ""
    return (
        f"Sandbox: Step D, Step G, Step both and Play train a private copy of this model, loaded from checkpoint "
        f"step {step}{done}. The training run, its files and its curves are not changed; "
        f"'Reset to checkpoint' throws the sandbox steps away."
    )


def rank_by_score(scores: np.ndarray, k: int = STRIP) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``k`` highest scores (most real first) and the ``k`` lowest (least real first)."""
    order = np.argsort(-np.asarray(scores, float), kind="stable")
    k = min(k, len(order))
    return order[:k], order[::-1][:k]


def score_histograms(d_real: np.ndarray, d_fake: np.ndarray, kind: str, bins: int = HIST_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin edges, counts of D(x), counts of D(G(z))) on shared bins: [0, 1] for probabilities, the joint range for scores."""
    both = np.concatenate([np.asarray(d_real, float), np.asarray(d_fake, float)])
    if kind == "probability":
        lo, hi = 0.0, 1.0
    elif len(both):
        lo, hi = float(both.min()), float(both.max())
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
    else:
        lo, hi = 0.0, 1.0
    edges = np.linspace(lo, hi, bins + 1)
    return edges, np.histogram(d_real, edges)[0], np.histogram(d_fake, edges)[0]


def sandbox_window(checkpoint_step: int, sandbox_steps: int, first_step: float = 0.0) -> tuple[float, float]:
    """The step range shown once the sandbox has run: some training history before the checkpoint, all of the sandbox."""
    before = max(200, 10 * sandbox_steps)
    return max(first_step, checkpoint_step - before), checkpoint_step + sandbox_steps + 1


#: The image view's strips: (key, which images, most or least real first).
STRIPS = (("fake_most", "fake", "most"), ("fake_least", "fake", "least"), ("real_least", "real", "least"))


def image_strip(images: np.ndarray, pad: int = 1, pad_value: int = 80) -> np.ndarray | None:
    """N x C x H x W images in [0, 1] -> one H' x W' x C uint8 row with ``pad`` pixels between them (None for none)."""
    x = np.asarray(images)
    if not len(x):
        return None
    u8 = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    n, c, h, w = u8.shape
    row = np.full((h + 2 * pad, n * (w + pad) + pad, c), pad_value, np.uint8)
    for i in range(n):
        x0 = pad + i * (w + pad)
        row[pad : pad + h, x0 : x0 + w] = u8[i].transpose(1, 2, 0)
    return row


@dataclass
class ScoresView:
    """What the image view draws of D's scores, computed off the UI thread."""

    kind: str
    edges: np.ndarray
    real_counts: np.ndarray
    fake_counts: np.ndarray
    means: tuple[float, float]
    n_real: int
    n_fake: int
    strips: dict[str, tuple[np.ndarray | None, np.ndarray]] = field(default_factory=dict)  # key -> (picture, scores shown)


def scores_view(kind: str, d_real: np.ndarray, d_fake: np.ndarray, real: np.ndarray, fakes: np.ndarray) -> ScoresView:
    """Histograms of D(x) and D(G(z)) on shared bins, their means, and the most / least real strips."""
    edges, real_counts, fake_counts = score_histograms(d_real, d_fake, kind)
    means = (float(np.mean(d_real)) if len(d_real) else float("nan"), float(np.mean(d_fake)) if len(d_fake) else float("nan"))
    view = ScoresView(kind, edges, real_counts, fake_counts, means, len(d_real), len(d_fake))
    ranked = {"fake": (fakes, d_fake, rank_by_score(d_fake)), "real": (real, d_real, rank_by_score(d_real))}
    for key, which, end in STRIPS:
        images, scores, (most, least) = ranked[which]
        idx = most if end == "most" else least
        view.strips[key] = (image_strip(images[idx]) if len(idx) else None, np.asarray(scores)[idx])
    return view
