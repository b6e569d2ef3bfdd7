"""The GAN view's sandbox: Step D, Step G and Step both update the panel's own copy of the model (never the
training thread's), and Play repeats steps on a timer whose speed slider goes down to one step a second.
A mixin of :class:`.panel.GanViewPanel`."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from genstudio.core.capabilities import Conditional
from genstudio.core.data_types import Batch

# Speed slider: (timer interval in ms, steps per tick); the first entries are slow motion.
SPEEDS = ((1000, 1), (500, 1), (250, 1), (120, 1), (60, 1), (30, 1), (16, 1), (16, 2), (16, 4), (16, 8))


class Sandbox:
    """Mixin (before QWidget): stepping the players and playing at a measured rate."""

    data: Any
    sandbox_steps: int

    def training_points(self) -> tuple[np.ndarray, np.ndarray | None]:
        """What the sandbox trains on: the drawn points once there are some, else the run's data."""
        assert self.data is not None
        if self.drawn:
            return np.concatenate(self.drawn).astype(np.float32), None
        labels = self.data.labels if isinstance(self.data.model, Conditional) else None
        return self.data.real, labels

    def step(self, what: str = "both", count: int = 1) -> dict[str, float]:
        """Run ``count`` sandbox steps: ``d`` (one D update), ``g`` (one G update) or ``both`` (a training step)."""
        if self.data is None:
            return {}
        model = self.data.model
        real, labels = self.training_points()
        if not len(real):
            return {}
        stats: dict[str, torch.Tensor] = {}
        t0 = time.perf_counter()
        for _ in range(count):
            idx = self._rng.integers(0, len(real), min(self.data.batch_size, len(real)))
            y = torch.as_tensor(labels[idx]) if labels is not None else -torch.ones(len(idx), dtype=torch.long)
            x_model, y_model = model.prepare_batch(Batch(torch.as_tensor(real[idx]), y))
            if what in ("d", "both"):
                for _ in range(getattr(model.config, "d_steps", 1) if what == "both" else 1):
                    stats.update(model.discriminator_step(x_model, y_model))
            if what in ("g", "both"):
                stats.update(model.generator_step(len(idx), y_model))
            self.sandbox_steps += 1
        model.eval()
        # A D-only or G-only step leaves the other player's numbers as they were.
        self.last_stats.update({k: float(v) for k, v in stats.items()})
        for k in ("d_loss", "g_loss"):
            self.history[k].append(float(stats[k]) if k in stats else self.last_stats.get(k, float("nan")))
        self.history["step"].append(float(self.sandbox_steps))
        self.redraw()
        self.last_step_ms = (time.perf_counter() - t0) * 1000 / count
        self.readout.setText(self._readout_text())
        self.stepped.emit(self.sandbox_steps)
        return self.last_stats

    def _play_toggled(self, on: bool) -> None:
        self.play.setText("Pause" if on else "Play")
        self._ticks = []
        if on:
            self.timer.start(SPEEDS[self.speed.value()][0])
        else:
            self.timer.stop()
        self._show_rate()

    def target_rate(self) -> float:
        """Steps per second the speed slider asks for."""
        interval, per_tick = SPEEDS[self.speed.value()]
        return per_tick * 1000 / interval

    def achieved_rate(self) -> float | None:
        """Steps per second over the last two seconds of play (None before two ticks)."""
        if len(self._ticks) < 2 or self._ticks[-1][0] <= self._ticks[0][0]:
            return None
        (t0, s0), (t1, s1) = self._ticks[0], self._ticks[-1]
        return (s1 - s0) / (t1 - t0)

    def _show_rate(self) -> None:
        rate = self.target_rate()
        text = f"{rate:.0f} step/s" if rate < 60 else f"up to {rate:.0f} steps/s"
        achieved = self.achieved_rate()
        self.speed_label.setText(text if achieved is None else f"{text} (achieved {achieved:.0f})")

    def _speed_changed(self) -> None:
        if self.timer.isActive():
            self.timer.setInterval(SPEEDS[self.speed.value()][0])
            self._ticks = []  # a new target: measure afresh
        self._show_rate()

    def _tick(self) -> None:
        self.step("both", SPEEDS[self.speed.value()][1])
        now = time.perf_counter()
        self._ticks.append((now, self.sandbox_steps))
        while len(self._ticks) > 2 and now - self._ticks[0][0] > 2.0:
            self._ticks.pop(0)
        self._show_rate()
