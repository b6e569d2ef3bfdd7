"""Alarms for the failures users ask about most, raised from the logged metrics.

The engine feeds every Metrics event to an :class:`AlarmMonitor`; each alarm
fires once as a :class:`~genstudio.core.events.Notice` (a banner in the
studio, a line in the CLI) with a one-line explanation, and may fire again
only after its condition has cleared. The rules read only metric names that
models log, so a model opts in by logging them:

- **discriminator wins** (GANs with a probability output: d_real, d_fake):
  D(x) > 0.95 and D(G(z)) < 0.05 on ``WIN_LOGS`` consecutive training logs.
  G's gradient through a saturated D vanishes and G stops learning.
- **mode collapse**: validation ``modes`` (covered modes on 8gaussians)
  falls 2 or more below its best, or validation ``diversity`` (mean pairwise
  distance of samples over that of real data) falls below 0.3 after having
  reached 0.6 (a fresh generator starts collapsed, which is no alarm).
- **posterior collapse** (VAEs: validation ``active_dims``): no latent
  dimension, or under a quarter of them, carries information (KL > 0.01 nats).
- **dead VQ codes** (VQ-VAE: validation ``codes_used``): under half of the
  codebook is used on validation data.

Each message starts with its alarm's title (``TITLES``), so a front end can
tell which alarm a notice is (:func:`alarm_of`), keep its own monitor on the
same metrics and take the message down when ``cleared`` names it; the
settings a message suggests are those the model has (``SUGGESTS``), so the
studio can show them in its form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

WIN_LOGS = 10  # consecutive training logs of a saturated D before the alarm
D_WIN_REAL, D_WIN_FAKE = 0.95, 0.05
DIVERSITY_FLOOR = 0.3
ACTIVE_FRACTION = 0.25
CODES_FRACTION = 0.5

#: The first words of each alarm's message (what :func:`alarm_of` recognises).
TITLES = {
    "d_wins": "The discriminator is winning",
    "mode_collapse": "Mode collapse",
    "posterior_collapse": "Posterior collapse",
    "dead_codes": "Dead VQ codes",
}
#: Settings each alarm may suggest; a message names only those the model's config has.
SUGGESTS = {
    "d_wins": ("lr_d", "d_steps", "d_channels", "d_dropout"),
    "mode_collapse": ("lr_g", "lr_d"),
    "posterior_collapse": ("beta",),
    "dead_codes": ("restart_after", "num_codes"),
}


def alarm_of(message: str) -> str | None:
    """The key of the alarm a notice's message comes from (None for any other notice)."""
    return next((key for key, title in TITLES.items() if message.startswith(title)), None)


def suggested_settings(key: str, model: Any) -> list[str]:
    """The settings alarm ``key`` suggests that ``model`` (or its config) has, in SUGGESTS order."""
    config = getattr(model, "config", model)
    return [name for name in SUGGESTS.get(key, ()) if hasattr(config, name)]


#: The metrics each alarm reads.
READS = {
    "d_wins": ("d_real", "d_fake"),
    "mode_collapse": ("modes", "diversity"),
    "posterior_collapse": ("active_dims",),
    "dead_codes": ("codes_used",),
}


@dataclass
class AlarmMonitor:
    """Turns metric dicts into alarm messages; ``model`` supplies sizes (latent_dim, num_codes) and D's output kind."""

    model: Any = None
    active: set[str] = field(default_factory=set)
    cleared: set[str] = field(default_factory=set)  # alarms whose cause cleared with the last update
    _win_streak: int = 0
    _best_modes: float = 0.0
    _best_diversity: float = 0.0

    def update(self, values: dict[str, float], split: str = "train") -> list[str]:
        """Messages of alarms that start firing with these metrics."""
        firing: dict[str, str] = {}
        prob = getattr(self.model, "d_output_kind", "probability") == "probability"
        if split == "train" and prob and "d_real" in values and "d_fake" in values:
            won = values["d_real"] > D_WIN_REAL and values["d_fake"] < D_WIN_FAKE
            self._win_streak = self._win_streak + 1 if won else 0
            if self._win_streak >= WIN_LOGS:
                firing["d_wins"] = (
                    f"{TITLES['d_wins']}: D(x) = {values['d_real']:.2f} and D(G(z)) = {values['d_fake']:.2f} for "
                    f"{self._win_streak} logs; G's gradients vanish. {self._d_wins_advice()}"
                )
        elif split == "train":
            self._win_streak = 0 if "d_real" in values else self._win_streak
        if split == "val":
            self._val_rules(values, firing)
        keys = {"d_wins"} if split == "train" else {"mode_collapse", "posterior_collapse", "dead_codes"}
        # An alarm clears only when the metrics it reads came in again without it firing
        # (a validation record of sample-quality scores alone says nothing about the VQ codes).
        keys = {k for k in keys if any(m in values for m in READS[k])}
        new = [msg for key, msg in firing.items() if key not in self.active]
        self.cleared = {k for k in self.active if k in keys and k not in firing}
        self.active = (self.active - self.cleared) | set(firing)
        return new

    def _d_wins_advice(self) -> str:
        names = suggested_settings("d_wins", self.model)
        tips = {"lr_d": "a lower lr_d", "d_steps": "fewer d_steps", "d_channels": "fewer d_channels", "d_dropout": "more d_dropout"}
        if not names:
            return "Try a lower learning rate for D, or a smaller D."
        parts = [tips[n] for n in names]
        return "Try " + (", ".join(parts[:-1]) + " or " + parts[-1] if len(parts) > 1 else parts[0]) + "."

    def _val_rules(self, values: dict[str, float], firing: dict[str, str]) -> None:
        if "modes" in values:
            self._best_modes = max(self._best_modes, values["modes"])
            if self._best_modes - values["modes"] >= 2:
                firing["mode_collapse"] = (
                    f"Mode collapse: samples now cover {values['modes']:.0f} modes, down from {self._best_modes:.0f}; "
                    "G is putting its mass on a few modes. Try lowering the learning rates or wgan-gp."
                )
        if "diversity" in values:
            # A fall, not a low start: a fresh G maps all noise to nearly one point.
            self._best_diversity = max(self._best_diversity, values["diversity"])
            fell = self._best_diversity >= 2 * DIVERSITY_FLOOR and values["diversity"] < DIVERSITY_FLOOR
            if fell and "mode_collapse" not in firing:
                firing["mode_collapse"] = (
                    f"Mode collapse: samples are {values['diversity']:.2f}x as spread as real data, down from "
                    f"{self._best_diversity:.2f}x; G produces near-copies. Try lowering the learning rates or wgan-gp."
                )
        dim = int(getattr(self.model, "latent_dim", 0) or 0)
        if "active_dims" in values and dim > 0:
            active = values["active_dims"]
            if active == 0 or active < ACTIVE_FRACTION * dim:
                firing["posterior_collapse"] = (
                    f"Posterior collapse: {active:.0f} of {dim} latent dimensions carry information (KL > 0.01 nats); "
                    "the decoder ignores z. Lower beta, or shrink the decoder."
                )
        codes = int(getattr(self.model, "num_codes", 0) or 0)
        if "codes_used" in values and codes > 0 and values["codes_used"] < CODES_FRACTION * codes:
            firing["dead_codes"] = (
                f"Dead VQ codes: only {values['codes_used']:.0f} of {codes} codes are used on validation data. "
                "Turn on restarts (restart_after), or use a smaller codebook."
            )
