"""The status bar: device, torch threads, step, steps/s, ETA and the process's memory."""

from __future__ import annotations

import os
import resource
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget


def memory_mb() -> float:
    """Resident memory of this process in MB (current on Linux, peak elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "–"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class StudioStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.device = QLabel()
        self.threads = QLabel()
        self.step = QLabel()
        self.rate = QLabel()
        self.eta = QLabel()
        self.memory = QLabel()
        for w, tip in (
            (self.device, "Device the run trains on"),
            (self.threads, "CPU threads torch uses (one fewer than the cores while the window is open)"),
            (self.step, "Training step"),
            (self.rate, "Training steps per second"),
            (self.eta, "Estimated time left"),
            (self.memory, "Memory used by the studio process"),
        ):
            w.setToolTip(tip)
            self.addPermanentWidget(w)
        self.set_device(None, None)
        self.set_progress(None, None, None, None)
        self._timer = QTimer(self, interval=2000)
        self._timer.timeout.connect(self.update_memory)
        self._timer.start()
        self.update_memory()

    def set_device(self, device: str | None, threads: int | None) -> None:
        """The run's device and threads; ``None`` before a run: what a run started now would use.

        The process's own torch thread count is not that: the studio gives a run one
        thread fewer than the free cores (core.device.default_threads), so the idle
        bar would otherwise say 2 and the run then 1.
        """
        if device is None:
            import torch

            from genstudio.core.device import default_threads

            device = "cuda" if torch.cuda.is_available() else "cpu"
            threads = default_threads(gui=True)
        self.device.setText(f"device: {device}")
        self.threads.setText(f"threads: {threads}")

    def set_progress(self, step: int | None, total: int | None, steps_per_s: float | None, eta_s: float | None) -> None:
        if step is None:
            self.step.setText("step: –")
        else:
            self.step.setText(f"step: {step:,}" + (f" / {total:,}" if total else ""))
        self.rate.setText(f"{steps_per_s:.1f} steps/s" if steps_per_s else "– steps/s")
        self.eta.setText(f"ETA {format_duration(eta_s)}")

    def update_memory(self) -> None:
        self.memory.setText(f"mem {memory_mb():,.0f} MB")
