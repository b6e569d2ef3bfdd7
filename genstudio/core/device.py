"""Device choice, CPU thread count and seeding."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from .config import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; a named device must exist."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was requested but no CUDA GPU is available; use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ConfigError("device 'mps' was requested but MPS is not available; use --device cpu or auto")
    elif dev.type != "cpu":
        raise ConfigError(f"unsupported device '{name}'; use auto, cpu, cuda, cuda:N or mps")
    return dev


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def busy_cores() -> int:
    """Cores other processes keep busy: the 1-minute load average, rounded (0 where unknown)."""
    try:
        return int(round(os.getloadavg()[0]))
    except (AttributeError, OSError):  # Windows has no load average
        return 0


def default_threads(gui: bool) -> int:
    """Torch CPU threads: the cores no one else is using; in the studio, one fewer.

    torch's intra-op threads meet at a barrier after every operator; when
    another process holds one of the cores, each barrier waits for a thread
    that is not running. Measured on 2 cores (benchmarks/RESULTS.md): on an
    idle machine 2 threads trained VAE, DCGAN and DDPM 1.4-1.6x faster than
    1; with other work running, 2 threads were about 3x slower than 1. So
    the command line takes the cores the load average leaves free, and the
    studio also leaves one core to the Qt event loop.
    """
    n = cpu_count()
    free = max(1, n - busy_cores())
    return max(1, min(free, n - 1)) if gui else free


def configure_threads(requested: int = 0, gui: bool = False) -> int:
    n = requested if requested > 0 else default_threads(gui)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Global RNG states as tensors and plain types (loadable with weights_only=True)."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state(),
        "python": _python_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        s = state["numpy"]
        np.random.set_state((s["kind"], s["keys"].numpy().astype(np.uint32), int(s["pos"]), int(s["has_gauss"]), float(s["cached"])))
    if "python" in state:
        s = state["python"]
        random.setstate((int(s["version"]), tuple(int(v) for v in s["state"].tolist()), None))


def _numpy_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}


def _python_state() -> dict:
    version, internal, gauss = random.getstate()
    return {"version": version, "state": torch.tensor(internal, dtype=torch.int64)}


def describe_device(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type
