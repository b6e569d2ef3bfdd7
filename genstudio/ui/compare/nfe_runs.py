"""The compare view's NFE tab: a diffusion run's cached DDIM evaluations against their step counts.

The points come from the run's evals.jsonl (``sweep: nfe`` lines of its
latest checkpoint); the button asks the compare view to evaluate the step
counts not cached yet (``computeRequested``), one evaluation at a time.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from genstudio.core.runs import RunFolder
from genstudio.metrics import compare as cmp
from genstudio.metrics import nfe_sweep
from genstudio.metrics.compare import RunRow

from ..nfe_quality_view import NfeQualityView

NO_RUN = "Select a diffusion run (a model with a DDIM sampler) to plot sample quality against the number of DDIM steps."


class CachedNfeQualityView(NfeQualityView):
    """:class:`NfeQualityView` fed by one run's cached evaluations."""

    computeRequested = Signal(str, list)  # run path, DDIM step counts not cached yet

    def __init__(self, parent: QWidget | None = None):
        super().__init__(NO_RUN, nfe_sweep.DEFAULT_NFE_STEPS, "Compute missing points", parent)
        self.row: RunRow | None = None
        self.checkpoint: int | None = None
        self.records: list[dict] = []
        self.steps_edit.setToolTip("DDIM step counts to evaluate (each is one evaluation, cached in the run's evals.jsonl)")
        self.run_button.setToolTip("Evaluate the step counts not in evals.jsonl yet, one at a time, off the UI thread")
        self.runRequested.connect(self._compute_missing)
        self.set_row(None)

    def set_row(self, row: RunRow | None) -> None:
        self.row = row if row is not None and row.is_diffusion else None
        if self.row is None:
            self.run_label.setText(NO_RUN)
            self.checkpoint, self.records = None, []
            self.run_button.setEnabled(False)
            self.set_curves([])
            return
        self.checkpoint = RunFolder(self.row.path).latest_checkpoint()
        self.run_label.setText(
            f"<b>{self.row.name}</b> ({self.row.model} on {self.row.dataset}), checkpoint "
            + (f"step {self.checkpoint:,}" if self.checkpoint is not None else "none yet")
        )
        self.run_button.setEnabled(self.checkpoint is not None)
        self.reload()

    def reload(self) -> None:
        """Re-read the cached sweep points of the run shown."""
        if self.row is None:
            return
        self.records = nfe_sweep.sweep_records(self.row.path, self.checkpoint)
        names = nfe_sweep.sweep_metrics(self.records) or ["fid"]
        self.set_curves([nfe_sweep.nfe_curve(self.records, name) for name in names], name=self.row.name)

    def redraw(self) -> None:
        super().redraw()
        if self.row is None:
            return
        points = self.points_text()
        self.status.setText(points or "No DDIM evaluations of this checkpoint yet: press <i>Compute missing points</i>.")

    def _compute_missing(self, steps: list[int]) -> None:
        if self.row is None:
            return
        todo = nfe_sweep.missing_steps(self.row.path, steps, self.checkpoint)
        if not todo:
            self.status.setText("Every step count asked for is already in evals.jsonl (nothing to compute).")
            return
        self.computeRequested.emit(str(self.row.path), todo)
