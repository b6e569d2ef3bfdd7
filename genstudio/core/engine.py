"""The training loop, as a generator of events.

``train`` builds the data and the model from a RunSpec, opens (or resumes) a
run folder and yields events: RunStarted, Metrics every ``log_every`` steps,
Preview grids from a fixed seed, CheckpointSaved, Notice, Paused and one
final Finished. Between steps it reads a :class:`RunControl`, so the caller's
thread can pause, single-step, checkpoint or stop it. The command line
iterates it directly; the studio runs it on a QThread.

Exact resume: the weights, optimiser state, global RNG state and the step are
checkpointed, batches depend only on (seed, step), and previews and
evaluations run under ``fork_rng`` so they never disturb the training RNG.
Ten steps, stop, ten more steps therefore equal twenty steps straight.
"""

from __future__ import annotations

import math
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

import genstudio

from . import device as devmod
from . import distributed
from . import speedups as speedmod
from .alarms import AlarmMonitor
from .capabilities import capabilities_of
from .events import CheckpointSaved, Event, Finished, Metrics, Notice, Paused, Preview, RunControl, RunStarted
from .config import ConfigError
from .model import DataMismatchError, GenerativeModel, NonFiniteError, check_weights_finite
from .registry import get_model_class
from .run_lock import LOCK_NAME
from .runs import RunError, RunFolder, disk_full
from .spec import RunSpec

PREVIEW_SEED = 1234  # one fixed seed, so the grids of a run can be replayed as a film
PREVIEW_TIME_SHARE = 0.05  # timed previews take at most this share of the training time


def build_model(spec: RunSpec, data_info, device: torch.device) -> GenerativeModel:
    """Seed, then build the model named in ``spec`` for ``data_info`` on ``device``."""
    devmod.seed_everything(spec.run.seed)
    cls = get_model_class(spec.run.model)
    try:
        model = cls(spec.model, data_info)
    except DataMismatchError:
        raise
    except ValueError as e:  # settings that pass their own bounds but not together (aug_max >= timesteps): a usage error
        raise ConfigError(f"model '{spec.run.model}' cannot be built with these settings: {e}") from None
    return model.to(device)


def trainer_state(model: GenerativeModel, step: int, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "step": step,
        "optimizers": {k: o.state_dict() for k, o in model.optimizers().items()},
        "schedulers": {k: s.state_dict() for k, s in model.schedulers().items()},
        "rng": devmod.rng_state(),
        **(extra or {}),
    }


def restore(model: GenerativeModel, weights: dict[str, torch.Tensor], state: dict[str, Any] | None) -> None:
    """Load weights (strictly) and, when given, optimiser, scheduler and RNG state."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise RunError(
            f"checkpoint does not match the model: missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]}"
        )
    if state is None:
        return
    for name, opt in model.optimizers().items():
        if name in state.get("optimizers", {}):
            opt.load_state_dict(state["optimizers"][name])
    for name, sch in model.schedulers().items():
        if name in state.get("schedulers", {}):
            sch.load_state_dict(state["schedulers"][name])
    if "rng" in state:
        devmod.set_rng_state(state["rng"])


def load_run_model(run_dir: str | Path, step: int | None = None, device: str = "auto") -> tuple[GenerativeModel, RunSpec, int]:
    """Rebuild a run's model from its config and load a checkpoint (the latest by default)."""
    from genstudio.core.data_types import DataInfo

    run = RunFolder(run_dir)
    if not run.path.is_dir():
        raise RunError(f"run folder '{run.path}' does not exist")
    spec = run.spec()
    meta = run.meta
    if "data_info" not in meta:
        raise RunError(f"'{run.meta_path}' has no data_info; the run folder is incomplete")
    info = DataInfo.from_dict(meta["data_info"])
    dev = devmod.resolve_device(device)
    model = build_model(spec, info, dev)
    with run.pin(step) as chosen:  # a live run's retention skips the checkpoint while it is read
        ckpt_step, weights, _ = run.load_checkpoint(chosen, with_state=False)
    restore(model, {k: v.to(dev) for k, v in weights.items()}, None)
    model.eval()
    return model, spec, ckpt_step


def run_capabilities(run_dir: str | Path) -> list[str]:
    """The capabilities of a run's model as the code defines them now.

    ``meta.json`` records them when the run is created; a model that gained a
    capability since (dcgan became ``Adversarial``) should get its panel for
    old runs too. The model is only constructed (no weights loaded), under a
    forked RNG so a training thread's random stream is not touched. A run whose
    model no longer builds still opens, with the capabilities it recorded.
    """
    from genstudio.core.data_types import DataInfo

    run = RunFolder(run_dir)
    meta = run.meta
    try:
        spec = run.spec()
        info = DataInfo.from_dict(meta["data_info"])
        with torch.random.fork_rng(devices=[]):
            model = get_model_class(spec.run.model)(spec.model, info)
        return capabilities_of(model)
    except Exception:  # noqa: BLE001 - fall back to the record; opening the run must not fail here
        return list(meta.get("capabilities") or [])


# -- previews -----------------------------------------------------------------


def images_to_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """N x C x H x W floats in [0, 1] to one uint8 H x W x 3 grid."""
    from torchvision.utils import make_grid

    images = images.detach().float().clamp(0, 1).cpu()
    if images.dim() == 3:
        images = images.unsqueeze(1)
    n = images.shape[0]
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    grid = make_grid(images, nrow=nrow, padding=pad, pad_value=0.5)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def points_to_image(points: np.ndarray, extent: tuple[float, float, float, float] | None, size: int = 256) -> np.ndarray:
    """Rasterise 2-D points to a uint8 image (a density picture for the samples folder)."""
    if extent is None:
        lo, hi = np.percentile(points, [0.5, 99.5], axis=0)
        extent = (lo[0], hi[0], lo[1], hi[1])
    x0, x1, y0, y1 = extent
    finite = np.isfinite(points).all(axis=1)
    h, _, _ = np.histogram2d(points[finite, 1], points[finite, 0], bins=size, range=[[y0, y1], [x0, x1]])
    h = np.log1p(h[::-1])
    h = h / h.max() if h.max() > 0 else h
    img = (255 * (1 - h)).astype(np.uint8)
    return np.stack([img, img, np.full_like(img, 255)], axis=-1)


def waveforms_to_image(audio: np.ndarray, width: int = 512, height: int = 64) -> np.ndarray:
    """Draw up to eight waveforms one above the other."""
    rows = []
    for wave in audio[:8].reshape(min(8, len(audio)), -1):
        canvas = np.full((height, width), 255, np.uint8)
        idx = np.linspace(0, len(wave) - 1, width).astype(int)
        ys = ((1 - np.clip(wave[idx], -1, 1)) * 0.5 * (height - 1)).astype(int)
        canvas[ys, np.arange(width)] = 0
        rows.append(canvas)
    img = np.concatenate(rows, axis=0)
    return np.stack([img] * 3, axis=-1)


def save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    from .runs import atomic_write_bytes
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def make_preview(model: GenerativeModel, n: int, data_info, step: int, run: RunFolder | None) -> Preview:
    """Samples from the fixed preview seed, without disturbing the training RNG or mode."""
    was_training = model.training
    devices = [model.device] if model.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        model.eval()
        try:
            g = torch.Generator().manual_seed(PREVIEW_SEED)
            with torch.no_grad():
                samples = model.sample(n, generator=g, **model.preview_kwargs())
        finally:
            model.train(was_training)
    samples = samples.detach().float().cpu()
    path = run.sample_path(step) if run is not None else None
    if data_info.kind == "points":
        pts = samples.numpy().astype(np.float32)
        if path is not None:
            np.save(path.with_suffix(".npy"), pts)
            save_png(path, points_to_image(pts, data_info.extent))
        return Preview(step=step, points=pts, path=str(path) if path else None)
    if data_info.kind == "audio":
        image = waveforms_to_image(samples.numpy())
    else:
        image = images_to_grid(samples)
    if path is not None:
        save_png(path, image)
    return Preview(step=step, image=image, path=str(path) if path else None)


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


# -- the loop -------------------------------------------------------------------


def prepare(spec: RunSpec, gui: bool = False, dctx: distributed.DistContext = distributed.SINGLE):
    """Validate and build everything that can fail on bad input, before any run folder exists.

    Returns (device, threads, train set, validation set or None, model).
    Raises ConfigError, DataError, DataMismatchError with a one-line message.
    """
    from genstudio.data.dataset import load_dataset

    threads = devmod.configure_threads(spec.run.threads or dctx.threads_per_process(), gui)
    device = devmod.resolve_device(spec.run.device)
    if dctx.active and device.type == "cuda":
        device = torch.device("cuda", torch.cuda.current_device())  # this rank's GPU (distributed.setup)
    ds = load_dataset(spec.run.dataset, spec.data)
    train_ds, val_ds = ds.split(spec.data.val_fraction, spec.data.seed)
    model = build_model(spec, ds.info, device)
    speedmod.apply(model, run_speedups(spec, model, device))
    return device, threads, train_ds, val_ds, model, ds


def metric_groups_of(spec: RunSpec, model: GenerativeModel) -> dict[str, list[str]]:
    """The model's curve groups, plus the sample-quality ones when the run measures them (``quality_every``)."""
    groups = dict(model.metric_groups)
    if spec.run.quality_every > 0:
        from genstudio.metrics.quality import QUALITY_GROUPS  # imported here: the metrics package imports the engine

        groups.update(QUALITY_GROUPS)
    return groups


def run_speedups(spec: RunSpec, model: GenerativeModel, device: torch.device) -> speedmod.Speedups:
    """The run's channels-last / autocast / compile switches, ``auto`` resolved for this model and device."""
    rc = spec.run
    return speedmod.resolve(rc.channels_last, rc.autocast, rc.compile, model, device)


def train(
    spec: RunSpec,
    out_dir: str | Path,
    control: RunControl | None = None,
    resume: bool = False,
    gui: bool = False,
) -> Iterator[Event]:
    """Train ``spec`` into the run folder ``out_dir``, yielding events; see the module docstring.

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
        events = _start(spec, out_dir, control, resume, gui, held)
    except BaseException:
        held.release()
        raise
    return _holding(held, events)


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


def _start(spec: RunSpec, out_dir: str | Path, control: RunControl | None, resume: bool, gui: bool, held: _HeldLock) -> Iterator[Event]:
    """Everything of :func:`train` before the first event: raises on bad input, takes the lock into ``held``."""
    control = control or RunControl()
    # Under torchrun: join the process group (several processes); otherwise nothing happens.
    dctx, _ = distributed.setup(devmod.resolve_device(spec.run.device))
    out = Path(out_dir)
    if resume:
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
        loaded = run.load_checkpoint(ckpt) if ckpt is not None else None
    elif dctx.is_main and out.exists() and any(q.name != LOCK_NAME for q in out.iterdir()):  # only rank 0 creates it
        RunFolder(out).check_unlocked()  # "in use by pid N" says more than "not empty"
        raise RunError(f"'{out}' already exists and is not empty; choose another --out, or pass --resume to continue it")

    device, threads, train_ds, val_ds, model, ds = prepare(spec, gui=gui, dctx=dctx)
    start_step = 0
    info = ds.info
    base_meta = {
        "model": spec.run.model,
        "dataset": spec.run.dataset,
        "seed": spec.run.seed,
        "device": devmod.describe_device(device),
        "threads": threads,
        "speedups": run_speedups(spec, model, device).to_dict(),
        "total_steps": spec.run.steps,
        "data_info": info.to_dict(),
        "num_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "capabilities": capabilities_of(model),
        "world_size": dctx.world_size,
        "metric_groups": metric_groups_of(spec, model),
        "family": model.family,
        "versions": {
            "genstudio": genstudio.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
    }
    if resume and loaded is not None:
        start_step, weights, state = loaded
        restore(model, {k: v.to(device) for k, v in weights.items()}, state)
    if not dctx.is_main:  # rank 0 alone writes the run folder
        run = distributed.SilentRun(out, latest=start_step if resume and loaded is not None else None, rank=dctx.rank)
        wall_before = float(meta.get("wall_time_s", 0.0)) if resume else 0.0
    elif resume:
        from .runs import atomic_write_bytes

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

    return _loop(spec, run, model, device, threads, train_ds, val_ds, info, start_step, wall_before, control, dctx,
                 data_notice=ds.problem_summary())


def _loop(spec, run, model, device, threads, train_ds, val_ds, info, start_step, wall_before, control, dctx=distributed.SINGLE,
          data_notice: str = "") -> Iterator[Event]:
    rc = spec.run
    total = rc.steps
    step = start_step
    model.train()
    started = RunStarted(
        run_dir=str(run.path),
        config=spec.to_dict(),
        start_step=start_step,
        total_steps=total,
        device=devmod.describe_device(device),
        threads=threads,
        capabilities=capabilities_of(model),
        metric_groups=metric_groups_of(spec, model),
        data_info=info.to_dict(),
    )
    train_time = 0.0  # seconds spent training, pauses excluded
    seg_start = time.perf_counter()
    status, message, term, tb = "completed", "", None, ""
    last_ckpt_step, last_ckpt_time = -1, 0.0
    last_val: tuple[int, str, float] | None = None  # (step, metric, value) of the latest validation
    best: dict[str, Any] | None = None  # the checkpoint with the lowest validation loss, kept by retention

    def elapsed() -> float:
        return train_time + (time.perf_counter() - seg_start)

    def checkpoint() -> Iterator[Event]:
        nonlocal last_ckpt_step, last_ckpt_time, best
        weights = model.state_dict()
        # Gradients are checked only every few steps (core/model.py GRAD_CHECK_EVERY):
        # never let a checkpoint carry weights a missed overflow has already spoiled.
        try:
            check_weights_finite(weights)
        except NonFiniteError as e:
            raise NonFiniteError(e.term, step) from None
        path = run.save_checkpoint(step, weights, trainer_state(model, step))
        last_ckpt_step, last_ckpt_time = step, elapsed()
        changes: dict[str, Any] = {}
        # Best only where the validation ran at this very step: a checkpoint is scored by its own weights.
        if rc.keep_best and last_val is not None and last_val[0] == step and (best is None or last_val[2] < best["value"]):
            best = changes["best_checkpoint"] = {"step": step, "metric": last_val[1], "value": last_val[2]}
        run.update_meta(step=step, wall_time_s=wall_before + elapsed(), checkpoint_step=step, **changes)
        if dctx.is_main:  # other ranks write nothing, and delete nothing
            run.prune_checkpoints(rc.keep_last, rc.keep_every, {best["step"]} if best else set())
        yield CheckpointSaved(step=step, path=str(path))

    try:
        # Closed right here (the window shut at once), the run is recorded as stopped, not left running.
        yield started
        if data_notice:  # files skipped while loading: say how many and why, once, where the run is watched
            yield Notice(data_notice)
        # The set-up after RunStarted fails like the loop does: the run ends 'failed', never left 'running'.
        batches = train_ds.batches(rc.batch_size, rc.seed, start_step, rank=dctx.rank, world_size=dctx.world_size)
        sp = run_speedups(spec, model, device)
        to_layout, step_context = speedmod.batch_transform(sp), speedmod.step_context(sp, device)
        val_batches = []
        if val_ds is not None and rc.eval_every > 0 and dctx.is_main:  # the same fixed batches on every rank: evaluate once
            vb = min(rc.batch_size, len(val_ds))
            val_batches = [val_ds.get(slice(i * vb, (i + 1) * vb)) for i in range(max(1, min(rc.eval_batches, len(val_ds) // vb)))]
        quality = None  # FID/KID or MMD at quality_every (genstudio/metrics/quality.py); rank 0 only, like validation
        if rc.quality_every > 0 and dctx.is_main and info.kind in ("image", "points"):
            from genstudio.metrics.quality import QualityTracker  # imported here: the metrics package imports the engine

            quality = QualityTracker(rc.dataset, train_ds, val_ds, rc.quality_n, device)

        last_log_time, last_log_step = 0.0, step
        last_preview = time.perf_counter()
        preview_cost = 0.0
        if run.latest_checkpoint() == start_step:
            last_ckpt_step = start_step
        if rc.keep_best and dctx.is_main and start_step > 0:
            best = _recorded_best(run, start_step)
        sums: dict[str, float] = {}
        count = 0
        alarms = AlarmMonitor(model)  # mode collapse, a winning D, posterior collapse, dead VQ codes

        while step < total:
            if control.stopped:
                status = "stopped"
                break
            single = False
            if control.paused:
                if not control.has_single_steps():
                    train_time += time.perf_counter() - seg_start
                    run.update_meta(status="paused", step=step, wall_time_s=wall_before + train_time)
                    yield Paused(step=step, paused=True)
                    while control.paused and not control.stopped and not control.has_single_steps():
                        control.wait(0.05)
                        if control.take_save_request() and last_ckpt_step != step:
                            yield from checkpoint()
                    seg_start = time.perf_counter()
                    if control.stopped:
                        status = "stopped"
                        break
                    run.update_meta(status="running")
                    if not control.paused:
                        yield Paused(step=step, paused=False)
                single = control.take_single_step()
                if not single and control.paused:
                    continue

            batch = to_layout(next(batches).to(device))
            with step_context():
                values = model.train_step(batch)
            for k, v in values.items():
                if not math.isfinite(v):
                    raise NonFiniteError(k, step + 1)
            step += 1
            if dctx.active:
                dctx.after_step(model, step, values)
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1

            if step % rc.log_every == 0 or single or step == total:
                now = elapsed()
                sps = (step - last_log_step) / max(now - last_log_time, 1e-9)
                last_log_time, last_log_step = now, step
                avg = {k: v / count for k, v in sums.items()}
                if dctx.active:
                    avg = dctx.mean(avg)
                sums, count = {}, 0
                eta = (total - step) / sps if sps > 0 else None
                if rc.max_minutes > 0:  # the time limit ends the run first when it comes sooner
                    left = max(0.0, rc.max_minutes * 60 - now)
                    eta = left if eta is None else min(eta, left)
                run.append_metrics([{"step": step, "split": "train", "elapsed_s": round(wall_before + now, 3), **avg}])
                yield Metrics(step=step, values=avg, steps_per_s=sps, elapsed_s=wall_before + now, eta_s=eta)
                for alarm in alarms.update(avg, "train"):
                    yield Notice(alarm)

            if val_batches and (step % rc.eval_every == 0 or step == total):
                vals = evaluate(model, val_batches, device)
                name = best_metric(vals)
                if name is not None:
                    last_val = (step, name, float(vals[name]))
                if vals:
                    run.append_metrics([{"step": step, "split": "val", "elapsed_s": round(wall_before + elapsed(), 3), **vals}])
                    yield Metrics(step=step, values=vals, steps_per_s=0.0, elapsed_s=wall_before + elapsed(), split="val")
                    for alarm in alarms.update(vals, "val"):
                        yield Notice(alarm)

            if quality is not None and (step % rc.quality_every == 0 or step == total):
                if not quality.ready:
                    yield Notice(f"sample quality every {rc.quality_every} steps, n={rc.quality_n}, in {quality.prepare()}", level="info")
                q = quality.measure(model)
                run.append_metrics([{"step": step, "split": "val", "elapsed_s": round(wall_before + elapsed(), 3), **q}])
                yield Metrics(step=step, values=q, steps_per_s=0.0, elapsed_s=wall_before + elapsed(), split="val")

            due = (rc.sample_every > 0 and step % rc.sample_every == 0) or control.take_preview_request()
            # Timed previews are throttled where they are produced: never more than
            # PREVIEW_TIME_SHARE of the wall time (a DDPM grid costs seconds on a CPU).
            gap = max(rc.preview_every_s, preview_cost / PREVIEW_TIME_SHARE)
            due = due or (rc.preview_every_s > 0 and time.perf_counter() - last_preview >= gap)
            due = due or (single and info.kind == "points")
            if due and step < total and dctx.is_main:
                t_preview = time.perf_counter()
                preview = make_preview(model, rc.preview_n, info, step, run)
                last_preview = time.perf_counter()
                preview_cost = last_preview - t_preview
                yield preview

            due = control.take_save_request() or (rc.checkpoint_every > 0 and step % rc.checkpoint_every == 0)
            # The time cadence: a slow model still leaves a recent checkpoint to resume from.
            due = due or (rc.checkpoint_every_minutes > 0 and elapsed() - last_ckpt_time >= rc.checkpoint_every_minutes * 60)
            if due:
                yield from checkpoint()

            time_up = rc.max_minutes > 0 and elapsed() >= rc.max_minutes * 60
            if dctx.active:  # one small all-reduce, so every rank stops (Ctrl+C, time limit) at the same step
                time_up = control.agree(dctx, time_up)
            if time_up:
                message = f"time limit of {rc.max_minutes:g} min reached at step {step}"
                status = "stopped"
                break

        # The end of a run (completed or stopped): a checkpoint and a final grid.
        if last_ckpt_step != step:
            yield from checkpoint()
        if dctx.is_main:
            yield make_preview(model, rc.preview_n, info, step, run)
        if status == "stopped" and not message:
            message = f"stopped at step {step} of {total}"
        elif status == "completed":
            message = f"completed {step} steps"
    except NonFiniteError as e:
        status, term = "diverged", e.term
        last = run.latest_checkpoint()
        message = f"training diverged at step {e.step or step + 1}: {e}. " + (
            f"The last good checkpoint is step {last}." if last is not None else "No checkpoint had been saved yet."
        )
    except Exception as e:  # noqa: BLE001 - any failure ends the run with its traceback, never silently
        status = "failed"
        full = disk_full(e)
        if full is not None:  # not a bug: the message says which file and what to do
            message = str(full)
        else:
            message = f"{type(e).__name__}: {e}"
            tb = traceback.format_exc()
    except BaseException:  # the caller closed the loop (GeneratorExit) or Ctrl+C aborted it: say so, then let it through
        _record_abort(run, step, wall_before + elapsed())
        raise
    train_time = elapsed()
    try:
        run.update_meta(
            status=status,
            step=step,
            wall_time_s=wall_before + train_time,
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
    yield Finished(status=status, step=step, message=message, traceback=tb, term=term)


def best_metric(values: dict[str, float]) -> str | None:
    """The validation value retention ranks checkpoints by: the model's main loss, its EMA network's where it keeps one
    (samples come from the EMA weights); None for models without one (GANs) or when it is not finite."""
    for name in ("loss_ema", "loss"):
        if name in values and math.isfinite(float(values[name])):
            return name
    return None


def _recorded_best(run: RunFolder, start_step: int) -> dict[str, Any] | None:
    """The best checkpoint a resumed run had recorded, when it is at or before the step it resumes from."""
    best = run.meta.get("best_checkpoint")
    try:
        if isinstance(best, dict) and int(best["step"]) <= start_step and math.isfinite(float(best["value"])):
            return {"step": int(best["step"]), "metric": str(best.get("metric", "loss")), "value": float(best["value"])}
    except (KeyError, TypeError, ValueError):
        pass
    return None


def _record_abort(run: RunFolder, step: int, wall_time_s: float) -> None:
    """meta.json of a loop that was closed or interrupted: "stopped", never left "running"."""
    try:
        if run.meta.get("status") in ("running", "paused"):
            run.update_meta(status="stopped", step=step, wall_time_s=wall_time_s,
                            message=f"interrupted at step {step}; resume continues from the last checkpoint")
    except Exception:  # noqa: BLE001 - the interruption itself must go on; a full disk says so at the next run
        pass
