"""The code-prior panel's load, run off the UI thread: the model (live weights or the latest checkpoint),
validation examples with their code maps, the codes' usage and the exact code NLL of a batch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model_source import load_model
from ..run_data import validation_batch
from .pictures import usage

#: Validation examples kept for completion, and used for the code usage and the NLL.
EXAMPLES = 256


@dataclass
class Loaded:
    model: Any
    step: int
    examples: torch.Tensor  # validation images, data space
    labels: torch.Tensor
    codes: torch.Tensor | None  # their code maps, N x h x w
    data_usage: np.ndarray | None  # K counts over those code maps
    nll: float | None  # nats per image, of the codes
    note: str = ""


def load_for_panel(run_dir: str | Path, snapshot: Any = None, n_examples: int = EXAMPLES) -> Loaded:
    model, spec, step = load_model(run_dir, snapshot)
    model.eval()
    try:
        batch = validation_batch(spec, n_examples)
    except Exception as e:  # noqa: BLE001 - generation still works without the data
        empty = torch.zeros(0, *model.data_info.shape)
        return Loaded(model, step, empty, torch.zeros(0, dtype=torch.long), None, None, None, f"dataset not available ({e})")
    with torch.no_grad():
        codes = model.codes(batch.x).cpu()
        labels = batch.y if getattr(model, "conditional", False) else None
        nll = float(-model.log_prob(batch.x, labels).mean())
    return Loaded(model, step, batch.x, batch.y, codes, usage(codes.numpy(), model.num_codes), nll)
