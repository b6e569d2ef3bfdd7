"""Config fields that name a run folder (``kind="run"``, e.g. the autoencoder of ``ldm``).

Which finished runs can fill such a field (:func:`run_choices`), why a chosen
folder cannot (:func:`run_problem`: not a run, another model, no checkpoint,
data of another shape), and the combo that lists them (:class:`RunCombo`).
The form itself is :mod:`genstudio.ui.config_form`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from genstudio.core.config import ParamSpec
from genstudio.core.runs import RunError, RunFolder, list_runs

#: Statuses of a run whose weights are final: what a run field offers.
FINISHED = ("completed", "stopped")
#: The data of the last item of a run combo: opens a folder dialog.
BROWSE = "\x00browse"


@dataclass(frozen=True)
class RunContext:
    """What a run field checks against: the runs folder, and the dataset the form's model will train on."""

    root: Path | None = None
    dataset: str = ""
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class RunChoice:
    path: str
    model: str
    dataset: str
    shape: tuple[int, ...] | None
    step: int
    status: str

    @property
    def label(self) -> str:
        return f"{Path(self.path).name} · {self.model} on {self.dataset}, step {self.step:,}"


def shape_text(shape: tuple[int, ...] | None) -> str:
    return " x ".join(str(v) for v in shape) if shape else "?"


def _run_facts(path: str | Path) -> RunChoice:
    """Model, dataset, data shape, checkpoint and status of a run folder; RunError when it is not one."""
    run = RunFolder(path)
    if not run.path.is_dir():
        raise RunError(f"'{path}' does not exist")
    if not run.exists():
        raise RunError(f"'{path}' is not a run folder (it has no config.toml and meta.json)")
    meta = run.meta
    info = meta.get("data_info") or {}
    shape = tuple(int(v) for v in info["shape"]) if info.get("shape") else None
    step = run.latest_checkpoint()
    return RunChoice(str(run.path), str(meta.get("model", "?")), str(meta.get("dataset", "?")), shape, -1 if step is None else step, str(meta.get("status", "?")))


def run_choices(root: str | Path | None, accepts: Iterable[str] | None, shape: tuple[int, ...] | None = None) -> list[RunChoice]:
    """Finished runs under ``root`` of an accepted model, with a checkpoint, on data of ``shape`` (any when None); newest first."""
    if root is None:
        return []
    wanted = set(accepts) if accepts is not None else None
    out = []
    for run in list_runs(root):
        try:
            c = _run_facts(run.path)
        except RunError:
            continue  # a broken folder is the runs browser's to show, not a choice here
        if (wanted is None or c.model in wanted) and c.status in FINISHED and c.step >= 0 and (shape is None or c.shape == tuple(shape)):
            out.append(c)
    return out


def run_problem(spec: ParamSpec, value: str, context: RunContext) -> str | None:
    """Why the run folder ``value`` cannot fill the run field ``spec`` (None when it can)."""
    models = ", ".join(spec.accepts) if spec.accepts else "a trained model"
    if not value:
        return f"setting '{spec.name}' needs a run: choose a finished run of {models} (train one first if the list is empty)"
    try:
        c = _run_facts(value)
    except RunError as e:
        return f"setting '{spec.name}': {e}"
    if spec.accepts is not None and c.model not in spec.accepts:
        return f"setting '{spec.name}': '{Path(value).name}' is a {c.model} run; choose a run of {models}"
    if c.step < 0:
        return f"setting '{spec.name}': '{Path(value).name}' has no checkpoint yet; let it train until it saves one"
    if context.shape is not None and c.shape is not None and c.shape != tuple(context.shape):
        here = f"{context.dataset} ({shape_text(context.shape)})" if context.dataset else shape_text(context.shape)
        return (
            f"setting '{spec.name}': '{Path(value).name}' was trained on {c.dataset} ({shape_text(c.shape)}), "
            f"but this run's data is {here}; choose a run on data of this shape, or train one"
        )
    return None


class RunCombo(QComboBox):
    """A combo that re-reads the runs folder each time its list opens (a run may have finished meanwhile)."""

    aboutToShow = Signal()

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        self.aboutToShow.emit()
        super().showPopup()
