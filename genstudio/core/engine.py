"""The training loop, as a generator of events.

``train`` builds the data and the model from a RunSpec, opens (or resumes) a
run folder and yields events: RunStarted, Metrics every ``log_every`` steps,
Preview grids from a fixed seed, CheckpointSaved, Notice, Paused and one
final Finished. Between steps it reads a :class:`RunControl`, so the caller's
thread can pause, single-step, checkpoint or stop it. The command line
iterates it directly; the studio runs it on a QThread.

The loop itself is short: a pause point, one training step, then every
periodic job (``core/periodic.py``: losses, validation, previews, checkpoints,
time limit; plus the caller's, such as sample quality), each owning its
cadence, all sharing one :class:`~genstudio.core.run_state.RunState`. The
engine reaches models and data only through the registry and imports nothing
from ``genstudio.models``, ``data``, ``metrics`` or ``ui`` (tests/test_layers.py).

Exact resume: the weights, optimiser state, global RNG state and the step are
checkpointed, batches depend only on (seed, step), and previews and
evaluations run under ``fork_rng`` so they never disturb the training RNG.
Ten steps, stop, ten more steps therefore equal twenty steps straight.
"""

from __future__ import annotations

import math
import platform
import sys
import traceback
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

import genstudio

from . import device as devmod
from . import distributed
from . import speedups as speedmod
from .capabilities import capabilities_of
from .events import Event, Finished, Notice, RunControl, RunStarted
from .jobs import Job
from .loading import prepare, restore, run_speedups
from .model import GenerativeModel, NonFiniteError
from .pausing import pause_point
from .periodic import standard_jobs
from .run_lock import LOCK_NAME
from .run_state import Clock, RunState
from .run_files import atomic_write_bytes, disk_full
from .runs import RunError, RunFolder
from .spec import RunSpec


def train(
    spec: RunSpec,
    out_dir: str | Path,
    control: RunControl | None = None,
    resume: bool = False,
    gui: bool = False,
    jobs: Sequence[Job] = (),
) -> Iterator[Event]:
    """Train ``spec`` into the run folder ``out_dir``, yielding events; see the module docstring.

    ``jobs`` are the caller's periodic jobs (``core/jobs.py``), run after
    validation and before the previews at every step; the CLI and the studio
    pass ``genstudio.metrics.quality_job.training_jobs()``, which measures
    sample quality when ``quality_every`` is set.

    Bad input (unknown ids, bad values, missing data, an existing folder
    without ``resume``, an unreadable checkpoint) raises before the first
    event and before anything is written. Errors during training never
    raise: they end the run with Finished(status='failed' or 'diverged').

    The process holds the run folder's lock (core/run_lock.py; rank 0 alone
    under torchrun) from before it reads or writes the folder until the last
    event, and on every way out: a second process on the same folder gets a
    RunError naming the holder, before any event.
    """
    held = _HeldLock()
    try:
        events = _start(spec, out_dir, control, resume, gui, held, list(jobs))
    except BaseException:
        held.release()
        raise
    return _holding(held, events)


def metric_groups_of(spec: RunSpec, model: GenerativeModel, jobs: Sequence[Job] = ()) -> dict[str, list[str]]:
    """The model's curve groups, plus those the run's jobs add (sample quality when ``quality_every`` is set)."""
    groups = dict(model.metric_groups)
    for job in jobs:
        groups.update(job.metric_groups(spec))
    return groups


# -- the loop -----------------------------------------------------------------


def _loop(state: RunState, jobs: list[Job], data_notice: str = "") -> Iterator[Event]:
    """Steps and jobs until the last step, a stop or a failure; then the final record and Finished."""
    state.model.train()
    state.clock = Clock()  # training time counts from the first event, not from the call to train()
    started = _run_started(state, jobs)
    try:
        # Closed right here (the window shut at once), the run is recorded as stopped, not left running.
        yield started
        yield from _notices(state, jobs, data_notice)
        # The set-up after RunStarted fails like the loop does: the run ends 'failed', never left 'running'.
        steps = _Steps(state)
        state.resume_marks()
        for job in jobs:
            yield from job.start(state)
        while state.step < state.total and not state.stopped:
            if not (yield from pause_point(state)):
                continue
            steps.take_one()
            for job in jobs:
                yield from job.after_step(state)
        # The end of a run (completed or stopped): a checkpoint, then the jobs' last word (the final grid).
        if state.last_ckpt_step != state.step:
            yield from state.checkpoint()
        for job in jobs:
            yield from job.at_end(state)
        outcome = _ended(state)
    except NonFiniteError as e:
        outcome = _diverged(state, e)
    except Exception as e:  # noqa: BLE001 - any failure ends the run with its traceback, never silently
        outcome = _failed(e)
    except BaseException:  # the caller closed the loop (GeneratorExit) or Ctrl+C aborted it: say so, then let it through
        _record_abort(state.run, state.step, state.wall_time())
        raise
    yield _finish(state, *outcome)


class _Steps:
    """The training step: the next batch on the device in the run's layout, the model's own step, a finite check."""

    def __init__(self, state: RunState) -> None:
        rc, dctx = state.rc, state.dctx
        self.state = state
        self.batches = state.train_ds.batches(rc.batch_size, rc.seed, state.start_step, rank=dctx.rank, world_size=dctx.world_size)
        sp = run_speedups(state.spec, state.model, state.device)
        self.to_layout = speedmod.batch_transform(sp)  # autocast lives inside the model's forward (speedups.apply)

    def take_one(self) -> None:
        s = self.state
        batch = self.to_layout(next(self.batches).to(s.device))
        s.model.set_progress(s.progress())
        values = s.model.train_step(batch)
        for k, v in values.items():
            if not math.isfinite(v):
                raise NonFiniteError(k, s.step + 1)
        s.step += 1
        if s.dctx.active:
            s.dctx.after_step(s.model, s.step, values)
        s.values = values


def _run_started(state: RunState, jobs: list[Job]) -> RunStarted:
    return RunStarted(
        run_dir=str(state.run.path),
        config=state.spec.to_dict(),
        start_step=state.start_step,
        total_steps=state.total,
        device=devmod.describe_device(state.device),
        threads=state.threads,
        capabilities=capabilities_of(state.model),
        metric_groups=metric_groups_of(state.spec, state.model, jobs),
        data_info=state.info.to_dict(),
    )


def _notices(state: RunState, jobs: list[Job], data_notice: str) -> Iterator[Event]:
    """Said once, right after the start, where the run is watched."""
    if data_notice:  # files skipped while loading: how many and why
        yield Notice(data_notice)
    served = {job.serves for job in jobs}
    if state.rc.quality_every > 0 and "quality_every" not in served:
        yield Notice(
            f"quality_every is {state.rc.quality_every}, but nothing measures sample quality in this run: the program "
            "that started it passed no quality job (genstudio.metrics.quality_job.training_jobs())"
        )


# -- the outcome ----------------------------------------------------------------


def _ended(state: RunState) -> tuple[str, str, str | None, str]:
    """(status, message, diverged term, traceback) of a run that completed or was stopped."""
    if state.stopped:
        return "stopped", state.message or f"stopped at step {state.step} of {state.total}", None, ""
    return "completed", f"completed {state.step} steps", None, ""


def _diverged(state: RunState, e: NonFiniteError) -> tuple[str, str, str | None, str]:
    last = state.run.latest_checkpoint()
    message = f"training diverged at step {e.step or state.step + 1}: {e}. " + (
        f"The last good checkpoint is step {last}." if last is not None else "No checkpoint had been saved yet."
    )
    return "diverged", message, e.term, ""


def _failed(e: Exception) -> tuple[str, str, str | None, str]:
    full = disk_full(e)
    if full is not None:  # not a bug: the message says which file and what to do
        return "failed", str(full), None, ""
    return "failed", f"{type(e).__name__}: {e}", None, traceback.format_exc()


def _finish(state: RunState, status: str, message: str, term: str | None, tb: str) -> Finished:
    """Record the outcome in meta.json (the folder must tell the truth) and build the Finished event."""
    run = state.run
    try:
        run.update_meta(
            status=status,
            step=state.step,
            wall_time_s=state.wall_time(),
            message=message,
            **({"diverged_term": term} if term else {}),
            **({"traceback": tb} if tb else {}),
        )
    except Exception as e:  # noqa: BLE001 - a full disk can refuse meta.json too; the Finished event still tells
        full = disk_full(e, run.meta_path)
        note = str(full) if full is not None else f"meta.json could not be updated ({type(e).__name__}: {e})"
        if note not in message:  # a disk-full message may already name meta.json
            message = f"{message}; {note}" if message else note
        if status in ("completed", "stopped"):
            status = "failed"  # meta.json still says "running": the folder does not tell the truth
    if tb:
        print(tb, file=sys.stderr)
    return Finished(status=status, step=state.step, message=message, traceback=tb, term=term)


def _record_abort(run: RunFolder, step: int, wall_time_s: float) -> None:
    """meta.json of a loop that was closed or interrupted: "stopped", never left "running"."""
    try:
        if run.meta.get("status") in ("running", "paused"):
            run.update_meta(status="stopped", step=step, wall_time_s=wall_time_s,
                            message=f"interrupted at step {step}; resume continues from the last checkpoint")
    except Exception:  # noqa: BLE001 - the interruption itself must go on; a full disk says so at the next run
        pass


# -- opening the run folder -------------------------------------------------------


class _HeldLock:
    """The run folder's lock once taken (None before, and on ranks other than 0)."""

    def __init__(self) -> None:
        self.lock = None

    def take(self, run: RunFolder) -> None:
        self.lock = run.lock()

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()


def _holding(held: _HeldLock, events: Iterator[Event]) -> Iterator[Event]:
    """Yield from ``events``, releasing the lock however they end (done, raised, or closed by the caller)."""
    try:
        yield from events
    finally:
        held.release()


def _start(spec: RunSpec, out_dir: str | Path, control: RunControl | None, resume: bool, gui: bool, held: _HeldLock,
           extra_jobs: list[Job]) -> Iterator[Event]:
    """Everything of :func:`train` before the first event: raises on bad input, takes the lock into ``held``."""
    control = control or RunControl()
    # Under torchrun: join the process group (several processes); otherwise nothing happens.
    dctx, _ = distributed.setup(devmod.resolve_device(spec.run.device))
    out = Path(out_dir)
    run, meta, loaded = _check_folder(out, resume, dctx, held)
    device, threads, train_ds, val_ds, model, ds = prepare(spec, gui=gui, dctx=dctx)
    jobs = standard_jobs(extra_jobs)
    base_meta = _base_meta(spec, model, device, threads, ds.info.to_dict(), dctx, jobs)
    start_step = 0
    if loaded is not None:  # the RNG state too: nothing may draw from it between here and the first step
        start_step, weights, trainer = loaded
        restore(model, {k: v.to(device) for k, v in weights.items()}, trainer)
    if not dctx.is_main:  # rank 0 alone writes the run folder
        run = distributed.SilentRun(out, latest=start_step if loaded is not None else None, rank=dctx.rank)
        wall_before = float(meta.get("wall_time_s", 0.0)) if resume else 0.0
    elif resume:
        atomic_write_bytes(run.config_path, spec.to_toml().encode())
        run.truncate_metrics_after(start_step)
        run.remove_temp_files()  # what a kill mid-save left; we hold the lock, so no one is writing them
        wall_before = float(meta.get("wall_time_s", 0.0))
        run.update_meta(**base_meta, status="running", step=start_step, resumed_from=start_step)
    else:
        out.mkdir(parents=True, exist_ok=True)
        held.take(RunFolder(out))  # then create() checks again that it is empty: two new runs may race here
        run = RunFolder.create(out, spec, {**base_meta, "step": 0, "wall_time_s": 0.0})
        wall_before = 0.0
        run.update_meta(status="running")
    dctx.start(model, spec.run.seed, start_step)  # torchrun: rank 0's weights everywhere, per-rank noise
    if dctx.active:
        control = distributed.AgreedControl(control)
    state = RunState(spec, run, model, device, threads, train_ds, val_ds, control, dctx, start_step, wall_before)
    return _loop(state, jobs, data_notice=ds.problem_summary())


def _check_folder(out: Path, resume: bool, dctx: distributed.DistContext, held: _HeldLock) -> tuple[Any, dict[str, Any], Any]:
    """(run folder or None, its meta, the checkpoint to resume or None); refuses a folder the run cannot use."""
    if not resume:
        if dctx.is_main and out.exists() and any(q.name != LOCK_NAME for q in out.iterdir()):  # only rank 0 creates it
            RunFolder(out).check_unlocked()  # "in use by pid N" says more than "not empty"
            raise RunError(f"'{out}' already exists and is not empty; choose another --out, or pass --resume to continue it")
        return None, {}, None
    run = RunFolder(out)
    if not run.exists():
        raise RunError(f"cannot resume: '{out}' is not a run folder (no config.toml / meta.json)")
    if dctx.is_main:  # before reading it: another process may be writing it
        held.take(run)
    meta = run.meta
    # The newest checkpoint that is whole on disk: one cut short or missing (latest.json
    # naming a file a copy or a full disk lost) is passed over, and deterministic training
    # re-reaches it. Loading validates before we touch anything.
    ckpt = run.newest_complete_checkpoint()
    return run, meta, (run.load_checkpoint(ckpt) if ckpt is not None else None)


def _base_meta(spec: RunSpec, model: GenerativeModel, device: torch.device, threads: int, data_info: dict[str, Any],
               dctx: distributed.DistContext, jobs: list[Job]) -> dict[str, Any]:
    """What meta.json says about the run from the start (and again on each resume)."""
    return {
        "model": spec.run.model,
        "dataset": spec.run.dataset,
        "seed": spec.run.seed,
        "device": devmod.describe_device(device),
        "threads": threads,
        "speedups": run_speedups(spec, model, device).to_dict(),
        "total_steps": spec.run.steps,
        "data_info": data_info,
        "num_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "capabilities": capabilities_of(model),
        "world_size": dctx.world_size,
        "metric_groups": metric_groups_of(spec, model, jobs),
        "family": model.family,
        "versions": {
            "genstudio": genstudio.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
