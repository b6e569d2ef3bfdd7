"""Sample quality during training, as a job the engine runs beside its own (``core/jobs.py``).

The engine does not know this module: the program that starts a run (the
``genstudio train`` command, the studio's training thread, a benchmark)
passes ``training_jobs()`` to ``engine.train(..., jobs=...)``. The job reads
its cadence and size from the run's own settings (``quality_every``,
``quality_n``) when the run starts, and does nothing when ``quality_every`` is
0, so passing it always is right.

This module stays light (no metric code is imported until a run asks for
sample quality), so the command line starts as fast with it as without.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from genstudio.core.events import Event, Notice
from genstudio.core.jobs import Job

if TYPE_CHECKING:
    from genstudio.core.run_state import RunState
    from genstudio.core.spec import RunSpec

#: Curve groups for the in-training metrics (added to the run's metric groups when it measures them).
QUALITY_GROUPS: dict[str, list[str]] = {
    "Sample quality: FID": ["fid", "fid_floor"],
    "Sample quality: KID": ["kid", "kid_floor"],
    "Sample quality: MMD²": ["mmd2", "mmd2_floor"],
    "Sample quality: modes": ["modes_covered"],
}


def training_jobs() -> list[Job]:
    """The jobs from ``genstudio.metrics`` that every training run should carry."""
    return [QualityJob()]


class QualityJob(Job):
    """FID/KID (images) or MMD² (points) every ``quality_every`` steps and at the last step, on rank 0.

    The first measurement builds the reference (it may train and cache the
    feature network) and says what it compares in, once, in a Notice.
    """

    serves = "quality_every"

    def __init__(self) -> None:
        self.tracker: Any = None

    def metric_groups(self, spec: RunSpec) -> dict[str, list[str]]:
        return dict(QUALITY_GROUPS) if spec.run.quality_every > 0 else {}

    def start(self, state: RunState) -> Iterator[Event]:
        self.tracker = None
        rc = state.rc
        # Rank 0 only, like validation; audio has no sample metric.
        if rc.quality_every > 0 and state.is_main and state.info.kind in ("image", "points"):
            from .quality import QualityTracker

            self.tracker = QualityTracker(rc.dataset, state.train_ds, state.val_ds, rc.quality_n, state.device)
        return iter(())

    def after_step(self, state: RunState) -> Iterator[Event]:
        rc = state.rc
        if self.tracker is None or not (state.step % rc.quality_every == 0 or state.step == state.total):
            return
        if not self.tracker.ready:
            yield Notice(f"sample quality every {rc.quality_every} steps, n={rc.quality_n}, in {self.tracker.prepare(state.model)}", level="info")
        yield state.record(self.tracker.measure(state.model), "val")
