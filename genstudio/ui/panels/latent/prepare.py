"""The latent explorer's load, run off the UI thread: the model at the run's latest checkpoint, its
validation set encoded (or prior draws), the dimensions ranked, the latents projected to 2-D."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio.core.capabilities import Conditional, Encoder

from ..latent_math import Projection, project, rank_dimensions
from ..model_source import load_model
from ..run_data import validation_batch

MAX_EXAMPLES = 1000  # examples encoded for the map
PRIOR_RANGE = 3.0  # +-3 standard deviations of N(0, 1) for models with a Gaussian prior


@dataclass
class ExplorerData:
    """Everything the views need, computed once per checkpoint."""

    model: Any
    step: int
    kind: str  # image or points
    latent_dim: int
    latents: np.ndarray  # N x d
    labels: np.ndarray  # N, -1 where unknown
    source: str  # what the latents are, for the status line
    examples: np.ndarray | None  # N x C x H x W (or N x 2) floats, the encoded inputs
    order: np.ndarray  # latent dimensions, most used first
    score: np.ndarray  # the ranking score per dimension
    score_name: str  # KL, var or prior
    centre: np.ndarray  # d, the starting current point
    low: np.ndarray  # d, each slider's range
    high: np.ndarray
    projection: Projection
    num_classes: int = 0  # > 0 for Conditional models
    class_names: tuple[str, ...] = ()
    reference: np.ndarray | None = None  # the data, for points models
    vq_usage: np.ndarray | None = None  # code counts over the examples (VQ-VAE)
    notes: list[str] = field(default_factory=list)


def decodes_by_class(model: Any) -> bool:
    """Whether the explorer's class sweep applies: a conditional model whose decoder takes the class (a CVAE, a
    conditional GAN). A flow with a class prior is Conditional too, but its map from z to x is the same for every
    class (the class moves only the prior), so it is explored as one latent space."""
    return (isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0
            and "labels" in inspect.signature(model.decode).parameters)


def prepare_explorer(run_dir: str | Path, projection: str = "auto", max_examples: int = MAX_EXAMPLES, snapshot: Any = None) -> ExplorerData:
    """Load the run's latest checkpoint, encode its validation set (or draw prior latents) and project them."""
    model, spec, step = load_model(run_dir, snapshot)  # a live snapshot (LiveWeights) or the latest checkpoint
    model.eval()
    if hasattr(model, "fitted_mixture"):
        model.fitted_mixture()  # fit the VAE's sampling mixture here, off the UI thread (the Priors tab draws from it)
    info = model.data_info
    d = int(model.latent_dim)
    notes: list[str] = []
    examples = labels = None
    reference = None
    conditional = decodes_by_class(model)
    try:
        b = validation_batch(spec, max_examples)
        x, y = b.x, b.y
        if info.kind == "points":
            reference = x.numpy()
    except Exception as e:  # noqa: BLE001 - a missing user dataset still leaves the prior to explore
        x = y = None
        notes.append(f"dataset not available ({e}); showing prior draws")
    kl = None
    with torch.no_grad():
        if isinstance(model, Encoder) and x is not None:
            chunks = []
            for i in range(0, len(x), 256):
                kw = {"labels": y[i : i + 256]} if conditional else {}
                chunks.append(model.encode(x[i : i + 256], **kw).float().cpu())
            latents = torch.cat(chunks).numpy()
            examples, labels = x.numpy(), y.numpy()
            source = f"{len(latents)} encoded validation examples"
            if hasattr(model, "kl_per_dim"):
                kw = {"labels": y} if conditional else {}
                kl = model.kl_per_dim(x, **kw).float().cpu().numpy()
        else:
            n = max_examples if x is None else min(max_examples, 500)
            latents = model.prior_sample(n, torch.Generator().manual_seed(0)).float().cpu().numpy()
            labels = np.full(n, -1, np.int64)
            source = f"{n} draws from the prior"
    order, score, score_name = rank_dimensions(d, kl, latents if isinstance(model, Encoder) and examples is not None else None)
    centre = latents.mean(0).astype(np.float32)
    gaussian_prior = kl is not None or not isinstance(model, Encoder)
    if gaussian_prior:
        low, high = np.full(d, -PRIOR_RANGE, np.float32), np.full(d, PRIOR_RANGE, np.float32)
    else:
        spread = np.maximum(latents.std(0), 1e-3)
        low, high = (centre - 3 * spread).astype(np.float32), (centre + 3 * spread).astype(np.float32)
    proj = project(latents, projection)
    with torch.no_grad():
        # The first decode allocates and picks kernels (about 90 ms for the vae); pay it here, off the UI thread.
        kw = {"labels": torch.zeros(1, dtype=torch.long)} if conditional else {}
        model.decode(torch.as_tensor(centre[None]), **kw)
    vq_usage = None
    if hasattr(model, "code_usage") and x is not None:
        vq_usage = model.code_usage(x).cpu().numpy()
    return ExplorerData(
        model=model,
        step=step,
        kind=info.kind,
        latent_dim=d,
        latents=latents.astype(np.float32),
        labels=np.asarray(labels),
        source=source,
        examples=examples,
        order=order,
        score=score,
        score_name=score_name,
        centre=centre,
        low=low,
        high=high,
        projection=proj,
        num_classes=int(model.num_classes) if conditional else 0,
        class_names=tuple(info.class_names),
        reference=reference,
        vq_usage=vq_usage,
        notes=notes,
    )
