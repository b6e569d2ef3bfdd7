"""The diffusion panel's load, run off the UI thread: the model at the run's latest checkpoint, the examples
the forward view noises, and the reference data the NFE-versus-quality scores compare samples against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genstudio.ui.examples import pick_examples

from ..model_source import load_model
from ..run_data import run_dataset

#: Examples of the dataset offered to the forward view (images) / points of the 2-D cloud.
FORWARD_EXAMPLES = 64
FORWARD_POINTS = 1000
#: Data examples the NFE-versus-quality scores compare samples against.
REFERENCE_SIZE = 1000


def load_for_diffusion(run_dir: Path, snapshot: Any = None) -> tuple[Any, int, torch.Tensor, torch.Tensor]:
    """The run's model (own copy, CPU) at its latest checkpoint, the examples for the forward view, and reference data for scores."""
    model, spec, step = load_model(run_dir, snapshot)  # a live snapshot (LiveWeights) or the latest checkpoint
    ds = run_dataset(spec)  # loaded once per run: a live run's panel reloads only the model
    if model.data_info.kind == "image":
        idx = pick_examples(ds.y.numpy(), FORWARD_EXAMPLES, seed=0)
        examples = ds.get(torch.as_tensor(idx)).x.float()
    else:
        g = torch.Generator().manual_seed(0)
        idx = torch.randperm(len(ds), generator=g)[:FORWARD_POINTS]
        examples = ds.get(idx).x.float()
    g = torch.Generator().manual_seed(1)
    reference = ds.get(torch.randperm(len(ds), generator=g)[:REFERENCE_SIZE]).x.float()
    return model, step, examples, reference
