"""The receptive field tab: |d logits / d input| of one output from the live weights, summed over a few inputs.

The PixelCNN blind spot is the blue wedge of earlier pixels with zero
gradient, which the Gated PixelCNN does not have. For WaveNet: the dilation
stack with the samples that reach the output, and the same gradient measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from genstudio.models.autoregressive import inspect as ar

from ...widgets import ImageView, plot_widget, titled
from ..controls import tool_row
from ..jobs import PanelJob
from .pixel_grid import PixelGridView


class ReceptiveFieldTab(QWidget):
    """Gradient receptive field of one output position, from the live weights."""

    computed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.examples: torch.Tensor | None = None
        self.rf: ar.ReceptiveField | None = None
        self.target: tuple[int, int, int] = (0, 0, 0)

        self.mode_combo = QComboBox()
        self.mode_combo.addItem("gradient magnitude", "gradient")
        self.mode_combo.addItem("binary dependency", "binary")
        self.mode_combo.setToolTip("Heat of log |gradient|, or just which pixels the output depends on")
        self.trials_spin = QSpinBox()
        self.trials_spin.setRange(1, 16)
        self.trials_spin.setValue(3)
        self.trials_spin.setToolTip("Random inputs the gradient is summed over (a path dead on one input shows on another)")
        self.channel_combo = QComboBox()
        self.channel_label = QLabel("channel")
        self.example_spin = QSpinBox()
        self.example_spin.setToolTip("Validation example shown under the map (and used as the first input)")
        self.t_spin = QSpinBox()
        self.t_label = QLabel("output t")
        self.picker = PixelGridView(placeholder="the example: click a pixel to choose the output")
        self.picker.setMinimumSize(200, 200)
        self.map_view = ImageView(placeholder="receptive field")
        self.map_view.setMinimumSize(260, 260)
        self.legend = QLabel(
            "green: the output · heat / white: earlier pixels it depends on · <b>blue: earlier pixels it cannot see "
            "within reach (blind spot)</b> · red: later pixels that leak in (never, in a causal model) · dim: later pixels, "
            "and earlier ones beyond the kernels' reach"
        )
        self.legend.setWordWrap(True)
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.job = PanelJob(self, message=self.summary)
        self.job.done.connect(self._on_done)
        self.stack_plot = plot_widget("WaveNet dilation stack: the samples that reach output t (orange)")
        self.stack_plot.setLabel("bottom", "samples before t")
        self.stack_plot.setMouseEnabled(True, False)
        self.grad_plot = plot_widget("|d logits(t) / d x| from the live model (log10), and the receptive field")
        self.grad_plot.setLabel("bottom", "time (samples)")
        self.grad_curve = self.grad_plot.plot(pen=pg.mkPen(40, 110, 200, width=1.5))
        self.rf_region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(245, 150, 50, 50))
        self.grad_plot.addItem(self.rf_region)

        self.mode_label = QLabel("view")
        self.example_label = QLabel("example")
        controls = tool_row(self.mode_label, self.mode_combo, "inputs", self.trials_spin, self.channel_label, self.channel_combo,
                            self.example_label, self.example_spin, self.t_label, self.t_spin)
        self.images = QWidget()
        grid = QGridLayout(self.images)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(titled("pick the output pixel", self.picker, wrap=True), 0, 0)
        grid.addWidget(titled("its receptive field (gradients of the current weights)", self.map_view, wrap=True), 0, 1)
        grid.setColumnStretch(1, 2)
        self.audio_box = QWidget()
        audio_lay = QVBoxLayout(self.audio_box)
        audio_lay.setContentsMargins(0, 0, 0, 0)
        audio_lay.addWidget(self.stack_plot, 3)
        audio_lay.addWidget(self.grad_plot, 2)
        lay = QVBoxLayout(self)
        lay.addLayout(controls)
        lay.addWidget(self.images, 1)
        lay.addWidget(self.audio_box, 1)
        lay.addWidget(self.legend)
        lay.addWidget(self.summary)

        self.picker.clicked.connect(lambda _k, i, j: self.set_target(self.channel_combo.currentIndex(), i, j))
        self.mode_combo.currentIndexChanged.connect(lambda _i: self._draw())
        self.trials_spin.valueChanged.connect(lambda _v: self.compute())
        self.channel_combo.currentIndexChanged.connect(lambda c: self.set_target(max(0, c), self.target[1], self.target[2]))
        self.example_spin.valueChanged.connect(lambda _v: self._example_changed())
        self.t_spin.valueChanged.connect(lambda t: self.set_target(0, 0, t))
        self.setEnabled(False)

    def set_model(self, model: Any, examples: torch.Tensor) -> None:
        first = self.model is None
        self.model, self.examples = model, examples
        self.audio = ar.is_audio(model)
        self.images.setVisible(not self.audio)
        self.audio_box.setVisible(self.audio)
        self.legend.setVisible(not self.audio)
        for w in (self.channel_label, self.channel_combo):
            w.setVisible(not self.audio and model.colours > 1)
        for w in (self.t_label, self.t_spin):
            w.setVisible(self.audio)
        for w in (self.mode_label, self.mode_combo, self.example_label, self.example_spin):
            w.setVisible(not self.audio)
        self.example_spin.blockSignals(True)
        self.example_spin.setRange(0, max(0, len(examples) - 1))
        self.example_spin.blockSignals(False)
        self.channel_combo.blockSignals(True)
        self.channel_combo.clear()
        if not self.audio:
            self.channel_combo.addItems(["R", "G", "B"][: model.colours] if model.colours == 3 else [str(c) for c in range(model.colours)])
        self.channel_combo.blockSignals(False)
        self.setEnabled(True)
        if self.audio:
            self.t_spin.blockSignals(True)
            self.t_spin.setRange(0, model.length - 1)
            if first:
                self.t_spin.setValue(min(model.length - 1, model.receptive_field + 64))
            self.t_spin.blockSignals(False)
            self._draw_stack()
            target = (0, 0, self.t_spin.value())
        else:
            target = (0, (2 * model.height) // 3, model.width // 2) if first else self.target
        self._example_changed(compute=False)
        self.set_target(*target)

    def _example_changed(self, compute: bool = True) -> None:
        if self.model is None or self.audio or self.examples is None:
            return
        x = self.examples[self.example_spin.value()][None]
        drawn = torch.ones(x.shape[1:], dtype=torch.bool)
        self.picker.set_grid(ar.generation_picture(x, drawn), 1)
        self._outline()
        if compute:
            self.compute()

    def _outline(self) -> None:
        _, i, j = self.target
        self.picker.set_outlines([(0, i, j, 1, 1, QColor(40, 200, 60))])

    def set_target(self, c: int, i: int, j: int) -> None:
        self.target = (c, i, j)
        self._outline()
        self.compute()

    def compute(self) -> None:
        if self.model is None:
            return
        model, (c, i, j), trials = self.model, self.target, self.trials_spin.value()
        inp = None
        if not self.audio and self.examples is not None and len(self.examples):
            x = self.examples[self.example_spin.value()][None]
            inp = model.net_input(model.targets(x))
        self.job.start(lambda _state: ar.receptive_field(model, c, i, j, trials=trials, inp=inp), "computing gradients…")

    def _on_done(self, rf: ar.ReceptiveField) -> None:
        self.rf = rf
        self._draw()
        self.computed.emit()

    def _draw(self) -> None:
        rf = self.rf
        if rf is None or self.model is None:
            return
        text = rf.summary() + f" · summed over {rf.trials} input(s)"
        if self.audio:
            t = rf.target[2]
            g = rf.gradient[: t + 1]
            with np.errstate(divide="ignore"):
                lg = np.where(g > 0, np.log10(np.maximum(g, 1e-30)), np.nan)
            self.grad_curve.setData(np.arange(len(lg)), lg, connect="finite")
            self.rf_region.setRegion((max(0, t - self.model.receptive_field), t))
            self.grad_plot.setXRange(max(0, t - self.model.receptive_field - 32), t + 8, padding=0)
            text += f" · theory: the {self.model.receptive_field} samples before t"
        else:
            base = None
            if self.examples is not None and len(self.examples):
                base = self.examples[self.example_spin.value(), 0].numpy()
            self.map_view.set_array(ar.receptive_field_picture(rf, base, self.mode_combo.currentData()))
        self.summary.setText(text)

    def _draw_stack(self) -> None:
        m = self.model
        reach = ar.dilation_reach(list(m.dilations))
        span = max(reach[0]) + 8
        plot = self.stack_plot
        plot.clear()
        levels = len(reach)
        xs = np.arange(span + 1)
        grey = pg.mkBrush(150, 150, 150, 120)
        for lvl in range(levels):
            plot.addItem(pg.ScatterPlotItem(x=-xs, y=np.full(len(xs), lvl), size=3, pen=None, brush=grey))
        seg_x, seg_y = [], []
        for lvl in range(1, levels):
            for o in reach[lvl]:
                # level 1 is the first (shifted) convolution: taps 1 and 2 back; level l >= 2 is dilated layer l - 1
                taps = [o + 1, o + 2] if lvl == 1 else [o, o + m.dilations[lvl - 2]]
                for src in taps:
                    if src in reach[lvl - 1]:
                        seg_x += [-src, -o]
                        seg_y += [lvl - 1, lvl]
        plot.addItem(pg.PlotDataItem(np.array(seg_x, float), np.array(seg_y, float), connect="pairs", pen=pg.mkPen(245, 150, 50, 110, width=1)))
        for lvl, offs in enumerate(reach):
            o = np.array(offs, float)
            plot.addItem(pg.ScatterPlotItem(x=-o, y=np.full(len(o), lvl), size=5, pen=None, brush=pg.mkBrush(230, 120, 30)))
        names = ["input x", "causal conv"] + [f"d={d}" for d in m.dilations]  # the last layer's output is t's
        ticks = [(k, names[k]) for k in range(levels)]
        plot.getAxis("left").setTicks([ticks if levels <= 20 else ticks[::2]])
        plot.setXRange(-span, 1, padding=0.01)
        plot.setYRange(-0.5, levels - 0.5, padding=0)
        plot.setTitle(f"WaveNet dilation stack: output t sees the {len(reach[0])} samples before it (orange); "
                      f"receptive field = 2 + sum of dilations = {m.receptive_field}")
