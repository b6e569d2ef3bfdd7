"""What a model is told about its data, and what a batch is.

A dataset yields float tensors in [0, 1] for images (N x C x H x W), raw
coordinates for points (N x 2) and samples in [-1, 1] for audio (N x 1 x L).
Labels are int64, -1 where the dataset has none. Each model owns its own
preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

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
