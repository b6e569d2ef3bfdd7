"""The "NFE vs quality" tab: deterministic DDIM from one x_T at several step counts; MMD^2 to the data
and the distance to the finest run, against the number of network evaluations.

The plot is :class:`~genstudio.ui.nfe_quality_view.NfeQualityView`, the one the
compare view shows cached evaluations in; here it is fed by a live sweep of the
model in memory.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from PySide6.QtWidgets import QSpinBox, QWidget

from genstudio.metrics.nfe_sweep import NfeCurve

from ...nfe_quality_view import NfeQualityView
from ..diffusion_sweeps import NFECurve, nfe_versus_quality
from ..jobs import PanelJob

INTRO = (
    "DDIM with eta 0 from one x_T at each step count. MMD² to the data (in pixel space for images) and "
    "the RMS distance to the run with the most steps, against the number of network evaluations."
)
LABELS = {"rms_to_finest": "RMS distance to the finest run"}
EMPTY_TITLE = "press Run: the model samples at each step count and the quality is plotted here"


class SweepNfeQualityView(NfeQualityView):
    """:class:`NfeQualityView` fed by sampling the live model at several step counts (off the UI thread)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(INTRO, (2, 5, 10, 20, 50, 100), "Run", parent)
        self.model: Any = None
        self.reference: torch.Tensor | None = None
        self.curve: NFECurve | None = None
        self.steps_edit.setToolTip("DDIM step counts (network evaluations), separated by commas; the largest is the reference run")
        self.n_spin = QSpinBox()
        self.n_spin.setRange(8, 4096)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 1_000_000)
        self.add_control("n", self.n_spin)
        self.add_control("seed", self.seed_spin)
        self.job = PanelJob(self, self.run_button, self.status, failure="failed: {exc}")
        self.job.done.connect(self._on_done)
        self.runRequested.connect(self.run)
        # Before the first run the metric box lists what the sweep measures (it was an empty box), and the
        # empty plot says what fills it, on an axis of the step counts it will sample (not the log axis' 2..9).
        self.labels = dict(LABELS)
        self.metric.blockSignals(True)
        for metric in ("mmd2", "rms_to_finest"):
            self.metric.addItem(self.label(metric), metric)
        self.metric.blockSignals(False)
        self.steps_edit.textChanged.connect(lambda _t: self.curve is None and self.redraw())
        self.redraw()

    def redraw(self) -> None:
        super().redraw()
        if self.curve is None:
            self._empty_axes()

    def _empty_axes(self) -> None:
        self.plot.setTitle(EMPTY_TITLE)
        self.plot.setLabel("left", self.metric.currentText())
        try:
            counts = self.steps()
        except ValueError:
            return  # the box says what is wrong when Run is pressed
        self.plot.getAxis("bottom").setTicks([[(math.log10(c), f"{c:g}") for c in counts]])
        self.plot.setXRange(math.log10(min(counts)), math.log10(max(counts)), padding=0.05)

    def set_model(self, model: Any, reference: torch.Tensor) -> None:
        first = self.model is None
        self.model, self.reference = model, reference
        if first:
            T = model.schedule.num_timesteps
            counts = [c for c in (2, 5, 10, 20, 50, 100, 200, 1000) if c <= T]
            self.steps_edit.setText(", ".join(map(str, counts)))
            self.n_spin.setValue(64 if model.data_info.kind == "image" else 500)

    def run(self, counts: list[int]) -> None:
        if self.model is None:
            return
        model, ref, n, seed = self.model, self.reference, self.n_spin.value(), self.seed_spin.value()
        self.job.start(lambda _state: nfe_versus_quality(model, ref, counts, n, seed), f"sampling {len(counts)} runs of {n}…")

    def _on_done(self, curve: NFECurve) -> None:
        self.curve = curve
        self.plot.setTitle("")
        nfe = [float(v) for v in curve.nfe]
        steps = list(curve.steps)
        mmd2 = NfeCurve("mmd2", nfe, list(curve.mmd2), None, steps)
        rms = NfeCurve("rms_to_finest", nfe, list(curve.rms_to_finest), None, steps)
        self.set_curves([mmd2, rms], labels=LABELS)
        rows = ", ".join(f"{s}: MMD² {m:.4f}" for s, m in zip(curve.steps, curve.mmd2))
        self.status.setText(f"DDIM eta 0, seed {self.seed_spin.value()}, n {self.n_spin.value()} · {rows}")
