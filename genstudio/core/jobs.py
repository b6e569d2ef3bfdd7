"""The hook protocol between the training loop and the jobs that run beside it.

A job is anything that happens every so often while a run trains: writing the
losses, validation, sample-quality metrics, previews, checkpoints, the time
limit. The loop calls each job at three moments, always with the one
:class:`~genstudio.core.run_state.RunState` of the run:

- ``start(state)``: once, after the run's first event, to set up (its cadence
  clock, fixed batches, a reference set);
- ``after_step(state)``: after every training step; the job decides itself
  whether it is due (it owns its cadence) and yields the events it makes;
- ``at_end(state)``: once, when the loop ends normally (completed or stopped),
  after the final checkpoint.

A job steers the loop only through the state (``state.stop(message)`` ends the
run after this step; ``state.checkpoint()`` saves), the way the Hugging Face
Trainer's callbacks steer it through ``TrainerControl`` flags and Lightning's
callbacks through the trainer's ``should_stop``. The engine's own jobs live in
``core/periodic.py``; the program that starts a run passes further jobs to
``engine.train(..., jobs=[...])`` (the sample-quality metrics of
``genstudio.metrics.quality_job`` are one), so the engine imports nothing from
the layers above it.

Exact resume holds only if a job leaves the training RNG alone: sample and
evaluate under ``torch.random.fork_rng`` (as ``core/previews.py`` does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from .events import Event

if TYPE_CHECKING:  # the state module imports jobs' users, not the reverse
    from .run_state import RunState
    from .spec import RunSpec


class Job:
    """A periodic job of a training run; override the hooks it needs (each returns the events it makes)."""

    #: The RunConfig field whose cadence this job serves (``quality_every``), or "": the engine warns
    #: when a run sets such a field and no job serves it, instead of silently measuring nothing.
    serves: str = ""

    def metric_groups(self, spec: RunSpec) -> dict[str, list[str]]:
        """Curve groups this job adds to the run's (``meta.json``'s metric_groups, the studio's plots)."""
        return {}

    def start(self, state: RunState) -> Iterable[Event]:
        return ()

    def after_step(self, state: RunState) -> Iterable[Event]:
        return ()

    def at_end(self, state: RunState) -> Iterable[Event]:
        return ()
