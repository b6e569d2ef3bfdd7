"""Run folders: one per run, never overwritten, readable while written.

Layout::

    config.toml        the resolved RunSpec (rebuilds the model)
    meta.json          model, dataset, versions, seed, device, status, step
    metrics.jsonl      one JSON object per line, append-only
    checkpoints/       step_XXXXXXXX.safetensors (weights) + .state.pt
                       (optimiser and RNG state), latest.json points at the
                       newest complete pair
    samples/           step_XXXXXXXX.png preview grids from a fixed seed

Checkpoint files are written to a temporary name, fsynced and renamed, and
``latest.json`` is switched last, so a process killed mid-save leaves the
previous checkpoint as the latest. A full disk (ENOSPC) during a write
removes what that save had written and raises :class:`DiskFullError`, which
names the file (the safe writes live in ``run_files.py``, the checks that a checkpoint's files are
whole in ``checkpoint_files.py``). A training process holds ``.lock`` (core/run_lock.py) for the
whole run; :meth:`RunFolder.prune_checkpoints` applies the retention rule and
skips checkpoints that a reader has pinned.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from . import run_lock
from .checkpoint_files import load_trainer_state, safetensors_problem, state_problem
from .config import ConfigError
from .run_files import DiskFullError, RunError, atomic_write_bytes, atomic_write_json, disk_full, fsync_dir

STATUSES = ("created", "running", "paused", "completed", "stopped", "diverged", "failed")


def retained_steps(steps: list[int], keep_last: int, keep_every: int = 0, keep: set[int] | frozenset[int] = frozenset()) -> set[int]:
    """The checkpoint steps the retention rule keeps.

    The newest ``keep_last`` (0: every checkpoint), plus the first checkpoint
    at or after each multiple of ``keep_every`` (0: none; "first at or after",
    so checkpoints taken on a time cadence count too), plus ``keep`` (the best
    by validation, the latest).
    """
    steps = sorted(steps)
    if keep_last <= 0:
        return set(steps)
    out = set(steps[-keep_last:]) | (set(keep) & set(steps))
    if keep_every > 0:
        firsts: dict[int, int] = {}
        for s in steps:
            bucket = s // keep_every
            if bucket > 0 and bucket not in firsts:
                firsts[bucket] = s
        out |= set(firsts.values())
    return out


def default_runs_root() -> Path:
    return Path(os.environ.get("GENSTUDIO_RUNS", "runs"))


class RunFolder:
    """A run on disk; cheap to construct, reads lazily."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- layout -------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def meta_path(self) -> Path:
        return self.path / "meta.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples_dir(self) -> Path:
        return self.path / "samples"

    def exists(self) -> bool:
        return self.config_path.is_file() and self.meta_path.is_file()

    # -- creation -------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, spec: Any, meta: dict[str, Any]) -> "RunFolder":
        """Make a new run folder; refuses to touch one that already holds files."""
        p = Path(path)
        run = cls(p)
        if p.exists() and not run._creation_never_finished():  # its own lock may be there already
            raise RunError(f"'{p}' already exists and is not empty; choose another --out, or pass --resume to continue it")
        p.mkdir(parents=True, exist_ok=True)
        run.checkpoint_dir.mkdir(exist_ok=True)
        run.samples_dir.mkdir(exist_ok=True)
        atomic_write_bytes(run.config_path, spec.to_toml().encode())
        # meta.json last: a folder without it is a creation that was cut off (see _creation_never_finished).
        run.metrics_path.touch()
        run.write_meta({"status": "created", "created": time.time(), **meta})
        return run

    def _creation_never_finished(self) -> bool:
        """Whether the folder holds nothing but what an interrupted ``create`` leaves: no meta.json yet, at
        most the lock, config.toml, an empty metrics file and the empty checkpoint and sample folders.

        A process killed inside ``create`` left such a folder, which neither a new run (it was "not
        empty") nor ``--resume`` (no meta.json) could use; nothing in it was ever trained, so creating
        the run again over it loses nothing.
        """
        if self.meta_path.exists():
            return False
        for q in self.path.iterdir():
            if q.name in (run_lock.LOCK_NAME, self.config_path.name):
                continue
            if q == self.metrics_path and q.is_file() and q.stat().st_size == 0:
                continue
            if q in (self.checkpoint_dir, self.samples_dir) and q.is_dir() and not any(q.iterdir()):
                continue
            return False
        return True

    # -- meta -----------------------------------------------------------------
    @property
    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            raise RunError(f"'{self.path}' is not a run folder (no meta.json)") from None
        except json.JSONDecodeError as e:
            raise RunError(f"'{self.meta_path}' is corrupt: {e}") from None

    def write_meta(self, meta: dict[str, Any]) -> None:
        atomic_write_json(self.meta_path, meta)

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        meta = self.meta
        meta.update(changes)
        self.write_meta(meta)
        return meta

    def spec(self):
        """The RunSpec in config.toml (raises ConfigError/RunError with the reason)."""
        from .spec import RunSpec

        if not self.config_path.is_file():
            raise RunError(f"'{self.path}' is not a run folder (no config.toml)")
        try:  # a run folder's config names its model and dataset: without them it is not this run's
            written = RunSpec.read_toml_file(self.config_path, require=("model", "dataset"))
            spec = RunSpec.from_written(written, self.config_path)
        except ConfigError as e:
            raise RunError(str(e)) from None  # the message names the file
        # A run written before checkpoint retention existed kept every checkpoint: resuming it must
        # not start deleting them (``--set keep_last=3`` opts in).
        if "keep_last" not in written.get("run", {}):
            spec = spec.with_overrides(run={"keep_last": 0})
        # A model setting added since the run was written: the run trained as the setting's old behaviour,
        # which may not be today's default (a flow's dequantisation); its checkpoint holds no weights for the new one.
        before = {k: v for k, v in getattr(type(spec.model), "absent_in_older_runs", {}).items()
                  if hasattr(spec.model, k) and k not in written.get("model", {})}
        if before:
            spec = spec.with_overrides(model=before)
        return spec

    # -- metrics ----------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        try:
            with open(self.metrics_path, "a") as f:
                for r in records:
                    f.write(json.dumps(r) + "\n")
                f.flush()
        except OSError as e:
            full = disk_full(e, self.metrics_path)
            if full is None:
                raise
            raise full from e

    def read_metrics(self, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records appended since ``since_offset`` (bytes) and the new offset.

        A partially written last line (another process mid-write) is left for
        the next call. A line that is not a JSON object (a torn write of a
        killed process, bytes that are not UTF-8) is skipped, so one bad line
        never hides the rest of a run's curves.
        """
        try:
            with open(self.metrics_path, "rb") as f:
                f.seek(since_offset)
                data = f.read()
        except FileNotFoundError:
            return [], since_offset
        end = data.rfind(b"\n")
        if end < 0:
            return [], since_offset
        out = []
        for line in data[: end + 1].splitlines():
            if line.strip():
                try:
                    record = json.loads(line)
                except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not text
                    continue
                if isinstance(record, dict):
                    out.append(record)
        return out, since_offset + end + 1

    def truncate_metrics_after(self, step: int) -> None:
        """Drop records past ``step`` and a torn last line (used on resume so a replayed step is not logged twice).

        A process killed mid-append can leave a last line without its newline;
        the resumed run's first record would be glued onto it and lost.
        """
        records, end = self.read_metrics()
        kept = [r for r in records if isinstance(r.get("step", 0), (int, float)) and r.get("step", 0) <= step]
        size = self.metrics_path.stat().st_size if self.metrics_path.is_file() else 0
        if len(kept) != len(records) or end != size:
            atomic_write_bytes(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept).encode())

    # -- samples ----------------------------------------------------------------
    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:08d}.png"

    def sample_grids(self) -> list[tuple[int, Path]]:
        if not self.samples_dir.is_dir():
            return []
        out = []
        for p in self.samples_dir.glob("step_*.png"):
            try:
                out.append((int(p.stem.split("_")[1]), p))
            except (IndexError, ValueError):
                continue
        return sorted(out)

    # -- checkpoints ------------------------------------------------------------
    def save_checkpoint(self, step: int, weights: dict[str, torch.Tensor], state: dict[str, Any]) -> Path:
        """Write weights and trainer state, then point latest.json at them.

        If any write fails (a full disk above all), what this save had written
        is removed: no temporary file stays, latest.json still names the
        previous checkpoint, and a full disk raises DiskFullError naming the
        file that did not fit.
        """
        import io

        stem = f"step_{step:08d}"
        wpath = self.checkpoint_dir / f"{stem}.safetensors"
        spath = self.checkpoint_dir / f"{stem}.state.pt"
        pointer = self.checkpoint_dir / "latest.json"
        self.checkpoint_dir.mkdir(exist_ok=True)
        # safetensors wants contiguous CPU tensors that share no storage.
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in weights.items()}
        written: list[Path] = []
        target = wpath
        try:
            fd, tmp = tempfile.mkstemp(dir=self.checkpoint_dir, prefix=f".{stem}.", suffix=".tmp")
            os.close(fd)
            try:
                save_file(tensors, tmp, metadata={"step": str(step)})
                with open(tmp, "rb") as f:
                    os.fsync(f.fileno())
                os.replace(tmp, wpath)
                written.append(wpath)
                fsync_dir(self.checkpoint_dir)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            target = spath
            buf = io.BytesIO()
            torch.save(state, buf)
            atomic_write_bytes(spath, buf.getvalue())
            written.append(spath)
            target = pointer
            atomic_write_json(pointer, {"step": step, "weights": wpath.name, "state": spath.name})
        except BaseException as e:
            # Half a pair would be listed by checkpoints() and tried on resume; drop it,
            # unless latest.json already names this step (a save repeated at one step).
            if self._pointer_step() != step:
                for p in written:
                    with contextlib.suppress(OSError):
                        p.unlink()
            full = disk_full(e, target)
            if full is not None:
                raise full from e
            raise
        return wpath

    def _pointer_step(self) -> int | None:
        """The step latest.json names, or None when it is missing or unreadable."""
        try:
            return int(json.loads((self.checkpoint_dir / "latest.json").read_text())["step"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- locks and retention ----------------------------------------------------
    def lock(self) -> run_lock.RunLock:
        """Hold this run folder for one training process (the folder must exist); RunError when another holds it."""
        try:
            return run_lock.acquire(self.path)
        except run_lock.RunInUseError as e:
            raise RunError(str(e)) from None

    def check_unlocked(self) -> None:
        """RunError when another process holds this run folder; creates and changes nothing."""
        try:
            run_lock.check_free(self.path)
        except run_lock.RunInUseError as e:
            raise RunError(str(e)) from None

    def writer(self) -> dict[str, Any] | None:
        """The process training into this folder now (pid, host, since), or None: a "running" run without one has crashed."""
        return run_lock.holder(self.path)

    @contextlib.contextmanager
    def pin(self, step: int | None = None) -> Iterator[int]:
        """Keep checkpoint ``step`` (the latest by default) from retention while the block reads it; yields the step.

        RunError when the run has no checkpoint yet. A step whose weights are
        missing is yielded unpinned (and no pin file is made for it), so that
        ``load_checkpoint`` reports what is wrong.
        """
        chosen: int | None = None
        for attempt in range(3):  # the latest can be superseded and pruned between choosing it and pinning it
            chosen = step if step is not None else self.latest_checkpoint()
            if chosen is None:
                raise RunError(f"run '{self.path}' has no checkpoint yet")
            weights = self.checkpoint_dir / f"step_{chosen:08d}.safetensors"
            if not weights.is_file():
                if step is None and attempt < 2:
                    continue
                break
            with run_lock.pinned(self.checkpoint_dir, chosen):
                if weights.is_file():
                    yield chosen
                    return
        yield chosen

    def prune_checkpoints(self, keep_last: int, keep_every: int = 0, keep: set[int] | frozenset[int] = frozenset()) -> list[int]:
        """Delete the checkpoints the retention rule (:func:`retained_steps`) does not keep; returns their steps.

        The one latest.json names is always kept, and a checkpoint a reader has
        pinned is skipped (a later save deletes it).
        """
        steps = self.checkpoints()
        latest = self._pointer_step()
        keep = set(keep) | ({latest} if latest is not None else set())
        kept = retained_steps(steps, keep_last, keep_every, keep)
        deleted = []
        for s in steps:
            if s in kept:
                continue
            with run_lock.unpinned(self.checkpoint_dir, s) as free:
                if not free:
                    continue
                stem = self.checkpoint_dir / f"step_{s:08d}"
                try:
                    # Weights first: checkpoints() lists weights, so a kill here leaves at worst an unlisted state file.
                    stem.with_suffix(".safetensors").unlink(missing_ok=True)
                    stem.with_suffix(".state.pt").unlink(missing_ok=True)
                    run_lock.pin_path(self.checkpoint_dir, s).unlink(missing_ok=True)
                except OSError:
                    continue  # in use (Windows) or read-only: kept, tried again at the next save
            deleted.append(s)
        return deleted

    def remove_temp_files(self) -> list[Path]:
        """Delete the temporary files a killed training process left in checkpoints/ and samples/; returns them.

        Only the training process writes there (readers make ``.lock`` pin
        files, never ``.tmp``), so with the run's lock held nothing else can
        be mid-write: a resume calls this, or each kill mid-save would leave a
        checkpoint-sized file behind for good.
        """
        removed = []
        for folder in (self.checkpoint_dir, self.samples_dir):
            for p in sorted(folder.glob(".*.tmp")) if folder.is_dir() else []:
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
        return removed

    def checkpoints(self) -> list[int]:
        steps = []
        for p in self.checkpoint_dir.glob("step_*.safetensors"):
            try:
                steps.append(int(p.stem.split("_")[1]))
            except (IndexError, ValueError):
                continue
        return sorted(steps)

    def latest_checkpoint(self) -> int | None:
        """The step ``latest.json`` names (else the newest weights file), or None.

        This is what the run says is its latest checkpoint; it is not checked
        on disk (see :meth:`newest_complete_checkpoint` for that).
        """
        pointer = self.checkpoint_dir / "latest.json"
        if pointer.is_file():
            try:
                return int(json.loads(pointer.read_text())["step"])
            except (ValueError, KeyError, TypeError, IndexError, OSError):  # torn, not an object, or no step
                pass
        steps = self.checkpoints()
        return steps[-1] if steps else None

    def checkpoint_problem(self, step: int, with_state: bool = True) -> str | None:
        """Why checkpoint ``step`` cannot be used (missing, empty, truncated), or None when it is complete.

        Reads only the safetensors header and the zip directory of the state,
        so it is cheap enough to run before every load.
        """
        stem = f"step_{step:08d}"
        problem = safetensors_problem(self.checkpoint_dir / f"{stem}.safetensors")
        if problem is None and with_state:
            problem = state_problem(self.checkpoint_dir / f"{stem}.state.pt")
        return problem

    def newest_complete_checkpoint(self, with_state: bool = True) -> int | None:
        """The newest step whose files are all complete on disk, or None.

        A resume starts here: a checkpoint that ``latest.json`` names but whose
        file is missing or cut short (a copy that stopped half-way, a disk
        that filled) is passed over. A complete pair newer than the pointer
        (a process killed between the state file and the pointer) counts.
        """
        for step in reversed(self.checkpoints()):
            if self.checkpoint_problem(step, with_state) is None:
                return step
        return None

    def load_checkpoint(self, step: int | None = None, with_state: bool = True) -> tuple[int, dict[str, torch.Tensor], dict[str, Any] | None]:
        """Load (step, weights, state); the latest by default. State is unpickled with ``weights_only=True``.

        An incomplete or corrupt checkpoint is refused, never replaced by an
        older one: a sample or an evaluation names the checkpoint it used, so
        the message names the newest complete one to ask for instead. (A
        resume passes over incomplete checkpoints itself: see
        :meth:`newest_complete_checkpoint`.)
        """
        if step is None:
            step = self.latest_checkpoint()
            if step is None:
                raise RunError(f"run '{self.path}' has no checkpoint yet")
        stem = f"step_{step:08d}"
        wpath = self.checkpoint_dir / f"{stem}.safetensors"
        problem = self.checkpoint_problem(step, with_state=False)
        if problem is None:
            try:
                weights = load_file(str(wpath))
            except (SafetensorError, OSError, ValueError, RuntimeError) as e:
                problem = f"unreadable or corrupt ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})"
        if problem is not None:
            raise RunError(f"checkpoint '{wpath}' is {problem}{self._fallback_hint(step, with_state)}")
        state = None
        if with_state:
            spath = self.checkpoint_dir / f"{stem}.state.pt"
            try:
                state = load_trainer_state(spath)
            except RunError as e:
                raise RunError(f"{e}{self._fallback_hint(step, with_state)}") from None
        return step, weights, state

    def _fallback_hint(self, step: int, with_state: bool) -> str:
        older = [s for s in self.checkpoints() if s < step and self.checkpoint_problem(s, with_state) is None]
        if older:
            return f"; the newest complete checkpoint is step {older[-1]} (e.g. --checkpoint {older[-1]})"
        return "; the run has no other complete checkpoint"


def list_runs(root: str | Path | None = None) -> list[RunFolder]:
    """Run folders directly under ``root`` (or nested one level), newest first."""
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    found = []
    for p in root.iterdir():
        if (p / "meta.json").is_file():
            found.append(RunFolder(p))
        elif p.is_dir():
            found.extend(RunFolder(q) for q in p.iterdir() if (q / "meta.json").is_file())

    def created(r: RunFolder) -> float:
        try:
            return float(r.meta.get("created", 0))
        except RunError:
            return 0.0

    return sorted(found, key=created, reverse=True)


#: meta.json statuses of a run that may still be training (or was killed while it did).
LIVE = ("running", "paused", "created")


def last_progress(metrics_path: Path, tail_bytes: int = 16384) -> tuple[int, float] | None:
    """(step, elapsed seconds) of the last complete training record in metrics.jsonl, reading only its tail.

    meta.json of a live run changes only at checkpoints and pauses, so its step
    and wall time lag (a fresh run reads "0 / 2,000", "0:00" for minutes); the
    metrics file gets a line every ``log_every`` steps. The runs browser and
    Compare runs both read a live run's progress here.
    """
    try:
        with open(metrics_path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - tail_bytes))
            chunk = f.read()
    except OSError:
        return None
    lines = chunk.split(b"\n")
    if size > tail_bytes:
        lines = lines[1:]  # the first one is cut
    if lines and chunk and not chunk.endswith(b"\n"):
        lines = lines[:-1]  # half-written by the training thread
    for line in reversed(lines):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and r.get("split", "train") == "train" and "step" in r:
            try:
                return int(r["step"]), float(r.get("elapsed_s") or 0.0)
            except (TypeError, ValueError):
                continue
    return None
