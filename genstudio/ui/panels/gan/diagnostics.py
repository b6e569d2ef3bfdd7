"""A model's own numbers for the GAN tab, beside the game (no Qt).

A model may offer ``sandbox_diagnostics(real, labels) -> dict``: ``wgan``
returns every critic weight and its clip bound, ``sgan`` its classifier's
accuracy on labelled real examples. The sandbox's worker calls it with each
snapshot, on the thread that owns the model; :mod:`.model_views` draws the
result. The run's logged validation series of the same numbers are read once
with the load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

#: Real examples the diagnostics see: enough for an accuracy to +-2 %, cheap on every snapshot.
DIAGNOSTIC_EXAMPLES = 500
#: Validation metrics of the run that a model view plots beside its sandbox numbers.
VALIDATION_SERIES = ("accuracy",)


def model_diagnostics(model: Any, data: Any) -> dict[str, Any]:
    """``model.sandbox_diagnostics`` on up to DIAGNOSTIC_EXAMPLES of the view's real data; {} for models without it."""
    diagnose = getattr(model, "sandbox_diagnostics", None)
    if diagnose is None:
        return {}
    real = torch.as_tensor(data.real[:DIAGNOSTIC_EXAMPLES])
    labels = torch.as_tensor(data.labels[: len(real)]) if len(data.labels) >= len(real) else None
    with torch.no_grad():
        out = diagnose(real, labels)
    model.eval()  # a diagnostic may switch modes; the sandbox's model is left as the snapshot found it
    return out


def read_validation_series(run_dir: str | Path, names: tuple[str, ...] = VALIDATION_SERIES) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (steps, values)} of the run's validation records that hold ``name``, in step order."""
    from genstudio.core.runs import RunFolder

    records, _ = RunFolder(run_dir).read_metrics()
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in names:
        rows = sorted((float(r["step"]), float(r[name])) for r in records if r.get("split") == "val" and name in r and "step" in r)
        if rows:
            steps, values = zip(*rows)
            out[name] = (np.array(steps), np.array(values))
    return out
