"""What a model is told about its data, and what a batch is.

A dataset yields float tensors in [0, 1] for images (N x C x H x W), raw
coordinates for points (N x 2) and samples in [-1, 1] for audio (N x 1 x L).
Labels are int64, -1 where the dataset has none. Each model owns its own
preprocessing.

The data reach the engine through the registry (a loader registered under a
dataset id takes :class:`DataOptions` and returns :class:`TrainingData`), so
the engine never imports ``genstudio.data``; ``genstudio.data.dataset.Dataset``
is the one built-in implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Literal, Protocol, runtime_checkable

import torch

from .config import param

DataKind = Literal["image", "points", "audio"]


@dataclass(frozen=True)
class DataInfo:
    """Shape and kind of the data a model is built for; stored in every checkpoint's config."""

    kind: DataKind
    shape: tuple[int, ...]  # per example: (C, H, W), (D,) or (1, L)
    num_classes: int = 0  # 0 when unlabelled
    name: str = ""
    class_names: tuple[str, ...] = ()
    sample_rate: int = 0  # audio only
    # Bounding box of 2-D data, for heatmaps and axis limits: (xmin, xmax, ymin, ymax).
    extent: tuple[float, float, float, float] | None = None

    @property
    def dim(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "shape": list(self.shape),
            "num_classes": self.num_classes,
            "name": self.name,
            "class_names": list(self.class_names),
            "sample_rate": self.sample_rate,
            "extent": list(self.extent) if self.extent is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "DataInfo":
        return cls(
            kind=d["kind"],
            shape=tuple(int(s) for s in d["shape"]),
            num_classes=int(d.get("num_classes", 0)),
            name=d.get("name", ""),
            class_names=tuple(d.get("class_names", ())),
            sample_rate=int(d.get("sample_rate", 0)),
            extent=tuple(d["extent"]) if d.get("extent") else None,
        )


@dataclass
class Batch:
    """One training batch on the model's device."""

    x: torch.Tensor
    y: torch.Tensor  # int64 labels, -1 where unknown

    @property
    def has_labels(self) -> bool:
        return bool((self.y >= 0).all().item()) if self.y.numel() else False

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(self.x.to(device, non_blocking=True), self.y.to(device, non_blocking=True))


@dataclass
class DataOptions:
    """Options shared by all loaders; each loader uses the ones that apply to it (the ``[data]`` table of config.toml)."""

    root: str = param("~/.cache/genstudio/datasets", "folder holding torchvision datasets (downloaded there when online)")
    path: str = param("", "file or folder for the user's own data (image folder, .npz/.npy, .csv, .wav file or folder)")
    image_size: int = param(0, "resize images to this size (0: the images' own size, at most 512 on the long side)", min=0, max=512)
    grayscale: bool = param(False, "convert images to one channel")
    n_points: int = param(20000, "number of points drawn for 2-D sets", min=100, max=1_000_000)
    noise: float = param(0.05, "noise added to 2-D sets that take it (moons, circles, swissroll)", min=0.0, max=1.0)
    val_fraction: float = param(0.1, "fraction held out for validation", min=0.0, max=0.5)
    download: bool = param(True, "download torchvision datasets when they are missing and the machine is online")
    seed: int = param(0, "seed for synthetic data and the train/validation split", min=0, max=2**32 - 1)  # numpy and scikit-learn take 32-bit seeds
    clip_length: int = param(2048, "samples per clip cut from .wav files (the 'wav' dataset)", min=2, max=1_000_000)
    sample_rate: int = param(0, "resample .wav files to this rate in Hz (0: the files' most common rate)", min=0, max=192_000)


@runtime_checkable
class TrainingData(Protocol):
    """What the engine asks of a loaded dataset (``genstudio.data.dataset.Dataset`` provides it)."""

    info: DataInfo

    def __len__(self) -> int: ...

    def split(self, val_fraction: float, seed: int = 0) -> tuple["TrainingData", "TrainingData | None"]:
        """A seeded (train, validation or None) split."""
        ...

    def batches(self, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Endless batches; the one at step k depends only on (seed, k, rank): exact resume rests on it."""
        ...

    def get(self, index: torch.Tensor | slice) -> Batch: ...

    def problem_summary(self) -> str:
        """One line on what loading skipped ("" when nothing)."""
        ...
