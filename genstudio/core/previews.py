"""Preview grids: samples from one fixed seed, drawn as an image and saved in ``samples/``.

The seed is the same at every preview of a run, so the grids of ``samples/``
replay its training as a film; sampling runs under ``fork_rng`` and in eval
mode, so a preview never changes what the run trains on (exact resume).
The drawing helpers (``images_to_grid``, ``points_to_image``) also serve
``genstudio sample`` and the studio.

What the user sees is what the numbers describe: a preview grid, the
in-training FID, ``genstudio eval`` and ``genstudio sample`` all draw with
the settings :func:`sampling_settings` resolves (the model's ``sample_options``
with its ``preview_kwargs`` over them: DDPM's DDIM steps, the EMA weights
where the model keeps them), unless the user asks for another sampler.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data_types import DataInfo
from .events import Preview
from .model import GenerativeModel
from .run_files import atomic_write_bytes
from .runs import RunFolder

PREVIEW_SEED = 1234  # one fixed seed, so the grids of a run can be replayed as a film


def sampling_settings(model: GenerativeModel, **overrides: Any) -> dict[str, Any]:
    """The keyword arguments of ``model.sample`` for previews, in-training metrics, eval and sample alike.

    The model's ``sample_options`` (every option with its default), then its
    ``preview_kwargs`` (the sampler the studio shows and scores, e.g. DDIM 20
    steps), then ``overrides`` (options the user set, None meaning unset). An
    override that names another sampler drops the preview's settings, which
    belong to the preview's sampler (its step count is no DDPM chain length).
    """
    asked = {k: v for k, v in overrides.items() if v is not None}
    shown = dict(model.preview_kwargs())
    if "sampler" in asked and asked["sampler"] != shown.get("sampler", asked["sampler"]):
        shown = {}
    return {**model.sample_options(), **shown, **asked}


def images_to_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """N x C x H x W floats in [0, 1] to one uint8 H x W x 3 grid."""
    from torchvision.utils import make_grid

    images = images.detach().float().clamp(0, 1).cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    n = images.shape[0]
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    grid = make_grid(images, nrow=nrow, padding=pad, pad_value=0.5)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def points_to_image(points: np.ndarray, extent: tuple[float, float, float, float] | None, size: int = 256) -> np.ndarray:
    """Rasterise 2-D points to a uint8 image (a density picture for the samples folder)."""
    if extent is None:
        lo, hi = np.percentile(points, [0.5, 99.5], axis=0)
        extent = (lo[0], hi[0], lo[1], hi[1])
    x0, x1, y0, y1 = extent
    finite = np.isfinite(points).all(axis=1)
    h, _, _ = np.histogram2d(points[finite, 1], points[finite, 0], bins=size, range=[[y0, y1], [x0, x1]])
    h = np.log1p(h[::-1])
    h = h / h.max() if h.max() > 0 else h
    img = (255 * (1 - h)).astype(np.uint8)
    return np.stack([img, img, np.full_like(img, 255)], axis=-1)


def waveforms_to_image(audio: np.ndarray, width: int = 512, height: int = 64) -> np.ndarray:
    """Draw up to eight waveforms one above the other."""
    rows = []
    for wave in audio[:8].reshape(min(8, len(audio)), -1):
        canvas = np.full((height, width), 255, np.uint8)
        idx = np.linspace(0, len(wave) - 1, width).astype(int)
        ys = ((1 - np.clip(wave[idx], -1, 1)) * 0.5 * (height - 1)).astype(int)
        canvas[ys, np.arange(width)] = 0
        rows.append(canvas)
    img = np.concatenate(rows, axis=0)
    return np.stack([img] * 3, axis=-1)


def save_png(path: Path, image: np.ndarray) -> None:
    """Write ``image`` (H x W x 3 uint8) as a PNG, atomically (a kill never leaves half a file)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def make_preview(model: GenerativeModel, n: int, data_info: DataInfo, step: int, run: RunFolder | None) -> Preview:
    """Samples from the fixed preview seed, without disturbing the training RNG or mode."""
    was_training = model.training
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            g = torch.Generator().manual_seed(PREVIEW_SEED)
            with torch.no_grad():
                samples = model.sample(n, generator=g, **sampling_settings(model))
        finally:
            model.train(was_training)
    samples = samples.detach().float().cpu()
    path = run.sample_path(step) if run is not None else None
    if data_info.kind == "points":
        pts = samples.numpy().astype(np.float32)
        if path is not None:
            np.save(path.with_suffix(".npy"), pts)
            save_png(path, points_to_image(pts, data_info.extent))
        return Preview(step=step, points=pts, path=str(path) if path else None)
    if data_info.kind == "audio":
        image = waveforms_to_image(samples.numpy())
    else:
        image = images_to_grid(samples)
    if path is not None:
        save_png(path, image)
    return Preview(step=step, image=image, path=str(path) if path else None)
