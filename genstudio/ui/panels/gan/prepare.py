"""The GAN view's load, run off the UI thread: the model at the run's latest checkpoint (the sandbox's own
copy), up to ``MAX_REAL`` of its validation data and the losses the run logged."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model_source import load_model
from ..run_data import LossHistory, read_loss_history, validation_batch
from .diagnostics import read_validation_series

BATCH = 256  # sandbox batch size on 2-D data
MAX_REAL = 2000  # real examples kept for the sandbox and the histograms


@dataclass
class GanViewData:
    model: Any
    step: int
    kind: str
    real: np.ndarray  # N x 2 points or N x C x H x W images
    labels: np.ndarray
    extent: tuple[float, float, float, float] | None
    dataset: str
    notes: list[str] = field(default_factory=list)
    losses: LossHistory = field(default_factory=LossHistory.empty)  # the run's logged d_loss / g_loss
    batch_size: int = BATCH  # the sandbox's batch: the run's own on images, BATCH on 2-D data
    validation: dict[str, Any] = field(default_factory=dict)  # the run's logged validation series a model view plots


def prepare_gan_view(run_dir: str | Path, max_examples: int = MAX_REAL, snapshot: Any = None) -> GanViewData:
    """Load the run's latest checkpoint and up to ``max_examples`` of its data (off the UI thread)."""
    model, spec, step = load_model(run_dir, snapshot)  # a live snapshot (LiveWeights) or the latest checkpoint
    info = model.data_info
    notes: list[str] = []
    try:
        b = validation_batch(spec, max_examples, min_size=100)
        real, labels = b.x.numpy(), b.y.numpy()
    except Exception as e:  # noqa: BLE001 - without the data the view still shows G and D
        real = np.zeros((0, *info.shape), np.float32)
        labels = np.zeros(0, np.int64)
        notes.append(f"dataset not available ({e})")
    extent = tuple(info.extent) if info.extent is not None else None
    losses = read_loss_history(run_dir)
    # A 2-D step costs nothing at any batch size; an image step at the run's own batch is as cheap as training allows.
    batch = int(spec.run.batch_size) if info.kind == "image" else BATCH
    validation = read_validation_series(run_dir)
    return GanViewData(model, step, info.kind, real, labels, extent, spec.run.dataset, notes, losses, batch, validation)


def raw_generator_output(model: Any, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G(z) from the generator D plays against: not the EMA copy a model may sample from (dcgan), which a step barely moves."""
    kw: dict[str, Any] = {} if labels is None else {"labels": labels}
    if "use_ema" in inspect.signature(model.decode).parameters:
        kw["use_ema"] = False
    return model.decode(z, **kw)
