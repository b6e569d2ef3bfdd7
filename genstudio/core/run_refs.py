"""A config field that names "a finished run of model X" (``param(..., kind="run", accepts=(...))``), checked
and loaded the same way by the form, the command line and the model that uses it.

``ldm`` takes its autoencoder this way and ``vq-prior`` its VQ-VAE: both are
built on top of another run's frozen model. :func:`run_facts` reads what a
run folder is (model, dataset, data shape, status, newest checkpoint);
:func:`run_ref_problem` says in one line why a folder cannot fill a field (it
is not a run, holds another model, has not finished, has no checkpoint, or
was trained on data of another shape), naming the run and the mismatch; and
:func:`load_run_ref` checks, then returns the run's model at its latest
checkpoint, frozen, or raises :class:`RunRefError` with that line (a usage
error: exit code 2 on the command line, before any run folder exists).
Qt-free: the studio's run combo (``ui/run_field.py``) calls the same check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from .data_types import DataInfo
from .model import DataMismatchError, GenerativeModel
from .registry import get_model_class
from .runs import RunError, RunFolder

#: Statuses of a run whose weights are final: what a run field accepts.
FINISHED = ("completed", "stopped")


class RunRefError(DataMismatchError):
    """A run field names a folder that cannot serve: the message names the run and what does not fit."""


@dataclass(frozen=True)
class RunFacts:
    """What a run folder holds, as a run field needs to know it."""

    path: str
    model: str
    dataset: str
    shape: tuple[int, ...] | None
    step: int  # newest checkpoint, -1 when none
    status: str

    @property
    def label(self) -> str:
        return f"{Path(self.path).name} · {self.model} on {self.dataset}, step {self.step:,}"


def shape_text(shape: tuple[int, ...] | None) -> str:
    return " x ".join(str(v) for v in shape) if shape else "?"


def run_facts(path: str | Path) -> RunFacts:
    """Model, dataset, data shape, checkpoint and status of a run folder; RunError when it is not one."""
    run = RunFolder(Path(path).expanduser())
    if not run.path.is_dir():
        raise RunError(f"'{path}' does not exist")
    if not run.exists():
        raise RunError(f"'{path}' is not a run folder (it has no config.toml and meta.json)")
    meta = run.meta
    info = meta.get("data_info") or {}
    shape = tuple(int(v) for v in info["shape"]) if info.get("shape") else None
    step = run.latest_checkpoint()
    return RunFacts(str(run.path), str(meta.get("model", "?")), str(meta.get("dataset", "?")), shape, -1 if step is None else step, str(meta.get("status", "?")))


def fits(facts: RunFacts, accepts: Iterable[str] | None, shape: tuple[int, ...] | None = None) -> bool:
    """A finished run of an accepted model, with a checkpoint, on data of ``shape`` (any when None)."""
    wanted = set(accepts) if accepts is not None else None
    return (
        (wanted is None or facts.model in wanted)
        and facts.status in FINISHED
        and facts.step >= 0
        and (shape is None or facts.shape == tuple(shape))
    )


def run_ref_problem(
    field: str, accepts: Iterable[str] | None, value: str, shape: tuple[int, ...] | None = None, dataset: str = ""
) -> str | None:
    """Why the run folder ``value`` cannot fill the run field ``field`` (None when it can), in one line."""
    accepts = tuple(accepts) if accepts is not None else None
    models = ", ".join(accepts) if accepts else "a trained model"
    if not value:
        return f"setting '{field}' needs a run: choose a finished run of {models} (train one first if the list is empty)"
    try:
        c = run_facts(value)
    except RunError as e:
        return f"setting '{field}': {e}"
    name = Path(value).name
    if accepts is not None and c.model not in accepts:
        return f"setting '{field}': '{name}' is a {c.model} run; choose a run of {models}"
    if c.status not in FINISHED:
        return f"setting '{field}': '{name}' is {c.status}, not finished; wait until it completes (or stop it), then choose it"
    if c.step < 0:
        return f"setting '{field}': '{name}' has no checkpoint yet; let it train until it saves one"
    if shape is not None and c.shape is not None and c.shape != tuple(shape):
        here = f"{dataset} ({shape_text(shape)})" if dataset else shape_text(shape)
        return (
            f"setting '{field}': '{name}' was trained on {c.dataset} ({shape_text(c.shape)}), "
            f"but this run's data is {here}; choose a run on data of this shape, or train one"
        )
    return None


def load_run_ref(
    field: str, accepts: Iterable[str] | None, value: str, shape: tuple[int, ...] | None = None, dataset: str = ""
) -> GenerativeModel:
    """The model of the run ``value`` at its latest checkpoint, on the CPU, frozen and in eval mode.

    Raises :class:`RunRefError` with :func:`run_ref_problem`'s line when the run cannot fill ``field``.
    """
    problem = run_ref_problem(field, accepts, value, shape, dataset)
    if problem is not None:
        raise RunRefError(problem)
    run = RunFolder(Path(value).expanduser())
    spec = run.spec()
    if "data_info" not in run.meta:
        raise RunRefError(f"setting '{field}': '{run.meta_path}' has no data_info; the run folder is incomplete")
    model = get_model_class(spec.run.model)(spec.model, DataInfo.from_dict(run.meta["data_info"]))
    _, weights, _ = run.load_checkpoint(None, with_state=False)
    model.load_state_dict(weights)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
