"""Alarms and the banner: the window's own alarm monitor on the run's metrics, the notices it shows, and clearing them."""

from __future__ import annotations

import html
from typing import Any

from genstudio.core.alarms import AlarmMonitor, alarm_of, suggested_settings
from genstudio.core.events import Notice


def _alarm_subject(model_id: str | None, config: dict[str, Any]) -> Any:
    """What an AlarmMonitor reads of a model (D's output kind, latent and codebook sizes, its settings), from the run's config."""
    from types import SimpleNamespace

    from genstudio.core import registry

    try:
        cls = registry.get_model_class(str(model_id))
    except Exception:  # noqa: BLE001 - an unknown or broken model: the alarms read the config alone
        cls = None
    return SimpleNamespace(
        d_output_kind=getattr(cls, "d_output_kind", "probability"),
        latent_dim=config.get("latent_dim", 0),
        num_codes=config.get("num_codes", 0),
        config=SimpleNamespace(**config),
    )


class AlarmBannerMixin:
    """Alarm banner of MainWindow (a mixin: it writes the training view's banner and the status bar)."""

    def _watch_alarms(self, model_id: str | None, model_config: dict[str, Any]) -> None:
        """A run started: a fresh monitor for its model, and no banner names an alarm yet."""
        self._alarms = AlarmMonitor(_alarm_subject(model_id, model_config))
        self._banner_alarm = None

    def _track_alarms(self, values: dict[str, float], split: str) -> None:
        if self._alarms is not None:
            self._alarms.update(values, split)
            if self._banner_alarm in self._alarms.cleared:
                # The cause is gone (D recovered): so is the banner that named it.
                self.training_view.hide_banner()
                self.status.showMessage(f"cleared: {self._banner_alarm.replace('_', ' ')}", 5000)
                self._banner_alarm = None

    def _on_notice(self, n: Notice) -> None:
        text = html.escape(n.message)
        key = alarm_of(n.message)
        if key is not None:
            # Show the settings it suggests in the form, unfolded and marked, and say where they are.
            subject = self._alarms.model if self._alarms is not None else _alarm_subject(self.model_panel.model_id(), self.model_panel.model_overrides())
            names = self.model_panel.reveal(suggested_settings(key, subject))
            if names:
                text += f"<br><i>{', '.join(names)}: marked in the Model panel; change them for the next run (Stop, then Train).</i>"
                self.model_dock.show()
        self._banner_alarm = key
        self.training_view.show_banner(text, n.level if n.level in ("warning", "error", "info") else "warning")
        self.status.showMessage(n.message, 8000)

