"""Faults injected into a training process of its own, to test that a run folder survives them.

A checkpoint write goes through seven phases (``core.runs.save_checkpoint``):
the weights' temporary file written, cut half-way (as if killed during the
write), renamed; the state's temporary file written, renamed; the
``latest.json`` pointer's temporary file written, renamed.
:func:`kill_inside_checkpoint_write` makes the calling process SIGKILL itself
at one of them, by wrapping ``save_file`` and ``os.replace`` in that process
only: product code carries no hook. Call it in a child process, never in the
test runner.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

#: Phases of one checkpoint write, in the order save_checkpoint goes through them.
SAVE_PHASES = ("weights-tmp", "weights-torn", "weights-renamed", "state-tmp", "state-renamed", "pointer-tmp", "pointer-renamed")
#: From this phase on, the killed checkpoint's weights and state are both whole on disk.
COMPLETE_FROM = SAVE_PHASES.index("state-renamed")


def die() -> None:
    """SIGKILL this process: no handler, no flush, no atexit (what a crash or the OOM killer does)."""
    os.kill(os.getpid(), signal.SIGKILL)


def kill_inside_checkpoint_write(step: int, phase: str) -> None:
    """Make this process SIGKILL itself at ``phase`` (one of :data:`SAVE_PHASES`) of checkpoint ``step``'s write."""
    if phase not in SAVE_PHASES:
        raise ValueError(f"unknown checkpoint-write phase {phase!r}; one of {', '.join(SAVE_PHASES)}")
    import genstudio.core.runs as runs

    stem = f"step_{step:08d}"
    if phase in ("weights-tmp", "weights-torn"):
        real_save = runs.save_file

        def save_file(tensors, path, metadata=None):
            real_save(tensors, path, metadata=metadata)
            if stem in Path(path).name:
                if phase == "weights-torn":  # as if killed half-way through the write
                    os.truncate(path, os.path.getsize(path) // 2)
                die()

        runs.save_file = save_file
        return
    real_replace = os.replace
    armed = {"pointer": False}
    target = {"weights": f"{stem}.safetensors", "state": f"{stem}.state.pt", "pointer": "latest.json"}[phase.split("-")[0]]

    def replace(src, dst, *args, **kwargs):
        name = Path(dst).name
        hit = name == target and (target != "latest.json" or armed["pointer"])
        if hit and phase.endswith("-tmp"):
            die()
        real_replace(src, dst, *args, **kwargs)
        if name == f"{stem}.state.pt":
            armed["pointer"] = True  # the next latest.json is this checkpoint's
        if hit:
            die()

    os.replace = replace
