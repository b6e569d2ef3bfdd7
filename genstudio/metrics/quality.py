"""Sample quality against real data, with the floor beside every score.

A score alone says little at small n: FID of two real sets of 500 digits is
far from 0. So each reference holds two real sets of the same size n: the
held-out set the samples are compared with, and n training examples whose
score against the held-out set is the floor (what a perfect model would
get). ``ImageReference`` compares in a feature space
(genstudio/metrics/features.py, optionally Inception too);
``PointsReference`` compares 2-D points directly (MMD, precision/recall in
coordinates, and mode coverage on 8gaussians).

A fair ruler: a model of binarised images (``likelihood_data == "binarised"``:
the Bernoulli autoregressive models, a VAE with ``binarize``) draws 0/1
images, and grey real digits would charge it for their grey edges, which it
was never asked to model; its FID would say how grey the reference is, not
how good the digits are. So the reference is built from the data the model
models (:func:`reference_data`): real images thresholded at 0.5 for those
models, as loaded for the rest, for the held-out set and the floor set alike,
and every score says which (``reference_data``).

Both build their real-side numbers once, so ``score`` can be called at every
in-training evaluation for the cost of the samples' features: that is
:class:`QualityTracker`, which ``genstudio/metrics/quality_job.py`` runs at a
training run's ``quality_every`` cadence (the engine itself knows no metric).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import torch

from .classifier_score import classifier_score
from .features import FeatureExtractor
from .frechet import fid_from_features, kid
from .mmd import median_bandwidth, mmd2_unbiased
from .modes import mode_coverage
from .precision_recall import precision_recall

PR_K = 3  # Kynkäänniemi et al. 2019's default neighbourhood size


#: What the real side of a reference is made of, by the kind of data the model models.
REFERENCE_DATA = {
    "as loaded": "the real data as the dataset loads it (grey levels for images)",
    "binarised": "the real images thresholded at 0.5, the data a model of binarised images models",
}
#: The threshold of the binarised models (models/autoregressive/common.py, models/autoencoders/vae.py).
BINARY_THRESHOLD = 0.5


def reference_data(model: Any) -> str:
    """The key of :data:`REFERENCE_DATA` for ``model``: ``binarised`` for a model of binarised images, else ``as loaded``."""
    return "binarised" if getattr(model, "likelihood_data", None) == "binarised" else "as loaded"


def as_reference(x: torch.Tensor, data: str) -> torch.Tensor:
    """Real examples ``x`` made into reference data of kind ``data`` (a key of :data:`REFERENCE_DATA`)."""
    if data not in REFERENCE_DATA:
        raise ValueError(f"unknown reference data {data!r}; choose from {', '.join(REFERENCE_DATA)}")
    return (x > BINARY_THRESHOLD).to(x.dtype) if data == "binarised" else x


def reference_sets(train: Any, val: Any, n: int, data: str = "as loaded") -> tuple[torch.Tensor, torch.Tensor, str]:
    """(held-out examples, training examples for the floor, split name), both of the same size <= n, as ``data``.

    Without a validation split the training set is cut in two disjoint halves.
    Both sets are transformed alike (:func:`as_reference`), so the floor is
    measured with the same ruler as the model.
    """
    if val is not None:
        m = min(n, len(val), len(train))
        held, floor, split = val.get(slice(0, m)).x, train.get(slice(0, m)).x, "val"
    else:
        m = min(n, len(train) // 2)
        held, floor, split = train.get(slice(0, m)).x, train.get(slice(m, 2 * m)).x, "train-halves"
    return as_reference(held, data), as_reference(floor, data), split


class ImageReference:
    """Features of the held-out and floor image sets, and the floor scores, for one feature space."""

    def __init__(
        self, extractor: FeatureExtractor, held_out: torch.Tensor, floor_set: torch.Tensor, inception: Any = None, data: str = "as loaded"
    ):
        """``held_out`` and ``floor_set`` are already ``data`` (:func:`reference_sets` makes them so); ``data`` labels the scores."""
        if len(held_out) < 2 or len(floor_set) < 2:
            raise ValueError(f"need at least 2 real images per set, got {len(held_out)} and {len(floor_set)}")
        self.data = data
        self.extractor = extractor
        self.inception = inception
        self.real_f, self.real_p = extractor.features_and_probs(held_out)
        floor_f, floor_p = extractor.features_and_probs(floor_set)
        self.floor: dict[str, Any] = {
            "fid_floor": fid_from_features(floor_f, self.real_f),
            "kid_floor": kid(floor_f, self.real_f)[0],
        }
        if len(floor_f) > PR_K and len(self.real_f) > PR_K:
            p, r = precision_recall(self.real_f, floor_f, PR_K)
            self.floor.update(precision_floor=p, recall_floor=r)
        if self.real_p is not None:
            self.floor["classifier_score_real"] = classifier_score(self.real_p)["classifier_score"]
        self.real_inc = None
        if inception is not None:
            self.real_inc = inception.features(held_out)
            self.floor["fid_inception_floor"] = fid_from_features(inception.features(floor_set), self.real_inc)

    @property
    def n(self) -> int:
        return len(self.real_f)

    def score(self, samples: torch.Tensor, labels: torch.Tensor | None = None, full: bool = True) -> dict[str, Any]:
        """FID and KID (and with ``full`` precision/recall, classifier score, Inception FID) of ``samples``.

        Samples with a NaN or infinite value (a diverged model, a flow inverse that overflowed) are left
        out and counted in ``nonfinite_samples``, as the points reference does; with fewer than 2 finite
        samples every score is NaN.
        """
        finite = torch.isfinite(samples.detach().reshape(len(samples), -1)).all(1)
        out: dict[str, Any] = {"features": self.extractor.description, "reference_data": self.data}
        if not bool(finite.all()):
            out["nonfinite_samples"] = int((~finite).sum())
            samples = samples[finite]
            labels = labels[finite.to(labels.device)] if labels is not None else None
            if len(samples) < 2:
                return {**out, "fid": math.nan, "kid": math.nan, "fid_floor": self.floor["fid_floor"], "kid_floor": self.floor["kid_floor"]}
        f, probs = self.extractor.features_and_probs(samples)
        out["fid"] = fid_from_features(f, self.real_f)
        out["kid"], kid_std = kid(f, self.real_f)
        if kid_std is not None:  # only when subsets were drawn (sets larger than KID's subset size)
            out["kid_std"] = kid_std
        out["fid_floor"], out["kid_floor"] = self.floor["fid_floor"], self.floor["kid_floor"]
        if not full:
            return out
        if len(f) > PR_K and len(self.real_f) > PR_K:  # k-NN radii need more than k points
            out["precision"], out["recall"] = precision_recall(self.real_f, f, PR_K)
            out["pr_k"] = PR_K
        out.update(self.floor)
        if probs is not None:
            cs = classifier_score(probs)
            out.update(cs)
            if labels is not None:
                # A conditional model asked for these classes: how often does the classifier agree?
                out["label_accuracy"] = float((probs.argmax(1) == labels.cpu()).double().mean())
        if self.inception is not None:
            out["fid_inception"] = fid_from_features(self.inception.features(samples), self.real_inc)
            out["inception_weights"] = str(self.inception.path)
        return out


class PointsReference:
    """Held-out and floor point sets: MMD (fixed bandwidth), precision/recall in coordinates, modes on 8gaussians."""

    def __init__(self, held_out: torch.Tensor, floor_set: torch.Tensor, dataset_id: str):
        if len(held_out) < 2 or len(floor_set) < 2:
            raise ValueError(f"need at least 2 real points per set, got {len(held_out)} and {len(floor_set)}")
        self.data = "as loaded"
        self.real = held_out.double().cpu()
        self.dataset_id = dataset_id
        self.bandwidth = median_bandwidth(self.real)
        floor = floor_set.double().cpu()
        self.floor: dict[str, Any] = {"mmd2_floor": mmd2_unbiased(floor, self.real, self.bandwidth)}
        if len(floor) > PR_K and len(self.real) > PR_K:
            p, r = precision_recall(self.real, floor, PR_K)
            self.floor.update(precision_floor=p, recall_floor=r)
        if dataset_id == "8gaussians":
            covered, good, _ = mode_coverage(floor)
            self.floor.update(modes_covered_floor=covered, high_quality_fraction_floor=good)

    @property
    def n(self) -> int:
        return len(self.real)

    def score(self, samples: torch.Tensor, labels: torch.Tensor | None = None, full: bool = True) -> dict[str, Any]:
        x = samples.detach().double().cpu().reshape(len(samples), -1)
        finite = torch.isfinite(x).all(1)
        out: dict[str, Any] = {"features": "raw coordinates", "reference_data": self.data}
        out["mmd2"] = mmd2_unbiased(x[finite], self.real, self.bandwidth) if int(finite.sum()) >= 2 else math.nan
        out["mmd2_floor"] = self.floor["mmd2_floor"]
        if self.dataset_id == "8gaussians":
            out["modes_covered"], out["high_quality_fraction"], _ = mode_coverage(x.float())
            out["num_modes"] = 8
        if not full:
            return out
        if int(finite.sum()) > PR_K and len(self.real) > PR_K:
            out["precision"], out["recall"] = precision_recall(self.real, x[finite], PR_K)
            out["pr_k"] = PR_K
        out.update(self.floor)
        return out


class EvaluationCancelled(Exception):
    """Raised between batches when an evaluation's ``should_stop`` says stop (nothing is saved)."""


def check_stop(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise EvaluationCancelled("evaluation cancelled")


def draw_samples(
    model: Any,
    n: int,
    kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    batch: int = 256,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """(samples on CPU, labels or None, seconds) from ``model``, without touching the global RNG or its mode.

    Conditional models get balanced labels 0, 1, ..., K-1, 0, ... (as ``genstudio sample`` does),
    so the sample set has the held-out set's class mix. ``should_stop`` is
    asked before each batch; when it says stop, :class:`EvaluationCancelled` is raised.
    """
    from genstudio.core.capabilities import Conditional

    kwargs = dict(kwargs or {})
    conditional = isinstance(model, Conditional) and model.num_classes > 0
    was_training = model.training
    dev = model.device
    devices = [dev] if dev.type == "cuda" else []
    chunks, label_chunks = [], []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            g = torch.Generator().manual_seed(seed)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            t0 = time.perf_counter()
            with torch.no_grad():
                for i in range(0, n, batch):
                    check_stop(should_stop)
                    k = min(batch, n - i)
                    if conditional:
                        lab = torch.arange(i, i + k) % model.num_classes
                        chunks.append(model.sample_conditional(lab.to(dev), generator=g, **kwargs).float().cpu())
                        label_chunks.append(lab)
                    else:
                        chunks.append(model.sample(k, generator=g, **kwargs).float().cpu())
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            seconds = time.perf_counter() - t0
        finally:
            model.train(was_training)
    return torch.cat(chunks), (torch.cat(label_chunks) if label_chunks else None), seconds


def count_nfe(model: Any, kwargs: dict[str, Any] | None = None) -> int | None:
    """Network evaluations per sample: the length of a diffusion chain or of an autoregressive generation.

    Runs one single-sample chain (a small fraction of the cost of the
    evaluation's samples). One decoder pass for GANs and autoencoders; for
    flows one pass through the flow, or D where sampling is the slow
    direction (MAF); None where the number is not known.
    """
    from genstudio.core.capabilities import Autoregressive, Conditional, Denoiser, Invertible, Latent

    kwargs = dict(kwargs or {})
    was_training = model.training
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            g = torch.Generator().manual_seed(0)
            with torch.no_grad():
                if isinstance(model, Denoiser):
                    if isinstance(model, Conditional) and model.num_classes > 0 and "labels" in model.sample_options():
                        kwargs["labels"] = torch.zeros(1, dtype=torch.long)
                    last = None
                    for last in model.denoise_steps(1, g, **kwargs):
                        pass
                    return int(getattr(last, "nfe", 0)) or None
                if isinstance(model, Autoregressive):
                    return sum(1 for _ in model.generate_steps(1, g))
        finally:
            model.train(was_training)
    if isinstance(model, Invertible):
        return getattr(model, "sampling_nfe", None)
    if isinstance(model, Latent):
        return 1
    return None


#: The samples of the in-training metrics come from this seed, so successive values differ by the model only.
QUALITY_SEED = 4321


class QualityTracker:
    """FID/KID (images) or MMD^2 (points) during training, at a fixed n, with the floors computed once.

    Samples use the sampler the previews and ``genstudio eval`` use
    (``core.previews.sampling_settings``: the model's ``preview_kwargs``, e.g.
    20 DDIM steps), so the curve scores what the preview grids show. Audio
    has no sample metric and is skipped.
    """

    def __init__(self, dataset_id: str, train_ds: Any, val_ds: Any, n: int, device: torch.device):
        self.dataset_id, self.train_ds, self.val_ds = dataset_id, train_ds, val_ds
        self.n, self.device = n, device
        self.kind = train_ds.info.kind
        self.reference: ImageReference | PointsReference | None = None

    @property
    def ready(self) -> bool:
        return self.reference is not None

    def prepare(self, model: Any = None) -> str:
        """Build the reference for ``model``'s data (may train and cache the feature network); returns what it compares in.

        Without a model the reference is the data as loaded.
        """
        from genstudio.data.dataset import Dataset

        from .features import feature_extractor

        data = reference_data(model) if self.kind == "image" else "as loaded"
        real, floor_set, _ = reference_sets(self.train_ds, self.val_ds, self.n, data)
        if self.kind == "image":
            parts = [d for d in (self.train_ds, self.val_ds) if d is not None]
            full = Dataset(torch.cat([d.x for d in parts]), torch.cat([d.y for d in parts]), self.train_ds.info)
            self.reference = ImageReference(feature_extractor(full, self.dataset_id, self.device), real, floor_set, data=data)
            where = self.reference.extractor.description
            return where + (", against binarised real images" if data == "binarised" else "")
        self.reference = PointsReference(real, floor_set, self.dataset_id)
        return "raw coordinates"

    def measure(self, model: Any) -> dict[str, float]:
        """The in-training metrics of ``model`` now (training RNG and mode untouched)."""
        if self.reference is None or (self.kind == "image" and self.reference.data != reference_data(model)):
            self.prepare(model)
        assert self.reference is not None
        from genstudio.core.previews import sampling_settings

        samples, labels, _ = draw_samples(model, self.reference.n, sampling_settings(model), seed=QUALITY_SEED)
        out = self.reference.score(samples, labels, full=False)
        keep = ("fid", "fid_floor", "kid", "kid_floor", "mmd2", "mmd2_floor", "modes_covered", "high_quality_fraction")
        return {k: float(out[k]) for k in keep if k in out}
