"""Where a lab panel's model comes from, with no Qt: the run's latest checkpoint file, or a live snapshot.

A live run hands the panels a CPU copy of its state dict (``LiveWeights``,
EMA copies included) at the preview cadence, so a panel can look at the model
while it learns, long before the first checkpoint file exists. Both ways
rebuild the model from the run's own config and data description, on the CPU,
as the panel's own copy; every ``prepare.py`` loads through :func:`load_model`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def load_model(run_dir: str | Path, snapshot: Any = None) -> tuple[Any, Any, int]:
    """(model, spec, step): from ``snapshot`` (a LiveWeights) when given, else from the run's latest checkpoint."""
    from genstudio.core.loading import load_run_model

    if snapshot is None:
        return load_run_model(run_dir, device="cpu")
    return model_from_snapshot(run_dir, snapshot)


def model_from_snapshot(run_dir: str | Path, snapshot: Any) -> tuple[Any, Any, int]:
    """Rebuild the run's model from its config and load the snapshot's weights (strictly), on the CPU."""
    from genstudio.core.data_types import DataInfo
    from genstudio.core.loading import restore
    from genstudio.core.registry import get_model_class
    from genstudio.core.runs import RunError, RunFolder

    run = RunFolder(run_dir)
    spec = run.spec()
    if "data_info" not in run.meta:
        raise RunError(f"'{run.meta_path}' has no data_info; the run folder is incomplete")
    info = DataInfo.from_dict(run.meta["data_info"])
    # The training thread draws from the same global generator: building here must not move it (or reseed it).
    with torch.random.fork_rng(devices=[]):
        model = get_model_class(spec.run.model)(spec.model, info)
    restore(model, snapshot.weights, None)
    model.eval()
    return model, spec, int(snapshot.step)
