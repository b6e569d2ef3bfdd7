"""What the lab panels read from a run besides its model, with no Qt: the validation examples their views
start from. Every panel loads these the same way, off the UI thread, inside its load job."""

from __future__ import annotations

from typing import Any

from genstudio.core.data_types import Batch


def validation_batch(spec: Any, n: int, min_size: int = 1) -> Batch:
    """The first ``n`` validation examples of the run's dataset, in the run's own split.

    Falls back to the whole dataset when the validation part has fewer than
    ``min_size`` examples (a run without a split, a tiny user dataset).
    Raises what the dataset loader raises when the data is not available.
    """
    from genstudio.data.dataset import load_dataset

    ds = load_dataset(spec.run.dataset, spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    part = val if val is not None and len(val) >= min_size else ds
    return part.get(slice(0, min(n, len(part))))
