"""One object for everything a training run knows while it trains.

The loop (``core/engine.py``) and every job (``core/jobs.py``,
``core/periodic.py``) read and change the run through a :class:`RunState`:
the spec, the run folder, the model and data, the step, the clock (pauses
excluded), the latest validation, the best checkpoint, and the stop flag.
Saving a checkpoint lives here too, because three places ask for one: the
step cadence (a job), a save request while paused, and the end of the run.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from .data_types import DataInfo, TrainingData
from .distributed import DistContext
from .events import CheckpointSaved, Event, Metrics, RunControl
from .loading import trainer_state
from .model import GenerativeModel, NonFiniteError, check_weights_finite
from .runs import RunFolder
from .spec import RunConfig, RunSpec


class Clock:
    """Seconds spent training in this process since the loop began, pauses excluded."""

    def __init__(self) -> None:
        self._spent = 0.0
        self._since: float | None = time.perf_counter()  # None while paused

    def elapsed(self) -> float:
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._spent + running

    def pause(self) -> None:
        if self._since is not None:
            self._spent += time.perf_counter() - self._since
            self._since = None

    def resume(self) -> None:
        if self._since is None:
            self._since = time.perf_counter()


@dataclass(eq=False)
class RunState:
    """A training run in progress; built by the engine, handed to every job."""

    spec: RunSpec
    run: RunFolder  # distributed.SilentRun on ranks other than 0: it writes nothing
    model: GenerativeModel
    device: torch.device
    threads: int
    train_ds: TrainingData
    val_ds: TrainingData | None
    control: RunControl
    dctx: DistContext
    start_step: int
    wall_before: float  # training seconds of the run before this process took it up (resume)
    step: int = -1  # the number of steps done; set to start_step
    values: dict[str, float] = field(default_factory=dict)  # the losses of the latest step
    single: bool = False  # the latest step was one single step asked for while paused
    last_val: tuple[int, str, float] | None = None  # (step, metric, value) of the latest validation
    best: dict[str, Any] | None = None  # the checkpoint with the lowest validation loss, kept by retention
    last_ckpt_step: int = -1
    last_ckpt_time: float = 0.0
    stopped: bool = False  # set by the stop token or a job: the loop ends after this step
    message: str = ""  # why it stopped, when a job stopped it
    clock: Clock = field(default_factory=Clock)

    def __post_init__(self) -> None:
        if self.step < 0:
            self.step = self.start_step

    @property
    def rc(self) -> RunConfig:
        return self.spec.run

    @property
    def total(self) -> int:
        return self.spec.run.steps

    @property
    def info(self) -> DataInfo:
        return self.train_ds.info

    @property
    def is_main(self) -> bool:
        """Rank 0 (or the only process): the one that writes the folder, validates and previews."""
        return self.dctx.is_main

    def elapsed(self) -> float:
        return self.clock.elapsed()

    def progress(self) -> float:
        """The fraction of the run's budget spent, 0 to 1: its steps, or its time limit where that comes first.

        The time counts as the time limit does (this process's training time).
        Under torchrun the ranks' clocks differ a little, and a learning rate
        keyed to them would part the replicas, so there the steps alone count.
        """
        done = self.step / self.total if self.total > 0 else 0.0
        if self.rc.max_minutes > 0 and not self.dctx.active:
            done = max(done, self.elapsed() / (self.rc.max_minutes * 60))
        return min(1.0, done)

    def wall_time(self) -> float:
        """Training seconds of the whole run, earlier processes included (meta.json's wall_time_s)."""
        return self.wall_before + self.clock.elapsed()

    def stop(self, message: str = "") -> None:
        """End the run after this step, recorded as 'stopped' (``message`` says why; the default names the step)."""
        self.stopped, self.message = True, message

    def resume_marks(self) -> None:
        """What a resumed run takes over: its checkpoint at the start step, and the best checkpoint it had recorded."""
        if self.run.latest_checkpoint() == self.start_step:
            self.last_ckpt_step = self.start_step
        if self.rc.keep_best and self.is_main and self.start_step > 0:
            self.best = recorded_best(self.run, self.start_step)

    def record(self, values: dict[str, float], split: str = "val") -> Metrics:
        """Append ``values`` at this step to metrics.jsonl; the Metrics event that tells the watchers."""
        self.run.append_metrics([{"step": self.step, "split": split, "elapsed_s": round(self.wall_time(), 3), **values}])
        return Metrics(step=self.step, values=values, steps_per_s=0.0, elapsed_s=self.wall_time(), split=split)

    def checkpoint(self) -> Iterator[Event]:
        """Save weights and trainer state at this step, mark the best, apply retention; yields CheckpointSaved."""
        step, rc = self.step, self.rc
        weights = self.model.state_dict()
        # Gradients are checked only every few steps (core/model.py GRAD_CHECK_EVERY):
        # never let a checkpoint carry weights a missed overflow has already spoiled.
        try:
            check_weights_finite(weights)
        except NonFiniteError as e:
            raise NonFiniteError(e.term, step) from None
        path = self.run.save_checkpoint(step, weights, trainer_state(self.model, step))
        self.last_ckpt_step, self.last_ckpt_time = step, self.elapsed()
        changes: dict[str, Any] = {}
        # Best only where the validation ran at this very step: a checkpoint is scored by its own weights.
        val = self.last_val
        if rc.keep_best and val is not None and val[0] == step and (self.best is None or val[2] < self.best["value"]):
            self.best = changes["best_checkpoint"] = {"step": step, "metric": val[1], "value": val[2]}
        self.run.update_meta(step=step, wall_time_s=self.wall_time(), checkpoint_step=step, **changes)
        if self.is_main:  # other ranks write nothing, and delete nothing
            self.run.prune_checkpoints(rc.keep_last, rc.keep_every, {self.best["step"]} if self.best else set())
        yield CheckpointSaved(step=step, path=str(path))


def recorded_best(run: RunFolder, start_step: int) -> dict[str, Any] | None:
    """The best checkpoint a resumed run had recorded, when it is at or before the step it resumes from."""
    best = run.meta.get("best_checkpoint")
    try:
        if isinstance(best, dict) and int(best["step"]) <= start_step and math.isfinite(float(best["value"])):
            return {"step": int(best["step"]), "metric": str(best.get("metric", "loss")), "value": float(best["value"])}
    except (KeyError, TypeError, ValueError):
        pass
    return None
