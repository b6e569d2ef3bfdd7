"""The in-memory dataset every loader returns, and the options loaders take.

Every dataset genstudio trains on fits in memory (5,000 MNIST digits are
3.9 MB as uint8; CIFAR-10 is 150 MB), so a dataset is two tensors plus a
description. Images are kept as uint8 and turned into floats in [0, 1] one
batch at a time; batches are drawn from a seeded permutation that depends
only on (seed, epoch), so resuming at step k draws exactly the batches an
uninterrupted run would have drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch

from genstudio.core.data_types import Batch, DataInfo, DataOptions


class DataError(ValueError):
    """The data cannot be loaded; the message says what is missing and how to fix it.

    The message is one line that reads the same in the studio and on the
    command line (it names settings as ``data.path``, not as a flag).
    ``option`` names the :class:`DataOptions` field the fix is about, when
    there is one, so a front end can point at its own control for it (the
    studio's Path field, the CLI's ``--data-path``).
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass
class Dataset:
    """Tensors plus what they are.

    ``x`` is uint8 (N x C x H x W) for images, float32 for points and audio;
    ``y`` int64 labels, -1 where there are none. ``problems`` lists what was
    skipped while loading (for example corrupt files, with their paths).
    """

    x: torch.Tensor
    y: torch.Tensor
    info: DataInfo
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y):
            raise DataError(f"{len(self.x)} examples but {len(self.y)} labels")
        if len(self.x) == 0:
            raise DataError(f"dataset '{self.info.name}' is empty")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def has_labels(self) -> bool:
        return bool((self.y >= 0).all())

    def as_float(self, x: torch.Tensor) -> torch.Tensor:
        """Raw stored values to the float representation models receive."""
        if x.dtype == torch.uint8:
            return x.float().div_(255.0)
        return x.float()

    def get(self, index: torch.Tensor | slice) -> Batch:
        return Batch(self.as_float(self.x[index]), self.y[index])

    def subset(self, index: torch.Tensor) -> "Dataset":
        return Dataset(self.x[index], self.y[index], self.info, list(self.problems))

    def split(self, val_fraction: float, seed: int = 0) -> tuple["Dataset", "Dataset | None"]:
        """A seeded train/validation split (stratified by label when there are labels)."""
        n = len(self)
        n_val = int(round(n * val_fraction))
        if n_val == 0 or n - n_val < 1:
            return self, None
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(n, generator=g)
        if self.has_labels:
            # Stratify so a small validation set still has every class.
            val_idx = []
            for c in torch.unique(self.y):
                members = perm[self.y[perm] == c]
                k = int(round(len(members) * val_fraction))
                val_idx.append(members[:k])
            val = torch.cat(val_idx)
            mask = torch.ones(n, dtype=torch.bool)
            mask[val] = False
            # Both reshuffled: taking each class's first members for validation leaves the
            # remaining training indices grouped by class at the front (the first n training
            # examples, which metric floors use, would cover only a few classes).
            train = perm[mask[perm]]
            train = train[torch.randperm(len(train), generator=g)]
            val = val[torch.randperm(len(val), generator=g)]
        else:
            val, train = perm[:n_val], perm[n_val:]
        return self.subset(train), self.subset(val)

    def batches(self, batch_size: int, seed: int, start_step: int = 0, rank: int = 0, world_size: int = 1) -> Iterator[Batch]:
        """Endless shuffled batches; the batch at step k depends only on (seed, k) (and the rank).

        With several processes (torchrun) ``batch_size`` is per process, as
        with DistributedDataParallel: at step k of an epoch rank r takes block
        ``k * world_size + r`` of the epoch's permutation, so the ranks see
        different examples and together cover the epoch. One process
        (rank 0 of 1) draws exactly the batches it always did.
        """
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        n = len(self)
        bs = min(batch_size, n // world_size)
        if bs < 1:
            raise DataError(f"dataset '{self.info.name}' has {n} examples, fewer than the {world_size} processes training on it")
        per_epoch = n // (bs * world_size)  # drop the last partial block: every step sees full batches
        step = start_step
        while True:
            epoch, pos = divmod(step, per_epoch)
            g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
            perm = torch.randperm(n, generator=g)
            for i in range(pos, per_epoch):
                block = i * world_size + rank
                yield self.get(perm[block * bs : (block + 1) * bs])
                step += 1

    def problem_summary(self) -> str:
        """One line for a log or a status bar: how many items were skipped and the first reason ("" when none)."""
        if not self.problems:
            return ""
        skipped = sum(1 for p in self.problems if p.startswith("skipped "))
        head = f"{skipped} skipped" if skipped == len(self.problems) else f"{len(self.problems)} problems ({skipped} skipped)"
        more = f"; {len(self.problems) - 1} more listed in the dataset's problems" if len(self.problems) > 1 else ""
        return f"data '{self.info.name}': {head}, {len(self)} examples kept; first: {self.problems[0]}{more}"

    def describe(self) -> dict:
        """Size, shape and class counts for the dataset panel and ``list datasets``."""
        counts = {}
        if self.has_labels:
            labels, c = torch.unique(self.y, return_counts=True)
            counts = {int(k): int(v) for k, v in zip(labels, c)}
        return {
            "name": self.info.name,
            "kind": self.info.kind,
            "size": len(self),
            "shape": list(self.info.shape),
            "num_classes": self.info.num_classes,
            "class_counts": counts,
            "problems": list(self.problems),
        }


def load_dataset(dataset_id: str, options: DataOptions | None = None) -> Dataset:
    """Load a registered dataset by id."""
    from genstudio.core.registry import get_dataset_loader

    loader = get_dataset_loader(dataset_id)
    ds = loader(options or DataOptions())
    if not isinstance(ds, Dataset):
        raise DataError(f"loader for '{dataset_id}' returned {type(ds).__name__}, not a Dataset")
    return ds
