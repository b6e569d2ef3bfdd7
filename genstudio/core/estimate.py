"""How long a run will take, measured before it starts: build the model, time a few training steps.

The studio calls :func:`measure_step` off the UI thread whenever the form
changes (and drops the result when the form changed again meanwhile); the
measurement is bounded by a time budget and can be cancelled between steps.
The model is built exactly as the engine builds it (seed, speed-ups), on the
batch size of the run, so the number is this machine's, for these settings.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from .spec import RunSpec

#: Timed steps stop after this many seconds (after one warm-up step, which pays for lazy set-up).
BUDGET_S = 1.5
MAX_STEPS = 5
#: A slow model is timed at this batch size and twice it, and the time carried to the run's batch size.
SMALL_BATCH = 4


class Cancelled(Exception):
    """The form changed while measuring: the result is not wanted any more."""


@dataclass(frozen=True)
class StepTiming:
    seconds_per_step: float
    steps_timed: int
    batch_size: int
    measured_batch: int = 0  # the batch size timed (smaller than batch_size when it was extrapolated)

    def run_seconds(self, steps: int, max_minutes: float = 0.0) -> float:
        """Expected training time of ``steps`` steps; ``max_minutes`` (when set) caps it, as it caps the run."""
        t = self.seconds_per_step * steps
        return min(t, max_minutes * 60) if max_minutes > 0 else t


def measure_step(spec: RunSpec, dataset, cancel: threading.Event | None = None, budget_s: float = BUDGET_S, max_steps: int = MAX_STEPS) -> StepTiming:
    """Seconds per training step of ``spec``'s model on ``dataset`` (a loaded Dataset), on this machine.

    Raises :class:`Cancelled` when ``cancel`` is set between steps, and what
    building the model raises (ConfigError, DataMismatchError) when the
    settings do not fit the data.
    """
    from . import speedups as speedmod
    from .device import resolve_device
    from .loading import build_model, run_speedups

    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()

    device = resolve_device(spec.run.device)
    model = build_model(spec, dataset.info, device)
    check()
    sp = run_speedups(spec, model, device)
    speedmod.apply(model, sp)
    to_layout = speedmod.batch_transform(sp)
    model.train()

    def timed(batch_size: int, n: int) -> float:
        """Mean seconds of ``n`` steps at ``batch_size`` (stops early once the budget is spent)."""
        batches = dataset.batches(batch_size, spec.run.seed)
        # warm-up: a new shape's first step pays for allocations and kernel selection
        model.train_step(to_layout(next(batches).to(device)))
        spent, done = 0.0, 0
        while done < n and (done == 0 or spent < budget_s):
            check()
            batch = to_layout(next(batches).to(device))
            t0 = time.perf_counter()
            model.train_step(batch)
            if device.type == "cuda":
                import torch

                torch.cuda.synchronize(device)  # a GPU step has finished only when its kernels have
            spent += time.perf_counter() - t0
            done += 1
        return spent / done

    bs = spec.run.batch_size
    small = min(bs, SMALL_BATCH)
    t_small = timed(small, 2)
    if t_small * bs / small <= budget_s / 2:
        # Cheap at the run's own batch size: measure that directly.
        return StepTiming(timed(bs, max_steps), max_steps, bs, measured_batch=bs)
    # Too slow to time at full size within the budget: a second small size, and a line through
    # the two (a fixed cost per step plus a cost per example) carried to the run's batch size.
    t_double = timed(2 * small, 2)
    per_example = max(0.0, (t_double - t_small) / small)
    guess = t_double + per_example * (bs - 2 * small)
    # Between "all of it is per-step cost" and "all of it scales with the batch" (noise in two short timings).
    guess = min(max(guess, t_double), t_double * bs / (2 * small))
    return StepTiming(guess, 4, bs, measured_batch=2 * small)
