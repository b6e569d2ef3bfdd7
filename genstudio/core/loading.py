"""Building a run's parts from its spec, and loading a run's model back from its folder.

The engine builds a new run with :func:`prepare` (data through the registry,
the model, its speed-ups); everything that opens a finished or live run
(``genstudio sample`` and ``eval``, the metrics, the studio's panels) rebuilds
its model with :func:`load_run_model`. Both go through the registry only, so
this module, like the rest of ``core``, imports no model, dataset or metric
module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from . import device as devmod
from . import distributed
from . import speedups as speedmod
from .capabilities import capabilities_of
from .config import ConfigError
from .data_types import DataInfo, DataOptions, TrainingData
from .model import DataMismatchError, GenerativeModel
from .registry import get_dataset_loader, get_model_class
from .runs import RunError, RunFolder
from .spec import RunSpec


def build_model(spec: RunSpec, data_info: DataInfo, device: torch.device) -> GenerativeModel:
    """Seed, then build the model named in ``spec`` for ``data_info`` on ``device``."""
    devmod.seed_everything(spec.run.seed)
    cls = get_model_class(spec.run.model)
    try:
        model = cls(spec.model, data_info)
    except DataMismatchError:
        raise
    except ValueError as e:  # settings that pass their own bounds but not together (aug_max >= timesteps): a usage error
        raise ConfigError(f"model '{spec.run.model}' cannot be built with these settings: {e}") from None
    return model.to(device)


def load_data(dataset_id: str, options: DataOptions) -> TrainingData:
    """The dataset registered under ``dataset_id``, loaded with ``options`` (loaders raise their own one-line errors)."""
    ds = get_dataset_loader(dataset_id)(options)
    if not isinstance(ds, TrainingData):
        raise ConfigError(
            f"the loader of dataset '{dataset_id}' returned {type(ds).__name__}, not a dataset "
            "(genstudio.data.dataset.Dataset, or an object with info, split, batches, get and problem_summary)"
        )
    return ds


def run_speedups(spec: RunSpec, model: GenerativeModel, device: torch.device) -> speedmod.Speedups:
    """The run's channels-last / autocast / compile switches, ``auto`` resolved for this model and device."""
    rc = spec.run
    return speedmod.resolve(rc.channels_last, rc.autocast, rc.compile, model, device)


def prepare(spec: RunSpec, gui: bool = False, dctx: distributed.DistContext = distributed.SINGLE):
    """Validate and build everything that can fail on bad input, before any run folder exists.

    Returns (device, threads, train set, validation set or None, model, the whole dataset).
    Raises ConfigError, DataError, DataMismatchError with a one-line message.
    """
    threads = devmod.configure_threads(spec.run.threads or dctx.threads_per_process(), gui)
    device = devmod.resolve_device(spec.run.device)
    if dctx.active and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())  # this rank's GPU (distributed.setup)
    ds = load_data(spec.run.dataset, spec.data)
    train_ds, val_ds = ds.split(spec.data.val_fraction, spec.data.seed)
    model = build_model(spec, ds.info, device)
    speedmod.apply(model, run_speedups(spec, model, device))
    return device, threads, train_ds, val_ds, model, ds


def trainer_state(model: GenerativeModel, step: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a checkpoint keeps beside the weights: the step, optimiser and scheduler state, the RNG state."""
    return {
        "step": step,
        "optimizers": {k: o.state_dict() for k, o in model.optimizers().items()},
        "schedulers": {k: s.state_dict() for k, s in model.schedulers().items()},
        "rng": devmod.rng_state(),
        **(extra or {}),
    }


def restore(model: GenerativeModel, weights: dict[str, torch.Tensor], state: dict[str, Any] | None) -> None:
    """Load weights (strictly) and, when given, optimiser, scheduler and RNG state."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RunError(
            f"checkpoint does not match the model: missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    if state is None:
        return
    for name, opt in model.optimizers().items():
        if name in state.get("optimizers", {}):
            opt.load_state_dict(state["optimizers"][name])
    for name, sch in model.schedulers().items():
        if name in state.get("schedulers", {}):
            sch.load_state_dict(state["schedulers"][name])
    if "rng" in state:
        devmod.set_rng_state(state["rng"])


def load_run_model(run_dir: str | Path, step: int | None = None, device: str = "auto") -> tuple[GenerativeModel, RunSpec, int]:
    """Rebuild a run's model from its config and load a checkpoint (the latest by default)."""
    run = RunFolder(run_dir)
    if not run.path.is_dir():
        raise RunError(f"run folder '{run.path}' does not exist")
    spec = run.spec()
    meta = run.meta
    if "data_info" not in meta:
        raise RunError(f"'{run.meta_path}' has no data_info; the run folder is incomplete")
    info = DataInfo.from_dict(meta["data_info"])
    dev = devmod.resolve_device(device)
    # The checkpoint replaces the initial weights, so the build's seeding only matters to others: a panel
    # loading a run while another trains must not reseed the global generator the training thread draws from.
    with torch.random.fork_rng(devices=[]):
        model = build_model(spec, info, dev)
    with run.pin(step) as chosen:  # a live run's retention skips the checkpoint while it is read
        ckpt_step, weights, _ = run.load_checkpoint(chosen, with_state=False)
    restore(model, {k: v.to(dev) for k, v in weights.items()}, None)
    model.eval()
    return model, spec, ckpt_step


def run_capabilities(run_dir: str | Path) -> list[str]:
    """The capabilities of a run's model as the code defines them now.

    ``meta.json`` records them when the run is created; a model that gained a
    capability since (dcgan became ``Adversarial``) should get its panel for
    old runs too. The model is only constructed (no weights loaded), under a
    forked RNG so a training thread's random stream is not touched. A run whose
    model no longer builds still opens, with the capabilities it recorded.
    """
    run = RunFolder(run_dir)
    meta = run.meta
    try:
        spec = run.spec()
        info = DataInfo.from_dict(meta["data_info"])
        with torch.random.fork_rng(devices=[]):
            model = get_model_class(spec.run.model)(spec.model, info)
        return capabilities_of(model)
    except Exception:  # noqa: BLE001 - fall back to the record; opening the run must not fail here
        return list(meta.get("capabilities") or [])
