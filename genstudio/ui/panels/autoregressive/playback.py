"""Step / Play / speed for a generation that a worker thread draws one step at a time.

Shared by the Autoregressive panel's Generation tab (pixels, rows, audio
chunks) and the code prior's (positions of a VQ-VAE code grid). The tab
owns the widgets and makes the worker (``_ensure_task``: the running
:class:`~.generation_worker.GenerationWorker`, a new one, or None when the
last one finished); this mixin turns the buttons and the speed slider into
requests to that worker, stops it, and plays once by itself the first time the
tab is on screen with a model.
"""

from __future__ import annotations

from typing import Any

import torch

from ..autoregressive_math import speed_of


def class_labels(choice: Any, n: int, num_classes: int) -> torch.Tensor | None:
    """The labels of ``n`` samples for the class box's choice: None ("none"), 0..K-1 in turn ("cycle"), or one class."""
    if choice in (None, "none"):
        return None
    if choice == "cycle":
        return torch.arange(n) % num_classes
    return torch.full((n,), int(choice), dtype=torch.long)


class StepPlayback:
    """Mixed in before QWidget into a generation tab that has ``model``, ``frame``, ``task``, ``job``, ``_job_state``,
    ``play_button``, ``speed_slider``, ``speed_label``, ``progress_label`` and ``_ensure_task()``."""

    task: Any
    job: Any
    _job_state: Any
    _autoplay_pending: bool  # set by the tab when a first model arrives; spent by the first showing with it

    def _stop_playing(self) -> None:
        """Stop the worker and forget its last frame; the Play button goes back to Play without firing."""
        self._stop_task()
        self.frame = None
        self.play_button.blockSignals(True)
        self.play_button.setChecked(False)
        self.play_button.setText("Play")
        self.play_button.blockSignals(False)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self._autoplay()

    def _autoplay(self) -> None:
        """Play once by itself, the first time the tab is on screen with a model (not while hidden: it costs CPU
        that a training run on the same machine needs)."""
        if not self._autoplay_pending or self.model is None or not self.isVisible():
            return
        self._autoplay_pending = False
        if self.task is None and self.frame is None:
            self.play_button.setChecked(True)

    def step(self) -> None:
        task = self._ensure_task()
        if task is None:
            self.progress_label.setText("the run is finished: New run starts another")
            return
        if self.play_button.isChecked():
            self.play_button.setChecked(False)
        task.request(1)

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        task = self._ensure_task() if playing else self.task
        if task is None:
            if playing:
                self.play_button.setChecked(False)
                self.progress_label.setText("the run is finished: New run starts another")
            return
        speed = speed_of(self.speed_slider.value())
        task.set_playing(playing, None if speed is None else 1.0 / speed)

    def _speed_changed(self, value: int) -> None:
        speed = speed_of(value)
        self.speed_label.setText("max steps/s" if speed is None else f"{speed:.3g} steps/s")
        if self.task is not None and self.play_button.isChecked():
            self.task.set_playing(True, None if speed is None else 1.0 / speed)

    def _stop_task(self, wait_s: float = 0.0) -> None:
        if self.task is not None:
            self.task.stop()
            self.task = None
            self.job.cancel()  # frames the stopped task still sends are dropped
            if wait_s > 0:
                self._job_state.wait(wait_s)

    def busy(self) -> bool:
        return self.task is not None and not self.task.finished

    def shutdown(self) -> None:
        self._stop_task(wait_s=5.0)
