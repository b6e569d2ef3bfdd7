"""Whether a checkpoint's files are whole, judged from their bytes, and loading the trainer state safely.

A checkpoint is a safetensors file of weights and a ``torch.save`` zip of the
optimiser and RNG state; a kill or a full disk can leave either cut short.
These checks read only headers and zip directories, so the runs browser and
``--resume`` can name the broken file and fall back to an older checkpoint
without loading anything.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .run_files import RunError


def safetensors_problem(path: Path) -> str | None:
    """Why a safetensors file is unusable (missing, empty, cut short), judged from its header; None if whole.

    The format is an 8-byte little-endian header length, a JSON header whose
    ``data_offsets`` place every tensor, then the data: a whole file ends
    exactly where its last tensor does.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty (0 bytes; the save that wrote it did not finish)"
        with open(path, "rb") as f:
            head = f.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n < 0 or 8 + n > size:
                return f"cut short or corrupt ({size} bytes, shorter than its own header says)"
            header = json.loads(f.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"), default=0)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return "corrupt (its header is not a safetensors header)"
    if 8 + n + end != size:
        return f"cut short or corrupt ({size} bytes where its header places {8 + n + end})"
    return None


def state_problem(path: Path) -> str | None:
    """Why a trainer-state file is unusable (missing, empty, a cut-short zip); None if it may be loaded.

    ``torch.save`` writes a zip whose directory sits at the end, so a cut
    file loses it. A file that is not a zip at all is left to the loader,
    which refuses what it cannot read safely (``weights_only=True``).
    """
    import zipfile

    try:
        size = path.stat().st_size
        if size == 0:
            return "missing its trainer state (empty file)"
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
    except FileNotFoundError:
        return "missing its trainer state"
    except OSError as e:
        return f"missing its trainer state (unreadable: {e.strerror or e})"
    if is_zip and not zipfile.is_zipfile(path):
        return "missing its trainer state (cut short)"
    return None


def load_trainer_state(path: Path) -> dict[str, Any]:
    """Optimiser and RNG state; ``weights_only=True`` so a crafted pickle cannot run code."""
    if not path.is_file():
        raise RunError(f"trainer state '{path}' does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... all mean "unusable"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RunError(f"trainer state '{path}' was refused or is corrupt ({type(e).__name__}: {first})") from None
