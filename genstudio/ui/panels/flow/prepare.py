"""The flow panel's load, run off the UI thread: the model at the run's latest checkpoint and every cached
view (:mod:`genstudio.models.flows.inspect`: a 200 x 200 grid through every layer, the warp of a grid and
of the data stage by stage, prior samples pulled back, direction timings, bits/dim)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.models.flows import inspect as fi

from ..flow_math import view_extent
from ..model_source import load_model
from ..run_data import validation_batch

GRID_SIZE = 200  # density and log-det maps: GRID_SIZE x GRID_SIZE cells over the view
GRID_LINES = 17  # lines each way in the warp view
LINE_POINTS = 120  # points per line, so a bent line stays smooth
SHOWN_POINTS = 1000  # validation points drawn (all of them score the NLL)
SAMPLES = 1000  # model samples overlaid, and timed
BASE_EXTENT = (-3.0, 3.0, -3.0, 3.0)  # the regular grid in the base for base -> data
IMAGE_SAMPLES = 8  # per temperature
IMAGE_VAL = 64  # validation images scored on image flows


@functools.lru_cache(maxsize=16)
def reference_entropy(dataset: str, noise: float) -> tuple[float | None, str]:
    """The data's differential entropy in nats (its best possible NLL), and where the number comes from."""
    from genstudio.data.points import DIFFERENTIAL_ENTROPY

    if dataset in DIFFERENTIAL_ENTROPY:
        return DIFFERENTIAL_ENTROPY[dataset], "of the generating recipe"
    if dataset not in ("moons", "circles") or noise <= 0:
        return None, ""
    # scikit-learn's recipes: points evenly spread along the curves, plus N(0, noise^2 I).
    t = np.linspace(0, math.pi, 1000) if dataset == "moons" else np.linspace(0, 2 * math.pi, 1000, endpoint=False)
    if dataset == "moons":
        curves = [np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 1 - np.sin(t) - 0.5], 1)]
    else:
        curves = [np.stack([np.cos(t), np.sin(t)], 1), 0.5 * np.stack([np.cos(t), np.sin(t)], 1)]
    return fi.noisy_curve_entropy(np.concatenate(curves), noise), f"Monte Carlo estimate for noise {noise:g}"


@dataclass
class PointViews:
    extent: tuple[float, float, float, float]
    data: np.ndarray  # shown validation points, N x 2
    labels: np.ndarray
    maps: fi.PlaneMaps
    forward_grid: list[np.ndarray]  # per stage: lines x points x 2
    forward_data: list[np.ndarray]  # per stage: N x 2
    inverse_grid: list[np.ndarray]
    inverse_samples: list[np.ndarray]  # prior samples pulled back; entry 0 are the model's samples
    nll: float
    entropy: float | None
    entropy_source: str


@dataclass
class FlowView:
    model: Any
    step: int
    dataset: str
    kind: str
    stage_labels: list[str]
    speed: str
    times: fi.DirectionTimes
    invertibility_error: float
    points: PointViews | None = None
    image: fi.ImageReport | None = None
    notes: list[str] = field(default_factory=list)


def compute_point_views(model: Any, x: torch.Tensor, y: torch.Tensor, dataset: str, noise: float, grid_size: int = GRID_SIZE) -> PointViews:
    """Everything the 2-D page draws, for validation points ``x`` (all scored, SHOWN_POINTS drawn)."""
    shown = x[:SHOWN_POINTS]
    extent = view_extent(x.numpy(), model.data_info.extent)
    lines = fi.grid_lines(extent, GRID_LINES, LINE_POINTS)
    n_lines = lines.shape[0]
    fwd = fi.forward_stages(model, torch.cat([lines.reshape(-1, 2), shown]))
    base_lines = fi.grid_lines(BASE_EXTENT, GRID_LINES, LINE_POINTS)
    z = model.prior_sample(SAMPLES, torch.Generator().manual_seed(0))
    back = fi.inverse_stages(model, torch.cat([base_lines.reshape(-1, 2), z]))
    split = n_lines * LINE_POINTS
    entropy, source = reference_entropy(dataset, noise)
    return PointViews(
        extent=extent,
        data=shown.numpy(),
        labels=y[:SHOWN_POINTS].numpy(),
        maps=fi.plane_maps(model, extent, grid_size),
        forward_grid=[s[:split].reshape(n_lines, LINE_POINTS, 2).numpy() for s in fwd],
        forward_data=[s[split:].numpy() for s in fwd],
        inverse_grid=[s[:split].reshape(n_lines, LINE_POINTS, 2).numpy() for s in back],
        inverse_samples=[s[split:].numpy() for s in back],
        nll=fi.nll_nats(model, x),
        entropy=entropy,
        entropy_source=source,
    )


def prepare_flow_view(run_dir: str | Path, grid_size: int = GRID_SIZE, snapshot: Any = None) -> FlowView:
    """Load the run's latest checkpoint and compute every cached view (runs on the thread pool)."""
    model, spec, step = load_model(run_dir, snapshot)  # a live snapshot (LiveWeights) or the latest checkpoint
    kind = model.data_info.kind
    with torch.no_grad():  # a context, not set_grad_enabled: pool threads are shared with other panels
        b = validation_batch(spec, 20_000 if kind == "points" else IMAGE_VAL, min_size=32)
        x, y = b.x, b.y
        points = image = None
        notes: list[str] = []
        if kind == "points" and model.data_info.dim == 2:
            points = compute_point_views(model, x, y, spec.run.dataset, float(getattr(spec.data, "noise", 0.0)), grid_size)
            times = fi.time_directions(model, fi.plane_grid(points.extent, grid_size), SAMPLES, repeats=2)
        elif kind == "image":
            image = fi.image_report(model, x, IMAGE_SAMPLES)
            times = image.times
        else:
            notes.append(f"the plane views need 2-D points; this flow models {kind} of shape {model.data_info.shape}")
            times = fi.time_directions(model, x[:IMAGE_VAL], IMAGE_SAMPLES, repeats=1)
        error = image.invertibility_error if image is not None else fi.measured_invertibility_error(model, x[:1000])
    return FlowView(
        model=model,
        step=step,
        dataset=spec.run.dataset,
        kind=kind,
        stage_labels=fi.stage_labels(model),
        speed=fi.speed_summary(model),
        times=times,
        invertibility_error=error,
        points=points,
        image=image,
        notes=notes,
    )
