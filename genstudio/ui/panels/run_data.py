"""What the lab panels read from a run besides its model, with no Qt: the validation examples their views
start from, and the losses it logged. Every panel loads these the same way, off the UI thread, inside its
load job."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.core.data_types import Batch


_DATASET_LOCK = threading.Lock()
_DATASET: tuple[str, Any] | None = None  # (key, dataset): the last run's data, kept for the next load of its panels


def run_dataset(spec: Any) -> Any:
    """The run's whole dataset, loaded once and reused by every later load of the same data (a live run's panels
    reload at the preview cadence; only the model changes between loads). Raises what the loader raises."""
    global _DATASET
    from genstudio.data.dataset import load_dataset

    key = f"{spec.run.dataset}|{spec.data!r}"
    with _DATASET_LOCK:
        if _DATASET is not None and _DATASET[0] == key:
            return _DATASET[1]
    ds = load_dataset(spec.run.dataset, spec.data)
    with _DATASET_LOCK:
        _DATASET = (key, ds)
    return ds


def validation_batch(spec: Any, n: int, min_size: int = 1) -> Batch:
    """The first ``n`` validation examples of the run's dataset, in the run's own split.

    Falls back to the whole dataset when the validation part has fewer than
    ``min_size`` examples (a run without a split, a tiny user dataset).
    Raises what the dataset loader raises when the data is not available.
    """
    ds = run_dataset(spec)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    part = val if val is not None and len(val) >= min_size else ds
    return part.get(slice(0, min(n, len(part))))


@dataclass
class LossHistory:
    """The run's logged training losses (``split == "train"``), by step."""

    step: np.ndarray
    d_loss: np.ndarray
    g_loss: np.ndarray

    @classmethod
    def empty(cls) -> "LossHistory":
        z = np.zeros(0)
        return cls(z, z.copy(), z.copy())


def read_loss_history(run_dir: str | Path) -> LossHistory:
    """d_loss and g_loss of the run's training records, in step order (empty when none were logged)."""
    from genstudio.core.runs import RunFolder

    records, _ = RunFolder(run_dir).read_metrics()
    rows = [r for r in records if r.get("split", "train") == "train" and "d_loss" in r and "g_loss" in r and "step" in r]
    rows.sort(key=lambda r: r["step"])
    if not rows:
        return LossHistory.empty()
    return LossHistory(
        np.array([r["step"] for r in rows], float),
        np.array([r["d_loss"] for r in rows], float),
        np.array([r["g_loss"] for r in rows], float),
    )
