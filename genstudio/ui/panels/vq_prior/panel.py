"""The Code prior tab (models with the CodePrior capability, vq-prior): loads the model with validation
examples, their code maps and the code NLL, and puts the generation, code-usage and completion tabs together
(see the package docstring)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QTabWidget, QVBoxLayout, QWidget

from .. import PanelContext, register_panel
from ..live import CheckpointPanel
from .completion_tab import CompletionTab
from .generation_tab import GenerationTab
from .prepare import Loaded, load_for_panel
from .usage_tab import UsageTab


class VQPriorPanel(CheckpointPanel):
    """The Code prior tab."""

    model_loaded = Signal()
    no_run_text = "no run folder: train or open a vq-prior run to look inside its prior over codes"

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the code prior panel", parent)
        self.model: Any = None
        self.loaded: Loaded | None = None
        self.status = QLabel("loading the model from the run's latest checkpoint…")
        self.status.setWordWrap(True)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reload_button = QPushButton("Reload checkpoint")
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.reload_button)
        self.generation = GenerationTab()
        self.usage = UsageTab()
        self.completion = CompletionTab()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.generation, "Generation")
        self.tabs.addTab(self.usage, "Code usage")
        self.tabs.addTab(self.completion, "Completion")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.info)
        lay.addWidget(self.tabs, 1)
        self.use_reload_button(self.reload_button)
        self.reload()

    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], Any]:
        return lambda: load_for_panel(run_dir, snapshot=snapshot)

    def show_loaded(self, loaded: Loaded) -> None:
        self.loaded = loaded
        model = self.model = loaded.model
        self.generation.set_model(model)
        self.usage.set_model(model, loaded.data_usage)
        self.completion.set_model(model, loaded.examples, loaded.labels)
        note = f" · {loaded.note}" if loaded.note else ""
        self.status.setText(f"{type(model).__name__} at {self.weights_text(loaded.step)}{note}")
        h, w = model.grid
        parts = [f"a {h} x {w} grid of codes from a codebook of {model.num_codes}, drawn in raster order by a Gated PixelCNN, "
                 f"decoded by the frozen VQ-VAE of {Path(model.config.codebook_run).name}"]
        if loaded.nll is not None:
            bits = loaded.nll / (h * w * math.log(2))
            parts.append(f"code NLL (exact) {loaded.nll:.2f} nats/image = {bits:.3f} bits per code on {len(loaded.examples)} "
                         f"validation images (uniform: {math.log2(model.num_codes):.2f})")
        self.info.setText("  ·  ".join(parts))
        self.model_loaded.emit()

    def shutdown(self) -> None:
        super().shutdown()
        self.generation.shutdown()
        self.usage.job.cancel()
        self.completion.job.cancel()


register_panel("CodePrior", "Code prior", VQPriorPanel)
