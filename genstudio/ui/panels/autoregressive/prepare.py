"""The autoregressive panel's load, run off the UI thread: the model at the run's latest checkpoint, its
validation examples and the exact NLL of a batch (``model.evaluate`` through
:func:`genstudio.models.autoregressive.inspect.validation_nll`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genstudio.models.autoregressive import inspect as ar

from ..model_source import load_model
from ..run_data import validation_batch

#: Validation examples loaded for completion, the receptive field's base image and the NLL.
EXAMPLES = 64
NLL_BATCH = 256


@dataclass
class Loaded:
    model: Any
    step: int
    examples: torch.Tensor  # validation examples, data space
    labels: torch.Tensor
    nll: dict[str, float] | None
    note: str = ""


def load_for_inspection(run_dir: str | Path, n_examples: int = EXAMPLES, nll_batch: int = NLL_BATCH, snapshot: Any = None) -> Loaded:
    """The run's model (own copy, CPU) at its latest checkpoint, validation examples, and the exact NLL of a batch."""
    model, spec, step = load_model(run_dir, snapshot)  # a live snapshot (LiveWeights) or the latest checkpoint
    model.eval()
    try:
        batch = validation_batch(spec, max(n_examples, nll_batch))
    except Exception as e:  # noqa: BLE001 - generation and the masks still work without the data
        shape = (1, *model.data_info.shape)
        return Loaded(model, step, torch.zeros(shape), -torch.ones(1, dtype=torch.long), None, f"dataset not available ({e})")
    labels = batch.y if getattr(model, "conditional", False) else None
    nll = ar.validation_nll(model, batch.x, labels)
    return Loaded(model, step, batch.x[:n_examples], batch.y[:n_examples], nll)
