"""The reverse-process tab's sampler controls: which sampler, how many steps, eta, spacing, variance,
Langevin steps, n, seed, class and guidance, shown only where the model takes them.

A mixin of :class:`.reverse_view.ReverseView` (and so of both chains of the
sampler comparison): it builds the two rows of controls, fills them from the
model's ``sample_options`` / ``sample_choices``, and turns them back into the
keyword arguments of ``denoise_steps``.
"""

from __future__ import annotations

from typing import Any

import torch
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from genstudio.core.capabilities import Conditional


class SamplerControls:
    """Mixin (before QWidget): the sampler's option widgets and what they mean."""

    model: Any
    chain: Any
    is_image: bool

    def _build_sampler_rows(self, trailing: list[QWidget]) -> tuple[QHBoxLayout, QHBoxLayout]:
        """Create the option widgets in two rows, so the tab fits the training view's width: how to
        sample, then what and when; ``trailing`` (the run controls) ends the second row."""
        self.sampler_combo = QComboBox()
        self.steps_spin = QSpinBox()
        self.steps_spin.setToolTip("Network evaluations (timesteps visited); DDPM uses all T by default")
        self.eta_spin = QDoubleSpinBox()
        self.eta_spin.setRange(0.0, 1.0)
        self.eta_spin.setSingleStep(0.1)
        self.eta_spin.setToolTip("DDIM eta: 0 deterministic, 1 as noisy as DDPM's posterior (DDIM eq. 16)")
        self.spacing_combo = QComboBox()
        self.spacing_combo.setToolTip("How the visited timesteps are chosen out of 0..T-1")
        self.variance_combo = QComboBox()
        self.variance_combo.setToolTip("DDPM reverse variance: beta (fixed large) or beta_tilde (the posterior's)")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(1, 4096)
        self.n_spin.setToolTip("Samples in the batch")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.seed_spin.setToolTip("Seed of x_T and of every noise draw: the same seed gives the same chain")
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Class to sample (conditional models)")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(1.0)
        self.guidance_spin.setToolTip("Classifier-free guidance scale: 0 unconditional, 1 conditional, above 1 guided")
        self.langevin_spin = QSpinBox()
        self.langevin_spin.setRange(1, 10000)
        self.langevin_spin.setToolTip("Annealed Langevin steps at each noise level (score models)")
        self.step_size_spin = QDoubleSpinBox()
        self.step_size_spin.setDecimals(8)
        self.step_size_spin.setRange(1e-8, 1.0)
        self.step_size_spin.setSingleStep(1e-5)
        self.step_size_spin.setToolTip("Langevin step size epsilon at the smallest noise level (alpha_i = epsilon sigma_i^2 / sigma_L^2)")
        self.clip_check = QCheckBox("clip x0_hat")
        self.clip_check.setChecked(True)
        self.clip_check.setToolTip("Clip the predicted clean image to the data range [-1, 1] at every step (images)")

        self._extra_options: dict[str, tuple[QLabel, QWidget]] = {}
        sampler_row, batch_row = QHBoxLayout(), QHBoxLayout()
        for row, label, w in (
            (sampler_row, "sampler", self.sampler_combo),
            (sampler_row, "steps", self.steps_spin),
            (sampler_row, "eta", self.eta_spin),
            (sampler_row, "spacing", self.spacing_combo),
            (sampler_row, "variance", self.variance_combo),
            (sampler_row, "steps per level", self.langevin_spin),
            (sampler_row, "step size", self.step_size_spin),
            (batch_row, "n", self.n_spin),
            (batch_row, "seed", self.seed_spin),
            (batch_row, "class", self.class_combo),
            (batch_row, "guidance", self.guidance_spin),
        ):
            lab = QLabel(label)
            row.addWidget(lab)
            row.addWidget(w)
            self._extra_options[label] = (lab, w)
        sampler_row.addWidget(self.clip_check)
        sampler_row.addStretch(1)
        for name in ("steps per level", "step size", "class", "guidance"):  # shown by set_model for models that take them
            for w in self._extra_options[name]:
                w.setVisible(False)
        for w in trailing:
            batch_row.addWidget(w)
        batch_row.addStretch(1)
        return sampler_row, batch_row

    def _fill_sampler_controls(self, model: Any) -> None:
        """Offer the options ``model`` takes, with its defaults (for the first checkpoint only)."""
        options = model.sample_options()
        choices = model.sample_choices() if hasattr(model, "sample_choices") else {}
        T = model.schedule.num_timesteps
        for name, combo in (("sampler", self.sampler_combo), ("spacing", self.spacing_combo), ("variance", self.variance_combo)):
            values = choices.get(name, ())
            combo.blockSignals(True)
            combo.clear()
            combo.addItems([str(v) for v in values])
            combo.blockSignals(False)
            label, widget = self._extra_options[name]
            label.setVisible(bool(values) and name in options)
            widget.setVisible(bool(values) and name in options)
        self.steps_spin.setRange(1, T)
        for name in ("steps", "eta"):
            label, widget = self._extra_options[name]
            label.setVisible(name in options)
            widget.setVisible(name in options)
        # DDIM 50 (or fewer) is the fast, near-full-quality default (DDIM paper, table 1).
        if "ddim" in choices.get("sampler", ()):
            self.sampler_combo.setCurrentText("ddim")
        self.steps_spin.setValue(min(50, T) if "steps" in options else 1)
        if "spacing" in options:
            self.spacing_combo.setCurrentText(str(options["spacing"]))
        if "variance" in options:
            self.variance_combo.setCurrentText(str(options["variance"]))
        self.eta_spin.setValue(float(options.get("eta", 0.0)))
        for name, key, widget in (("steps per level", "steps_per_level", self.langevin_spin), ("step size", "step_size", self.step_size_spin)):
            label, _ = self._extra_options[name]
            label.setVisible(key in options)
            widget.setVisible(key in options)
            if key in options:
                widget.setValue(options[key])
        self.n_spin.setValue(16 if self.is_image else 500)
        conditional = isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0
        self.class_combo.clear()
        if conditional:
            names = model.data_info.class_names
            self.class_combo.addItem("unconditional", -1)
            for k in range(model.num_classes):
                self.class_combo.addItem(f"{k}: {names[k]}" if k < len(names) else str(k), k)
            self.class_combo.setCurrentIndex(1)
        for name in ("class", "guidance"):
            label, widget = self._extra_options[name]
            label.setVisible(conditional)
            widget.setVisible(conditional)
        self.clip_check.setVisible(self.is_image and "clip_x0" in options)
        self.clip_check.setChecked(bool(options.get("clip_x0", True)))
        self._sampler_changed(self.sampler_combo.currentText())


    def _sampler_changed(self, sampler: str) -> None:
        self.eta_spin.setEnabled(sampler == "ddim")
        self.spacing_combo.setEnabled(True)
        self.variance_combo.setEnabled(sampler == "ddpm")
        if sampler == "ddpm" and self.model is not None and self.steps_spin.value() < self.model.schedule.num_timesteps and self.chain is None:
            self.steps_spin.setValue(self.model.schedule.num_timesteps)

    def sampler_options(self) -> dict[str, Any]:
        """The keyword arguments for ``denoise_steps`` chosen in the controls."""
        options = self.model.sample_options()
        out: dict[str, Any] = {}
        if "sampler" in options and self.sampler_combo.count():
            out["sampler"] = self.sampler_combo.currentText()
        if "steps" in options:
            out["steps"] = self.steps_spin.value()
        if "eta" in options and out.get("sampler") == "ddim":
            out["eta"] = self.eta_spin.value()
        if "spacing" in options and self.spacing_combo.count():
            out["spacing"] = self.spacing_combo.currentText()
        if "variance" in options and out.get("sampler") == "ddpm" and self.variance_combo.count():
            out["variance"] = self.variance_combo.currentText()
        if "clip_x0" in options and self.is_image:
            out["clip_x0"] = self.clip_check.isChecked()
        if "steps_per_level" in options:
            out["steps_per_level"] = self.langevin_spin.value()
        if "step_size" in options:
            out["step_size"] = self.step_size_spin.value()
        if self.class_combo.isVisibleTo(self) and self.class_combo.count():
            label = self.class_combo.currentData()
            if label is not None and label >= 0:
                out["labels"] = torch.full((self.n_spin.value(),), int(label), dtype=torch.long)
                out["guidance_scale"] = self.guidance_spin.value()
        return out

    def planned_timesteps(self) -> list[int]:
        """The timesteps the chosen sampler will visit (for the schedule plots)."""
        if self.model is None:
            return []
        planner = getattr(self.model, "visited_timesteps", None)
        if planner is not None:
            opts = {k: v for k, v in self.sampler_options().items() if k in ("sampler", "steps", "spacing")}
            try:
                return list(planner(**opts))
            except ValueError:
                return []
        from genstudio.models.diffusion.samplers import select_timesteps

        try:
            return select_timesteps(self.model.schedule.num_timesteps, self.steps_spin.value(), self.spacing_combo.currentText() or "trailing")
        except ValueError:
            return []
