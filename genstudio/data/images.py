"""Small operations on uint8 image tensors shared by the image loaders.

Loaders keep images as uint8 N x C x H x W; these helpers apply the two
options every image set honours (``grayscale`` and ``image_size``) without
ever holding the whole set as floats, since CIFAR-10 as float32 would take
600 MB where its uint8 form takes 150 MB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from genstudio.core.data_types import DataInfo
from genstudio.data.dataset import DataError, DataOptions, Dataset

# ITU-R BT.601 luma weights, the same ones Pillow's convert("L") uses, so a
# folder of RGB files and the same files loaded as greyscale agree.
_LUMA = (0.299, 0.587, 0.114)

# Images are converted to float this many at a time (bounded peak memory).
_CHUNK = 4096


def to_grayscale(x: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W uint8 to N x 1 x H x W uint8 luma; one channel passes through."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise DataError(f"cannot convert {x.shape[1]}-channel images to greyscale (expected 1 or 3 channels)")
    w = torch.tensor(_LUMA).view(1, 3, 1, 1)
    out = torch.empty((x.shape[0], 1, *x.shape[2:]), dtype=torch.uint8)
    for i in range(0, len(x), _CHUNK):
        chunk = x[i : i + _CHUNK].float()
        out[i : i + _CHUNK] = (chunk * w).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    return out


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize N x C x H x W uint8 images to ``size`` with antialiased bilinear filtering.

    Antialiasing matters when shrinking (for example CIFAR to 16 x 16):
    plain bilinear would sample every other pixel and alias.
    """
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[2:]) == hw:
        return x
    out = torch.empty((x.shape[0], x.shape[1], *hw), dtype=torch.uint8)
    for i in range(0, len(x), _CHUNK):
        chunk = x[i : i + _CHUNK].float()
        chunk = F.interpolate(chunk, size=hw, mode="bilinear", antialias=True, align_corners=False)
        out[i : i + _CHUNK] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def apply_image_options(x: torch.Tensor, options: DataOptions) -> torch.Tensor:
    """Apply ``options.grayscale`` and ``options.image_size`` (0 keeps the native size)."""
    if options.grayscale:
        x = to_grayscale(x)
    if options.image_size > 0:
        x = resize(x, options.image_size)
    return x


def image_dataset(
    x: torch.Tensor,
    y: torch.Tensor,
    name: str,
    class_names: tuple[str, ...] = (),
    problems: list[str] | None = None,
) -> Dataset:
    """Wrap uint8 N x C x H x W images and int64 labels (-1 for none) in a Dataset."""
    x = x.contiguous()
    y = y.to(torch.int64)
    labelled = len(y) > 0 and bool((y >= 0).all())
    num_classes = max(len(class_names), int(y.max()) + 1) if labelled else 0
    info = DataInfo(
        kind="image",
        shape=tuple(int(s) for s in x.shape[1:]),
        num_classes=num_classes,
        name=name,
        class_names=tuple(class_names) if labelled else (),
    )
    return Dataset(x, y, info, list(problems or []))
