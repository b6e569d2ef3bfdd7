"""``genstudio eval``: the metrics a run's model supports, as one dict.

So far: validation metrics from ``model.evaluate`` (loss, ELBO terms,
bits/dim, importance-weighted NLL where the model defines them), whether the
likelihood is exact or a bound, and for 2-D data the MMD between samples and
held-out points beside the MMD between two halves of the real data (the
floor a perfect model would reach).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from genstudio.core.capabilities import Likelihood
from genstudio.core.engine import load_run_model
from genstudio.data.dataset import load_dataset

from .mmd import mmd2_unbiased


def evaluate_run(run_dir: str | Path, n: int = 1000, checkpoint: int | None = None, device: str = "auto") -> dict[str, Any]:
    model, spec, step = load_run_model(run_dir, checkpoint, device)
    ds = load_dataset(spec.run.dataset, spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    held_out = val if val is not None else ds
    n_used = min(n, len(held_out))
    result: dict[str, Any] = {
        "run": str(run_dir),
        "model": spec.run.model,
        "dataset": spec.run.dataset,
        "checkpoint_step": step,
        "n": n_used,
        "split": "val" if val is not None else "train",
    }
    sums: dict[str, float] = {}
    batches = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        bs = 256
        for i in range(0, n_used, bs):
            b = held_out.get(slice(i, min(i + bs, n_used))).to(model.device)
            w = len(b.x)
            for k, v in model.evaluate(b).items():
                sums[k] = sums.get(k, 0.0) + float(v) * w
            batches += w
    result.update({k: v / batches for k, v in sums.items()})
    if isinstance(model, Likelihood):
        result["likelihood"] = "exact" if model.exact_likelihood else "bound"
    if model.data_info.kind == "points":
        g = torch.Generator().manual_seed(0)
        m = min(n_used, 1000)
        samples = model.sample(m, generator=g).cpu()
        real = held_out.get(slice(0, m)).x
        result["mmd2"] = mmd2_unbiased(samples, real)
        half = len(real) // 2
        result["mmd2_floor"] = mmd2_unbiased(real[:half], real[half:]) if half >= 2 else math.nan
    return result
