"""The engine's own periodic jobs, each owning its cadence (the protocol: ``core/jobs.py``).

In the order the loop runs them after a step:

========================  ===================================================================
``Alarms``                the run's alarm monitor, fed by the next two (core/alarms.py)
``TrainMetrics``          mean losses every ``log_every`` steps (and after a single step and
                          at the last), with speed and ETA; alarms on them
``Validation``            ``model.evaluate`` on fixed batches every ``eval_every`` steps
                          (rank 0); alarms on it; the value that ranks the best checkpoint
(the caller's jobs)       e.g. sample quality, ``genstudio.metrics.quality_job``
``Previews``              a grid every ``sample_every`` steps, on request, every
                          ``preview_every_s`` seconds (at most 5 % of the time), and at the end;
                          a copy of the weights (LiveWeights) with a grid when a panel asks
``Checkpoints``           every ``checkpoint_every`` steps, every ``checkpoint_every_minutes``
                          minutes without one, and on request
``TimeLimit``             stops the run after ``max_minutes`` (every rank at the same step)
========================  ===================================================================
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator, Sequence

import torch

from .alarms import AlarmMonitor
from .events import Event, LiveWeights, Metrics, Notice
from .jobs import Job
from .model import GenerativeModel
from .previews import make_preview
from .run_state import RunState

PREVIEW_TIME_SHARE = 0.05  # timed previews take at most this share of the training time


def standard_jobs(extra: Sequence[Job] = ()) -> list[Job]:
    """The engine's jobs with the caller's ``extra`` ones after validation, in the order they run."""
    alarms = Alarms()
    return [alarms, TrainMetrics(alarms), Validation(alarms), *extra, Previews(), Checkpoints(), TimeLimit()]


class Alarms(Job):
    """The run's one alarm monitor (mode collapse, a winning D, posterior collapse, dead VQ codes).

    The losses and the validation feed it their values as they log them, so an
    alarm's Notice follows the Metrics event that set it off.
    """

    def start(self, state: RunState) -> Iterator[Event]:
        self.monitor = AlarmMonitor(state.model)
        return iter(())

    def notices(self, values: dict[str, float], split: str) -> Iterator[Event]:
        for message in self.monitor.update(values, split):
            yield Notice(message)


class TrainMetrics(Job):
    """The mean of each loss since the last log: a metrics.jsonl line and a Metrics event (all ranks averaged)."""

    def __init__(self, alarms: Alarms) -> None:
        self.alarms = alarms

    def start(self, state: RunState) -> Iterator[Event]:
        self.sums: dict[str, float] = {}
        self.count = 0
        self.last_time, self.last_step = 0.0, state.step
        return iter(())

    def after_step(self, state: RunState) -> Iterator[Event]:
        for k, v in state.values.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1
        rc = state.rc
        if not (state.step % rc.log_every == 0 or state.single or state.step == state.total):
            return
        now = state.elapsed()
        sps = (state.step - self.last_step) / max(now - self.last_time, 1e-9)
        self.last_time, self.last_step = now, state.step
        avg = {k: v / self.count for k, v in self.sums.items()}
        if state.dctx.active:  # a collective: every rank logs at the same steps
            avg = state.dctx.mean(avg)
        self.sums, self.count = {}, 0
        eta = (state.total - state.step) / sps if sps > 0 else None
        if rc.max_minutes > 0:  # the time limit ends the run first when it comes sooner
            left = max(0.0, rc.max_minutes * 60 - now)
            eta = left if eta is None else min(eta, left)
        state.run.append_metrics([{"step": state.step, "split": "train", "elapsed_s": round(state.wall_before + now, 3), **avg}])
        yield Metrics(step=state.step, values=avg, steps_per_s=sps, elapsed_s=state.wall_before + now, eta_s=eta)
        yield from self.alarms.notices(avg, "train")


class Validation(Job):
    """Validation losses on the same fixed batches each time (rank 0 only: every rank holds the same weights)."""

    def __init__(self, alarms: Alarms) -> None:
        self.alarms = alarms

    def start(self, state: RunState) -> Iterator[Event]:
        rc, val = state.rc, state.val_ds
        self.batches: list[Any] = []
        if val is not None and rc.eval_every > 0 and state.is_main:
            vb = min(rc.batch_size, len(val))
            count = max(1, min(rc.eval_batches, len(val) // vb))
            self.batches = [val.get(slice(i * vb, (i + 1) * vb)) for i in range(count)]
        return iter(())

    def after_step(self, state: RunState) -> Iterator[Event]:
        if not self.batches or not (state.step % state.rc.eval_every == 0 or state.step == state.total):
            return
        values = evaluate(state.model, self.batches, state.device)
        name = best_metric(values)
        if name is not None:
            state.last_val = (state.step, name, float(values[name]))
        if values:
            yield state.record(values, "val")
            yield from self.alarms.notices(values, "val")


class Previews(Job):
    """Sample grids from the fixed preview seed (rank 0), throttled where they are produced; and, when a panel asks
    (``RunControl.request_weights``), a CPU copy of the weights at the same cadence (LiveWeights)."""

    def start(self, state: RunState) -> Iterator[Event]:
        self.last = time.perf_counter()
        self.cost = 0.0  # seconds the latest preview took
        self.preview_step = state.step  # the step of the latest grid
        self.weights_step = -1  # the step of the latest LiveWeights
        return iter(())

    def after_step(self, state: RunState) -> Iterator[Event]:
        rc = state.rc
        due = (rc.sample_every > 0 and state.step % rc.sample_every == 0) or state.control.take_preview_request()
        # Timed previews never take more than PREVIEW_TIME_SHARE of the wall time (a DDPM grid costs seconds on a CPU).
        gap = max(rc.preview_every_s, self.cost / PREVIEW_TIME_SHARE)
        due = due or (rc.preview_every_s > 0 and time.perf_counter() - self.last >= gap)
        due = due or (state.single and state.info.kind == "points")
        if due and state.step < state.total and state.is_main:  # the last step gets its grid at the end
            began = time.perf_counter()
            preview = make_preview(state.model, rc.preview_n, state.info, state.step, state.run)
            self.last = time.perf_counter()
            self.cost = self.last - began
            self.preview_step = state.step
            yield preview
        # A panel's request for the live weights: served with the next grid, or at once when none was served since
        # the latest grid (a panel just shown gets the model now, later ones at the preview cadence).
        # Not at the last step: the run's final checkpoint follows at once.
        wanted = state.is_main and state.step < state.total and state.control.weights_requested()
        if wanted and (due or self.weights_step < self.preview_step):
            state.control.take_weights_request()
            self.weights_step = state.step
            yield LiveWeights(state.step, weights_snapshot(state.model))

    def at_end(self, state: RunState) -> Iterator[Event]:
        if state.is_main:
            yield make_preview(state.model, state.rc.preview_n, state.info, state.step, state.run)


class Checkpoints(Job):
    """Checkpoints on the step cadence, on the time cadence (a slow model still has a recent one), and on request."""

    def after_step(self, state: RunState) -> Iterator[Event]:
        rc = state.rc
        due = state.control.take_save_request() or (rc.checkpoint_every > 0 and state.step % rc.checkpoint_every == 0)
        minutes = rc.checkpoint_every_minutes
        due = due or (minutes > 0 and state.elapsed() - state.last_ckpt_time >= minutes * 60)
        if due:
            yield from state.checkpoint()


class TimeLimit(Job):
    """Stops the run once ``max_minutes`` of training have passed."""

    def after_step(self, state: RunState) -> Iterator[Event]:
        rc = state.rc
        time_up = rc.max_minutes > 0 and state.elapsed() >= rc.max_minutes * 60
        if state.dctx.active:  # one small all-reduce, so every rank stops (Ctrl+C, time limit) at the same step
            time_up = state.control.agree(state.dctx, time_up)
        if time_up:
            state.stop(f"time limit of {rc.max_minutes:g} min reached at step {state.step}")
        return iter(())


def weights_snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the whole state dict: the EMA copies are in it where the model keeps them, so a model
    rebuilt from it samples from the same weights as the trained one. Costs a memory copy (milliseconds for ddpm)."""
    with torch.no_grad():
        return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def evaluate(model: GenerativeModel, val_batches: list, device: torch.device) -> dict[str, float]:
    """Average ``model.evaluate`` over fixed validation batches, RNG and mode untouched."""
    was_training = model.training
    sums: dict[str, float] = {}
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(0)  # the same noise at every evaluation makes curves comparable
        model.eval()
        try:
            for b in val_batches:
                for k, v in model.evaluate(b.to(device)).items():
                    sums[k] = sums.get(k, 0.0) + float(v)
        finally:
            model.train(was_training)
    return {k: v / len(val_batches) for k, v in sums.items()}


def best_metric(values: dict[str, float]) -> str | None:
    """The validation value retention ranks checkpoints by: the model's main loss, its EMA network's where it keeps one
    (samples come from the EMA weights); None for models without one (GANs) or when it is not finite."""
    for name in ("loss_ema", "loss"):
        if name in values and math.isfinite(float(values[name])):
            return name
    return None
