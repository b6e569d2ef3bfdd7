"""``genstudio eval``: every metric a run's model supports, as one dict, also appended to ``evals.jsonl``.

- Validation metrics from ``model.evaluate`` on held-out data (loss, ELBO
  terms, ...), and for models with a likelihood ``nll_nats`` (per example)
  and ``bits_per_dim`` (images and audio), labelled ``likelihood``: "exact"
  (autoregressive models, flows) or "bound" (VAEs: the importance-weighted
  bound ``nll_iw``; DDPM: the variational bound), and ``likelihood_data``, what
  it is a probability of ("8-bit", "binarised", ...; core.capabilities.LIKELIHOOD_DATA).
- Sample quality (genstudio/metrics/quality.py): for images FID, KID,
  precision/recall in the dataset's own feature network, classifier score and
  class coverage, optionally the Inception FID; for 2-D points MMD^2,
  precision/recall in coordinates and, on 8gaussians, modes covered. Every
  score comes with its floor (real training data against the same held-out
  data, at the same n), and ``features`` names the feature space;
  ``reference_data`` says what the real side is (``binarised`` for a model of
  binarised images, whose reference and floor are thresholded alike).
- Sampling cost: ``sampling_seconds``, ``samples_per_second``, ``nfe``
  (network evaluations per sample) and the ``sampler`` / ``steps`` used, so
  NFE against quality can be plotted from ``evals.jsonl``. Audio has no
  sample-quality score yet; its sampling cost is timed on a few clips.

Key names are a contract with the compare view; see :data:`KEYS`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import torch

from genstudio.core.capabilities import Likelihood
from genstudio.core.config import ConfigError
from genstudio.core.loading import load_run_model
from genstudio.data.dataset import load_dataset

from .quality import EvaluationCancelled, ImageReference, PointsReference, check_stop, count_nfe, draw_samples, reference_data, reference_sets  # noqa: F401  (EvaluationCancelled: raised here, caught by callers)

EVALS_FILE = "evals.jsonl"
#: Audio clips drawn to time sampling (one WaveNet clip is thousands of sequential passes).
AUDIO_TIMING_CLIPS = 4

#: The keys a reader of ``evals.jsonl`` can rely on, where they apply to the run's model and data.
KEYS = (
    "run", "model", "dataset", "checkpoint_step", "n", "split", "time",
    "sampler", "steps", "temperature", "nfe", "sampling_seconds", "samples_per_second",
    "features", "reference_data", "fid", "fid_floor", "kid", "kid_std", "kid_floor",
    "precision", "recall", "precision_floor", "recall_floor", "pr_k",
    "classifier_score", "classifier_score_real", "confidence", "class_coverage", "num_classes", "label_accuracy",
    "fid_inception", "fid_inception_floor", "inception_weights",
    "bits_per_dim", "nll_nats", "likelihood", "likelihood_data",
    "mmd2", "mmd2_floor", "modes_covered", "high_quality_fraction", "num_modes",
)


def sampling_kwargs(model: Any, sampler: str | None, steps: int | None, temperature: float | None = None,
                    eta: float | None = None) -> dict[str, Any]:
    """Keyword arguments for ``model.sample``: the previews' settings with the validated options given over them.

    ConfigError when an option does not apply: ``sampler`` and ``steps`` (diffusion models), ``eta`` (DDIM),
    ``temperature`` (the prior's or the logits' scale: flows, autoregressive models, the autoencoders; Glow
    section 5 samples at 0.7). Without options this is what the preview grids and the in-training metrics draw
    with (``core.previews.sampling_settings``), so eval scores what the user saw.
    """
    from genstudio.core.previews import sampling_settings

    kwargs: dict[str, Any] = {}
    options = model.sample_options()
    name = type(model).__name__
    for key, value in (("sampler", sampler), ("steps", steps), ("temperature", temperature), ("eta", eta)):
        if value is None:
            continue
        if key not in options:
            raise ConfigError(f"model '{name}' has no '{key}' sampling option; it takes: {', '.join(options) or 'none'}")
        kwargs[key] = value
    choices = model.sample_choices() if hasattr(model, "sample_choices") else {}
    if "sampler" in kwargs and "sampler" in choices and kwargs["sampler"] not in choices["sampler"]:
        raise ConfigError(f"unknown sampler '{kwargs['sampler']}'; choose from {', '.join(map(str, choices['sampler']))}")
    if "steps" in kwargs:
        if kwargs["steps"] < 1:
            raise ConfigError(f"steps must be at least 1, got {kwargs['steps']}")
        schedule = getattr(model, "schedule", None)
        total = getattr(schedule, "num_timesteps", None)
        if total is not None and kwargs["steps"] > total:
            raise ConfigError(f"steps must be at most the model's {total} diffusion steps, got {kwargs['steps']}")
    if "temperature" in kwargs and not (math.isfinite(kwargs["temperature"]) and kwargs["temperature"] >= 0):
        raise ConfigError(f"temperature must be 0 or more (1 samples the model as trained), got {kwargs['temperature']}")
    return sampling_settings(model, **kwargs)


def _likelihood(result: dict[str, Any], model: Any) -> None:
    """Label the model's own likelihood numbers with the contract's names."""
    if not isinstance(model, Likelihood):
        return
    result["likelihood"] = "exact" if model.exact_likelihood else "bound"
    data = getattr(model, "likelihood_data", None)
    if data is not None:
        result["likelihood_data"] = data
    nll = result.get("nll", result.get("nll_iw"))
    if nll is not None:
        result["nll_nats"] = nll
    if "bpd" in result:
        result["bits_per_dim"] = result["bpd"]


def _finite(value: Any) -> Any:
    """NaN and infinities become None, so the line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_run(
    run_dir: str | Path,
    n: int = 1000,
    checkpoint: int | None = None,
    device: str = "auto",
    sampler: str | None = None,
    steps: int | None = None,
    save: bool = True,
    inception: str | Path | None = None,
    seed: int = 0,
    should_stop: Callable[[], bool] | None = None,
    temperature: float | None = None,
) -> dict[str, Any]:
    """Evaluate one checkpoint of a run (the latest by default) on up to ``n`` held-out examples and ``n`` samples.

    ``sampler`` / ``steps`` go to the model's sampler (diffusion models), ``temperature`` to models that
    take one (``sampling_kwargs``);
    ``inception`` (or ``$GENSTUDIO_INCEPTION_WEIGHTS``) names local
    Inception-v3 weights for the standard FID. With ``save`` the result is
    appended as one JSON line to ``<run_dir>/evals.jsonl``. ``should_stop``
    is asked between batches (validation, sampling, scoring); when it says
    stop, :class:`EvaluationCancelled` is raised and nothing is saved, so a
    window can cancel an evaluation, or close, without killing a thread.
    """
    from .inception import InceptionFeatures, inception_weights_path

    if n < 2:
        raise ConfigError(f"n must be at least 2, got {n}")
    inception_path = inception_weights_path(inception)
    model, spec, step = load_run_model(run_dir, checkpoint, device)
    kwargs = sampling_kwargs(model, sampler, steps, temperature)
    ds = load_dataset(spec.run.dataset, spec.data)
    train_ds, val = ds.split(spec.data.val_fraction, spec.data.seed)
    held_out = val if val is not None else ds
    n_used = min(n, len(held_out))
    result: dict[str, Any] = {
        "run": str(run_dir),
        "model": spec.run.model,
        "dataset": spec.run.dataset,
        "checkpoint_step": step,
        "n": n_used,
        "split": "val" if val is not None else "train",
        "time": time.time(),
        "sampler": kwargs.get("sampler"),
        "steps": kwargs.get("steps"),
    }
    if temperature is not None:  # the scores below are of samples at this temperature, not the model's default
        result["temperature"] = kwargs["temperature"]

    # 1. The model's own validation metrics, averaged over held-out batches with fixed noise.
    sums: dict[str, float] = {}
    seen = 0
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)
        bs = 256
        for i in range(0, n_used, bs):
            check_stop(should_stop)
            b = held_out.get(slice(i, min(i + bs, n_used))).to(model.device)
            w = len(b.x)
            for k, v in model.evaluate(b).items():
                sums[k] = sums.get(k, 0.0) + float(v) * w
            seen += w
    result.update({k: v / seen for k, v in sums.items()})
    _likelihood(result, model)

    # 2. Sample quality against real data, with floors.
    kind = model.data_info.kind
    if kind in ("image", "points"):
        data = reference_data(model) if kind == "image" else "as loaded"
        real, floor_set, ref_split = reference_sets(train_ds, val, n, data)
        if kind == "image":
            from .features import feature_extractor

            extractor = feature_extractor(ds, spec.run.dataset, model.device)
            inc = InceptionFeatures(inception_path, model.device) if inception_path is not None else None
            reference: ImageReference | PointsReference = ImageReference(extractor, real, floor_set, inc, data=data)
        else:
            reference = PointsReference(real, floor_set, spec.run.dataset)
        samples, labels, seconds = draw_samples(model, len(real), kwargs, seed=seed, should_stop=should_stop)
        check_stop(should_stop)
        result.update(reference.score(samples, labels))
        result["n_samples"] = len(samples)
        result["reference_split"] = ref_split
        result["sampling_seconds"] = seconds
        result["samples_per_second"] = len(samples) / seconds if seconds > 0 else None
        result["nfe"] = count_nfe(model, kwargs)
    elif kind == "audio":
        # No feature network for sound yet: time a few clips so the sampling cost is still on record.
        samples, _, seconds = draw_samples(model, min(n, AUDIO_TIMING_CLIPS), kwargs, seed=seed, should_stop=should_stop)
        result["n_samples"] = len(samples)
        result["sampling_seconds"] = seconds
        result["samples_per_second"] = len(samples) / seconds if seconds > 0 else None
        result["nfe"] = count_nfe(model, kwargs)

    result = {k: _finite(v) for k, v in result.items()}
    check_stop(should_stop)  # the last chance: a cancelled evaluation leaves no line in evals.jsonl
    if save:
        with open(Path(run_dir) / EVALS_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(result, sort_keys=True) + "\n")
    return result


def read_evals(run_dir: str | Path) -> list[dict[str, Any]]:
    """The results appended to ``<run_dir>/evals.jsonl``, oldest first (a torn last line is skipped)."""
    path = Path(run_dir) / EVALS_FILE
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
