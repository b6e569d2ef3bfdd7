"""The reverse chain of a diffusion model as cached frames, and their export: pure numpy, torch and Pillow.

The diffusion panel runs a sampler once (off the UI thread) through
:func:`record_chain` and keeps every step, so scrubbing is a lookup: images
are stored as ready uint8 grids, points as coordinates. A frame ``i`` shows
the state the network saw at step ``i``: the input x_t at noise level
``t_i``, the noise it predicted (eps_hat) and the clean sample it implies
(x0_hat, DDPM eq. 15); one extra last frame shows the finished sample.

Qt-free on purpose: tests and the benchmark build chains without a window,
and the GIF and PNG writers work from the same frames the panel shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from genstudio.core.model import randn

#: Predicted noise is N(0, 1)-like; it is shown mapped from [-EPS_RANGE, EPS_RANGE] to [0, 1].
EPS_RANGE = 3.0
#: The cache of one chain may not grow past this; a bigger request stops with a clear message.
MAX_CHAIN_BYTES = 2 * 1024**3
#: Arrows of the learned field: a FIELD_GRID x FIELD_GRID lattice over the data's extent.
FIELD_GRID = 17


class ChainInterrupted(Exception):
    """Raised by :func:`record_chain` when ``should_stop`` asks it to stop."""


class ChainTooLarge(MemoryError):
    """The cached frames of a chain would pass ``max_bytes``."""


@dataclass
class Chain:
    """Every step of one sampler run, ready to show.

    ``t[i]`` is the timestep of frame ``i`` (-1 for the finished sample in
    the last frame). For images, ``x_t``, ``eps`` and ``x0`` are F x H x W x C
    uint8 grids; for points, F x N x 2 float32 coordinates (``eps`` in the
    model's noise units), with ``field`` F x G x 2 (the direction -eps_hat
    at the lattice ``field_points``, in data units) when the model exposes
    its noise prediction.
    """

    kind: str
    t: list[int]
    x_t: np.ndarray
    eps: np.ndarray
    x0: np.ndarray
    options: dict[str, Any]
    seed: int
    nfe: int
    field_points: np.ndarray | None = None
    field: np.ndarray | None = None
    extent: tuple[float, float, float, float] | None = None
    visited: list[int] = dc_field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.t)


def images_grid(x: torch.Tensor, ncols: int) -> np.ndarray:
    """N x C x H x W floats in [0, 1] (clamped here) -> one uint8 H' x W' x C grid, 1-pixel grey gaps."""
    a = (x.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    n, c, h, w = a.shape
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + 1) + 1, ncols * (w + 1) + 1, c), 128, np.uint8)
    for k in range(n):
        r, col = divmod(k, ncols)
        grid[1 + r * (h + 1) : 1 + r * (h + 1) + h, 1 + col * (w + 1) : 1 + col * (w + 1) + w] = a[k].transpose(1, 2, 0)
    return grid


def noise_picture(eps: torch.Tensor) -> torch.Tensor:
    """Noise (N x C x H x W images, or N x D latent vectors) as images in [0, 1]: [-EPS_RANGE, EPS_RANGE] -> [0, 1].

    A latent vector becomes a k x k tile (k = ceil(sqrt(D)), spare cells grey),
    so latent diffusion's eps_hat can sit beside its decoded images.
    """
    x = (eps.detach().float().cpu() + EPS_RANGE) / (2 * EPS_RANGE)
    if x.ndim == 4:
        return x
    n, d = x.reshape(len(x), -1).shape
    k = math.ceil(math.sqrt(d))
    tile = torch.full((n, k * k), 0.5)
    tile[:, :d] = x.reshape(n, d)
    return tile.reshape(n, 1, k, k)


def field_lattice(extent: tuple[float, float, float, float], size: int = FIELD_GRID) -> np.ndarray:
    """size^2 x 2 points evenly covering ``extent`` (xmin, xmax, ymin, ymax)."""
    x0, x1, y0, y1 = extent
    xs, ys = np.meshgrid(np.linspace(x0, x1, size), np.linspace(y0, y1, size))
    return np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)


def noise_field(model: Any, points: np.ndarray, t: int) -> np.ndarray | None:
    """-eps_hat(x, t) at data-space ``points``, as a data-space direction (None if the model hides eps_hat).

    -eps_hat / sqrt(1 - alpha_bar_t) is the learned score grad log p_t(x)
    (Song et al. 2021, eq. 4 with Tweedie's formula), so the arrows point
    where the density of x_t rises; the model space is an affine per-axis
    rescaling of data space, so the direction maps back by the same scale.
    """
    if not (hasattr(model, "predict_eps") and hasattr(model, "to_model") and hasattr(model, "to_data")):
        return None
    with torch.no_grad():
        p = torch.as_tensor(points, device=model.device)
        xm = model.to_model(p)
        eps = model.predict_eps(xm, torch.full((len(p),), max(t, 0), dtype=torch.long, device=model.device))
        direction = model.to_data(xm - eps) - p  # one unit of -eps in model space, expressed in data units
    return direction.float().cpu().numpy()


def record_chain(
    model: Any,
    n: int,
    seed: int,
    options: dict[str, Any] | None = None,
    ncols: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[int, int], None] | None = None,
    max_bytes: int = MAX_CHAIN_BYTES,
) -> Chain:
    """Run ``model.denoise_steps`` once for a fixed seed and cache every step (see :class:`Chain`).

    ``options`` are passed to ``denoise_steps`` (sampler, steps, eta, ...).
    ``should_stop`` is polled between network evaluations; when it returns
    True the chain is abandoned with :class:`ChainInterrupted`. A chain whose
    cache would pass ``max_bytes`` stops with :class:`ChainTooLarge`.
    """
    options = dict(options or {})
    info = model.data_info
    g = torch.Generator().manual_seed(seed)
    # Draw x_T ourselves so frame 0 can show it; the model draws the same tensor from the same generator otherwise.
    initial = getattr(model, "initial_noise", None)
    x_T_model = initial(n, g) if initial is not None else randn((n, *info.shape), g, model.device)
    is_image = info.kind == "image"
    ncols = ncols or max(1, math.ceil(math.sqrt(n)))
    to_data = getattr(model, "to_data", lambda x: x)

    xs, epss, x0s, ts, fields = [], [], [], [], []
    lattice = field_lattice(info.extent) if (not is_image and info.extent is not None) else None

    def keep_input(x_data: torch.Tensor) -> None:
        xs.append(images_grid(x_data, ncols) if is_image else x_data.float().cpu().numpy().copy())

    x_T_data = to_data(x_T_model)
    last = None
    total = None
    for step in model.denoise_steps(n, g, x_T=x_T_model, **options):
        if should_stop is not None and should_stop():
            raise ChainInterrupted("sampling stopped")
        if last is None:
            if is_image and x_T_data.shape[-2:] != step.x_t.shape[-2:]:
                # A cascade starts at a lower resolution: show its x_T at the displayed size.
                x_T_data = torch.nn.functional.interpolate(x_T_data, size=step.x_t.shape[-2:], mode="nearest")
            keep_input(x_T_data)
        total = step.num_steps
        ts.append(int(step.t))
        if is_image:
            epss.append(images_grid(noise_picture(step.eps_hat), ncols))
            x0s.append(images_grid(step.x0_hat, ncols))
        else:
            epss.append(step.eps_hat.float().cpu().numpy().copy())
            x0s.append(step.x0_hat.float().cpu().numpy().copy())
            if lattice is not None:
                fields.append(noise_field(model, lattice, step.t))
        keep_input(step.x_t)
        used = sum(a.nbytes for a in xs[-1:] + epss[-1:] + x0s[-1:]) * (step.num_steps + 1)
        if used > max_bytes:
            raise ChainTooLarge(
                f"caching this chain needs about {used / 1024**3:.1f} GiB ({step.num_steps} steps of {n} samples); "
                f"the limit is {max_bytes / 1024**3:.1f} GiB: lower n or the number of steps"
            )
        last = step
        if progress is not None:
            progress(len(ts), total)
    if last is None:
        raise ValueError("the sampler produced no steps")
    # The last frame: the finished sample, beside the final step's predictions.
    ts.append(-1)
    epss.append(epss[-1])
    x0s.append(x0s[-1])
    if fields and fields[0] is not None:
        fields.append(fields[-1])
        field_arr = np.stack(fields)
    else:
        field_arr = None
    return Chain(
        kind="image" if is_image else "points",
        t=ts,
        x_t=np.stack(xs),
        eps=np.stack(epss),
        x0=np.stack(x0s),
        options=options,
        seed=seed,
        nfe=int(last.nfe),
        field_points=lattice if field_arr is not None else None,
        field=field_arr,
        extent=info.extent,
        visited=ts[:-1],
    )


# -- frames as pictures (PNG and GIF) ----------------------------------------------------


def _upscale(img: np.ndarray, factor: int) -> np.ndarray:
    return img.repeat(factor, 0).repeat(factor, 1) if factor > 1 else img


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img[:, :, :3]


def _raster_points(points_sets: list[tuple[np.ndarray, tuple[int, int, int]]], extent, size: int) -> np.ndarray:
    """Draw point sets (coordinates, RGB colour) as 2x2 dots on a white square; later sets on top."""
    canvas = np.full((size, size, 3), 255, np.uint8)
    x0, x1, y0, y1 = extent
    for pts, colour in points_sets:
        finite = pts[np.isfinite(pts).all(1)]
        cx = ((finite[:, 0] - x0) / (x1 - x0) * (size - 2)).astype(int)
        cy = ((y1 - finite[:, 1]) / (y1 - y0) * (size - 2)).astype(int)  # y grows upwards on screen
        keep = (cx >= 0) & (cx < size - 1) & (cy >= 0) & (cy < size - 1)
        cx, cy = cx[keep], cy[keep]
        for dx in (0, 1):
            for dy in (0, 1):
                canvas[cy + dy, cx + dx] = colour
    return canvas


#: Height of the caption strip above an exported frame (pixels).
CAPTION_HEIGHT = 16


def _caption_strip(width: int, texts: list[tuple[int, str]], right: str) -> np.ndarray:
    """A white strip with ``texts`` at their x positions and ``right`` right-aligned (Pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=12)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    strip = Image.new("RGB", (width, CAPTION_HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    for x, text in texts:
        draw.text((x + 2, 1), text, fill=(40, 40, 40), font=font)
    draw.text((width - 3 - draw.textlength(right, font=font), 1), right, fill=(40, 40, 40), font=font)
    return np.asarray(strip)


def frame_picture(chain: Chain, i: int, min_height: int = 160) -> np.ndarray:
    """Frame ``i`` as one RGB uint8 picture: x_t | eps_hat | x0_hat for images, the particle cloud for points.

    A caption strip on top names the parts and the timestep, so an exported
    GIF or video explains itself; a bar along the bottom shows how far
    through the chain the frame is, so no two frames of a GIF are identical
    (Pillow would merge them).
    """
    if not 0 <= i < chain.num_frames:
        raise IndexError(f"frame {i} is outside the chain's {chain.num_frames} frames")
    t = chain.t[i]
    when = f"t = {t}" if t >= 0 else "sample"
    if chain.kind == "image":
        parts = [_rgb(chain.x_t[i]), _rgb(chain.eps[i]), _rgb(chain.x0[i])]
        h = parts[0].shape[0]
        factor = max(1, math.ceil(min_height / h))
        widths = [p.shape[1] * factor for p in parts]
        gap = np.full((h * factor, 4, 3), 255, np.uint8)
        body = np.concatenate([_upscale(parts[0], factor), gap, _upscale(parts[1], factor), gap, _upscale(parts[2], factor)], 1)
        starts = [0, widths[0] + 4, widths[0] + widths[1] + 8]
        header = _caption_strip(body.shape[1], list(zip(starts, ["x_t", "eps_hat", "x0_hat"])), when)
    else:
        extent = chain.extent or _points_extent(chain)
        size = max(min_height, 256)
        body = _raster_points([(chain.x0[i], (245, 160, 60)), (chain.x_t[i], (30, 80, 200))], extent, size)
        header = _caption_strip(body.shape[1], [(0, "x_t blue, x0_hat orange")], when)
    bar = np.full((6, body.shape[1], 3), 235, np.uint8)
    done = int(round(body.shape[1] * (i + 1) / chain.num_frames))
    bar[:, :done] = (60, 60, 60)
    return np.concatenate([header, body, bar], 0)


def _points_extent(chain: Chain) -> tuple[float, float, float, float]:
    pts = chain.x_t[-1]
    lo, hi = np.nanpercentile(pts, [1, 99], axis=0)
    pad = 0.1 * (hi - lo + 1e-6)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0]), float(lo[1] - pad[1]), float(hi[1] + pad[1]))


def gif_frame_indices(num_frames: int, stride: int = 1) -> list[int]:
    """Every ``stride``-th frame, always ending on the last (the finished sample)."""
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    idx = list(range(0, num_frames, stride))
    if idx[-1] != num_frames - 1:
        idx.append(num_frames - 1)
    return idx


def save_frame_png(chain: Chain, i: int, path: str | Path) -> Path:
    """Write frame ``i`` (as :func:`frame_picture` draws it) to a PNG."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(frame_picture(chain, i)).save(path, format="PNG")
    return path


def save_chain_gif(chain: Chain, path: str | Path, stride: int = 1, fps: float = 20.0, hold_last_s: float = 1.0) -> int:
    """Write the chain as an animated GIF (looping, the last frame held ``hold_last_s``); returns the frame count."""
    from PIL import Image

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    idx = gif_frame_indices(chain.num_frames, stride)
    frames = [Image.fromarray(frame_picture(chain, i)) for i in idx]
    per = max(20, int(round(1000 / fps)))  # GIF delays are in 10 ms units; browsers clamp below 20 ms
    durations = [per] * (len(frames) - 1) + [max(per, int(hold_last_s * 1000))]
    frames[0].save(Path(path), format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=False)
    return len(frames)


def save_chain_mp4(chain: Chain, path: str | Path, stride: int = 1, fps: float = 20.0, hold_last_s: float = 1.0, writer: Any = None) -> int:
    """Write the chain as an MP4 through ffmpeg (:mod:`genstudio.core.video`); returns the number of chain frames.

    The same pictures as the GIF; a video has one frame rate, so the
    finished sample is held by repeating it for ``hold_last_s``. Raises
    :class:`genstudio.core.video.VideoError` when no ffmpeg is installed.
    """
    from genstudio.core.video import write_mp4

    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    idx = gif_frame_indices(chain.num_frames, stride)
    idx += [idx[-1]] * max(0, int(round(hold_last_s * fps)) - 1)
    write_mp4((frame_picture(chain, i) for i in idx), path, fps=fps, writer=writer)
    return len(gif_frame_indices(chain.num_frames, stride))
