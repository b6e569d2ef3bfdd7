"""Config fields that name a run folder (``kind="run"``, e.g. the autoencoder of ``ldm``).

Which finished runs can fill such a field (:func:`run_choices`), why a chosen
folder cannot (:func:`run_problem`: not a run, another model, unfinished, no
checkpoint, data of another shape; the check itself is Qt-free in
``core/run_refs.py``, so the model and the command line say the same), and
the combo that lists them (:class:`RunCombo`).
The form itself is :mod:`genstudio.ui.config_form`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox

from genstudio.core.config import ParamSpec
from genstudio.core.run_refs import FINISHED, RunFacts, fits, run_facts, run_ref_problem, shape_text  # noqa: F401  (FINISHED, shape_text: this module's names for the form)
from genstudio.core.runs import RunError, list_runs

#: The data of the last item of a run combo: opens a folder dialog.
BROWSE = "\x00browse"


@dataclass(frozen=True)
class RunContext:
    """What a run field checks against: the runs folder, and the dataset the form's model will train on."""

    root: Path | None = None
    dataset: str = ""
    shape: tuple[int, ...] | None = None


#: A run the combo offers: what :func:`genstudio.core.run_refs.run_facts` reads from its folder.
RunChoice = RunFacts


def run_choices(root: str | Path | None, accepts: Iterable[str] | None, shape: tuple[int, ...] | None = None) -> list[RunChoice]:
    """Finished runs under ``root`` of an accepted model, with a checkpoint, on data of ``shape`` (any when None); newest first."""
    if root is None:
        return []
    out = []
    for run in list_runs(root):
        try:
            c = run_facts(run.path)
        except RunError:
            continue  # a broken folder is the runs browser's to show, not a choice here
        if fits(c, accepts, shape):
            out.append(c)
    return out


def run_problem(spec: ParamSpec, value: str, context: RunContext) -> str | None:
    """Why the run folder ``value`` cannot fill the run field ``spec`` (None when it can): the check the model and
    the command line make too (:func:`genstudio.core.run_refs.run_ref_problem`)."""
    return run_ref_problem(spec.name, spec.accepts, value, context.shape, context.dataset)


class RunCombo(QComboBox):
    """A combo that re-reads the runs folder each time its list opens (a run may have finished meanwhile)."""

    aboutToShow = Signal()

    def showPopup(self) -> None:  # noqa: N802 - Qt's name
        self.aboutToShow.emit()
        super().showPopup()
