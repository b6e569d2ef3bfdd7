"""The Autoregressive tab: loads the model with validation examples and the exact NLL of a batch, and puts
the generation, receptive-field, completion and MADE-mask tabs together (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from genstudio.models.autoregressive import inspect as ar

from .. import PanelContext, register_panel
from ..jobs import JobState, PanelJob
from ..live import CheckpointPanel
from ..causal_masks import has_causal_masks
from .causal_masks_tab import CausalMasksTab
from .completion_tab import CompletionTab
from .generation_tab import GenerationTab
from .made_masks_tab import MadeMasksTab
from .prepare import Loaded, load_for_inspection
from .receptive_field_tab import ReceptiveFieldTab

class AutoregressivePanel(CheckpointPanel):
    """The Autoregressive tab."""

    model_loaded = Signal()
    speed_measured = Signal()
    no_run_text = "no run folder: train or open a run to look inside its autoregressive model"

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the panel", parent)
        self.model: Any = None
        self.loaded: Loaded | None = None
        self.speed: dict[str, float] = {}
        self.status = QLabel("loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.speed_button = QPushButton("Measure speed")
        self.speed_button.setToolTip("Time generation for about a second, with and without the model's cache")
        self.reload_button = QPushButton("Reload checkpoint")
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.speed_button)
        top.addWidget(self.reload_button)
        self.generation = GenerationTab()
        self.receptive = ReceptiveFieldTab()
        self.completion = CompletionTab()
        self.made = MadeMasksTab()
        self.causal = CausalMasksTab()  # the convolutional models' masks; MADE shows its own
        self.tabs = QTabWidget()
        self.tabs.addTab(self.generation, "Generation")
        self.tabs.addTab(self.receptive, "Receptive field")
        self.tabs.addTab(self.completion, "Completion")
        self.tabs.addTab(self.made, "MADE masks")
        self.tabs.addTab(self.causal, "Causal masks")
        self.tabs.setTabVisible(self.tabs.indexOf(self.made), False)
        self.tabs.setTabVisible(self.tabs.indexOf(self.causal), False)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addWidget(self.tabs, 1)
        self.use_reload_button(self.reload_button)
        self.speed_job = PanelJob(self, self.speed_button, self.info, failure="speed measurement failed: {exc}")
        self.speed_job.done.connect(self._on_speed)
        self.speed_button.clicked.connect(self.measure_speed)
        self.speed_button.setEnabled(False)
        self.reload()

    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], Any]:
        return lambda: load_for_inspection(run_dir, snapshot=snapshot)

    def show_loaded(self, loaded: Loaded) -> None:
        self.loaded = loaded
        model = loaded.model
        self.model = model
        self.speed = {}
        audio = ar.is_audio(model)
        self.generation.set_model(model)
        self.receptive.set_model(model, loaded.examples)
        self.tabs.setTabText(self.tabs.indexOf(self.receptive), "Dilation stack" if audio else "Receptive field")
        self.tabs.setTabVisible(self.tabs.indexOf(self.completion), not audio)
        if not audio:
            self.completion.set_model(model, loaded.examples)
        is_made = hasattr(model, "masks") and hasattr(model, "degrees")
        self.tabs.setTabVisible(self.tabs.indexOf(self.made), is_made)
        if is_made:
            self.made.set_model(model)
        causal = not is_made and not audio and has_causal_masks(model)
        self.tabs.setTabVisible(self.tabs.indexOf(self.causal), causal)
        if causal:
            self.causal.set_model(model)
        self.speed_button.setEnabled(True)
        note = f" · {loaded.note}" if loaded.note else ""
        self.status.setText(f"{type(model).__name__} at {self.weights_text(loaded.step)}{note}")
        self._update_info()
        self.model_loaded.emit()

    def _update_info(self) -> None:
        model, loaded = self.model, self.loaded
        if model is None or loaded is None:
            return
        audio = ar.is_audio(model)
        parts = [f"order: {ar.describe_order(model)}"]
        if loaded.nll is not None:
            unit = "bits/sample" if audio else "bits/dim"
            what = "8-bit mu-law clips" if audio else ("binarised images" if getattr(model, "output_kind", "") == "bernoulli" else "8-bit images")
            per = "clip" if audio else "example"
            parts.append(f"NLL (exact) {loaded.nll['nll']:.2f} nats/{per} = {loaded.nll['bpd']:.4f} {unit} "
                         f"on {int(loaded.nll['n'])} validation examples ({what})")
        pos = "samples" if audio else "positions"
        if self.speed:
            text = f"sampling: {self.speed['cached']:.0f} {pos}/s"
            if "naive" in self.speed:
                text += (f" with the cache, {self.speed['naive']:.0f} {pos}/s without "
                         f"({self.speed['cached'] / max(self.speed['naive'], 1e-9):.1f}x)")
            parts.append(text + " (one sample, this machine, now)")
        else:
            parts.append("sampling speed: press Measure speed")
        self.info.setText("  ·  ".join(parts))

    def measure_speed(self) -> None:
        if self.model is None:
            return
        model = self.model
        cache = ar.has_cache(model)

        def work(_state: JobState) -> dict[str, float]:
            out = {"cached": ar.sampling_speed(model, cached=True, budget_s=1.0)[0]}
            if cache:
                out["naive"] = ar.sampling_speed(model, cached=False, budget_s=1.0)[0]
            return out

        self.speed_job.start(work, self.info.text().replace("sampling speed: press Measure speed", "sampling speed: measuring…"))

    def _on_speed(self, speed: dict) -> None:
        self.speed = speed
        self._update_info()
        self.speed_measured.emit()

    # -- panel protocol ------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        super().shutdown()
        self.speed_job.cancel()
        self.generation.shutdown()


register_panel("Autoregressive", "Autoregressive", AutoregressivePanel)
