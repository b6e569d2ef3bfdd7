"""Decoding one image file of a user's folder: Pillow modes to 8-bit grey or RGB, at the size asked for.

Wide grey modes (16-bit, 32-bit, float) are scaled by what their values
mean, transparency is composited on white, and the image is scaled to cover
the target size and centre-cropped (the aspect ratio is kept). A file that
opens but cannot be used raises :class:`Unusable` with the reason the Data
panel lists; Pillow's own errors on a damaged file are :data:`DECODE_ERRORS`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

# Pillow modes that hold one grey channel (with or without alpha).
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


class Unusable(Exception):
    """A file that opens but whose pixels cannot be used; the message is the reason given in ``problems``."""


def bomb_reason(pixels: int | None, limit: int) -> str:
    size = f"{pixels:,} pixels" if pixels is not None else "the image"
    return (
        f"{size} is over Pillow's decompression-bomb limit of {limit:,} (PIL.Image.MAX_IMAGE_PIXELS); "
        "shrink the image, or raise that limit if you trust the file"
    )


def wide_to_grey8(img):
    """An I / I;16 / F (one wide grey channel) image as 8-bit "L", scaled by what its values mean.

    I;16 is 16-bit (0..65535). "I" (32-bit) holds 8-bit values when they stay
    within 0..255 and 16-bit ones when they reach 65535 (older Pillow opened
    16-bit PNGs this way); beyond that, or below 0, there is no scale to
    guess. "F" is taken as [0, 1] when its maximum is at most 1, else 0..255.
    Clipping instead would turn a 16-bit image white and a float one black.
    """
    from PIL import Image

    arr = np.asarray(img, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise Unusable("pixel values include NaN or infinity")
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if img.mode.startswith("I;16"):
        scale = 255.0 / 65535.0
    elif lo < 0:
        raise Unusable(f"negative pixel values ({lo:g}); save the image as 8- or 16-bit")
    elif img.mode == "F" and hi <= 1.0:
        scale = 255.0
    elif hi <= 255.0:
        scale = 1.0
    elif img.mode.startswith("I") and hi <= 65535.0:
        scale = 255.0 / 65535.0
    else:
        raise Unusable(f"pixel values reach {hi:g}, beyond 16 bits; save the image as 8- or 16-bit")
    return Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8))


def decode_image(path: Path, size: tuple[int, int], grey: bool) -> tuple[np.ndarray, bool]:
    """One image as uint8 H x W x 3 (or H x W when ``grey``) at ``size`` (H, W), and whether it was grey.

    Transparency is composited on white, the usual paper colour of drawn
    digits and icons; dropping alpha instead would turn transparent pixels
    into whatever colour they happen to store (often black). CMYK and other
    colour spaces go through Pillow's own conversion to RGB.
    """
    from PIL import Image

    with Image.open(path) as img:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale, never below the size asked for: a 4000 x 3000
        # photo bound for 64 x 64 then costs a fraction of a full decode. Other formats ignore it.
        img.draft(None, (size[1], size[0]))
        img.load()  # decode now, so a truncated file fails here and is skipped
        was_grey = img.mode in GREY_MODES
        if img.mode.startswith("I") or img.mode == "F":
            img = wide_to_grey8(img)
        if img.mode in ("RGBA", "LA", "La", "PA", "RGBa") or (img.mode == "P" and "transparency" in img.info):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        img = img.convert("L" if grey or was_grey else "RGB")
        img = cover_and_crop(img, size)
        arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2 and not grey:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return arr, was_grey


def cover_and_crop(img, size: tuple[int, int]):
    """Scale so the image covers ``size`` (H, W), then crop the centre: aspect ratio is kept."""
    from PIL import Image

    th, tw = size
    w, h = img.size
    if (h, w) == (th, tw):
        return img
    scale = max(th / h, tw / w)
    nw, nh = max(tw, round(w * scale)), max(th, round(h * scale))
    # Pillow's bilinear resize filters over the whole footprint when shrinking (antialiased).
    img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - tw) // 2, (nh - th) // 2
    return img.crop((left, top, left + tw, top + th))


# What Pillow raises on a damaged or unsupported file; a file raising one of them is skipped.
# Fuzzing 5,600 mutated PNG, JPEG, CMYK JPEG, GIF, BMP, TIFF, WebP, ICO, PPM and TGA files
# (tests/reliability/test_bad_data.py runs a seeded sample) gave OSError, ValueError and,
# once, SyntaxError; EOFError and struct.error are what its plugins document besides.
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error)
