"""Shared behaviour of panels that rebuild themselves from the run's latest checkpoint."""

from __future__ import annotations

from typing import Any

from genstudio.core.events import CheckpointSaved


class ReloadOnCheckpoint:
    """Mixin (before QWidget in the bases): follow a live run's checkpoints, lazily.

    Loading a checkpoint and recomputing a panel's view (encoding the validation
    set, a density grid through every layer, an NLL batch) competes with training
    for the CPU, so a hidden tab only notes that a newer checkpoint exists and
    loads it when it is shown. The panel class defines ``reload()``.
    """

    _checkpoint_waiting = False

    def on_event(self, event: Any) -> None:
        if isinstance(event, CheckpointSaved):
            if self.isVisible():  # type: ignore[attr-defined]
                self.reload()  # type: ignore[attr-defined]
            else:
                self._checkpoint_waiting = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)  # type: ignore[misc]
        if self._checkpoint_waiting:
            self._checkpoint_waiting = False
            self.reload()  # type: ignore[attr-defined]
