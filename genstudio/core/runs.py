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
previous checkpoint as the latest.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ConfigError

STATUSES = ("created", "running", "paused", "completed", "stopped", "diverged", "failed")


class RunError(ValueError):
    """A run folder or checkpoint cannot be used; the message says why."""


def default_runs_root() -> Path:
    return Path(os.environ.get("GENSTUDIO_RUNS", "runs"))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside ``path``, fsync, rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


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
        if p.exists() and any(p.iterdir()):
            raise RunError(f"'{p}' already exists and is not empty; choose another --out, or pass --resume to continue it")
        p.mkdir(parents=True, exist_ok=True)
        run = cls(p)
        run.checkpoint_dir.mkdir(exist_ok=True)
        run.samples_dir.mkdir(exist_ok=True)
        atomic_write_bytes(run.config_path, spec.to_toml().encode())
        run.write_meta({"status": "created", "created": time.time(), **meta})
        run.metrics_path.touch()
        return run

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
        try:
            return RunSpec.from_toml_file(self.config_path)
        except ConfigError as e:
            raise RunError(f"'{self.config_path}': {e}") from None

    # -- metrics ----------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        with open(self.metrics_path, "a") as f:
            for r in records:
                f.write(json.dumps(r) + "\n")
            f.flush()

    def read_metrics(self, since_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Records appended since ``since_offset`` (bytes) and the new offset.

        A partially written last line (another process mid-write) is left for
        the next call.
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
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return out, since_offset + end + 1

    def truncate_metrics_after(self, step: int) -> None:
        """Drop records past ``step`` (used on resume so a replayed step is not logged twice)."""
        records, _ = self.read_metrics()
        kept = [r for r in records if r.get("step", 0) <= step]
        if len(kept) != len(records):
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
        """Write weights and trainer state, then point latest.json at them."""
        stem = f"step_{step:08d}"
        wpath = self.checkpoint_dir / f"{stem}.safetensors"
        spath = self.checkpoint_dir / f"{stem}.state.pt"
        self.checkpoint_dir.mkdir(exist_ok=True)
        # safetensors wants contiguous CPU tensors that share no storage.
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in weights.items()}
        fd, tmp = tempfile.mkstemp(dir=self.checkpoint_dir, prefix=f".{stem}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"step": str(step)})
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, wpath)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(spath, buf.getvalue())
        atomic_write_json(self.checkpoint_dir / "latest.json", {"step": step, "weights": wpath.name, "state": spath.name})
        return wpath

    def checkpoints(self) -> list[int]:
        steps = []
        for p in self.checkpoint_dir.glob("step_*.safetensors"):
            try:
                steps.append(int(p.stem.split("_")[1]))
            except (IndexError, ValueError):
                continue
        return sorted(steps)

    def latest_checkpoint(self) -> int | None:
        """Step of the newest complete checkpoint, or None."""
        pointer = self.checkpoint_dir / "latest.json"
        if pointer.is_file():
            try:
                return int(json.loads(pointer.read_text())["step"])
            except (ValueError, KeyError, json.JSONDecodeError):
                pass
        steps = self.checkpoints()
        return steps[-1] if steps else None

    def load_checkpoint(self, step: int | None = None, with_state: bool = True) -> tuple[int, dict[str, torch.Tensor], dict[str, Any] | None]:
        """Load (step, weights, state). State is unpickled with ``weights_only=True``."""
        if step is None:
            step = self.latest_checkpoint()
            if step is None:
                raise RunError(f"run '{self.path}' has no checkpoint yet")
        stem = f"step_{step:08d}"
        wpath = self.checkpoint_dir / f"{stem}.safetensors"
        if not wpath.is_file():
            raise RunError(f"checkpoint '{wpath}' does not exist")
        try:
            weights = load_file(str(wpath))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            raise RunError(f"checkpoint '{wpath}' is unreadable or corrupt: {e}") from None
        state = None
        if with_state:
            spath = self.checkpoint_dir / f"{stem}.state.pt"
            state = load_trainer_state(spath)
        return step, weights, state


def load_trainer_state(path: Path) -> dict[str, Any]:
    """Optimiser and RNG state; ``weights_only=True`` so a crafted pickle cannot run code."""
    if not path.is_file():
        raise RunError(f"trainer state '{path}' does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... all mean "unusable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"trainer state '{path}' was refused or is corrupt ({type(e).__name__}: {first})") from None


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
