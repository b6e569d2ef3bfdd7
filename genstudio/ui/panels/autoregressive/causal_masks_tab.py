"""The causal masks tab of the convolutional models (PixelCNN, Gated PixelCNN): each masked kernel's
footprint, and the receptive field of one pixel after each layer, measured by gradients from the live
weights, so the PixelCNN's blind spot is seen growing and the Gated PixelCNN's two stacks are seen closing it.

The arithmetic is in :mod:`..causal_masks`. The gradients of every layer run
at once on the panels' background job, and only while the tab is on screen (a
live run reloads the model at the preview cadence); the layer slider then only
swaps pictures.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from ...widgets import ImageView, caption, titled
from ..causal_masks import common_frame, depth_picture, field_picture, fields_summary, kernel_masks, kernel_picture, stage_fields
from ..controls import tool_row
from ..jobs import PanelJob

LEGEND = (
    "White: the input pixels the green pixel's activation depends on (brighter: larger gradient) · "
    "<b>blue: earlier pixels within its reach that it cannot see, the blind spot</b> · red: later pixels (never, if causal) · "
    "kernel taps: white open, grey open only from earlier colours, dark shut"
)
KERNEL_LEGEND = "Kernel taps: white open, grey open only from earlier colours, dark shut; green: the pixel written."


class CausalMasksTab(QWidget):
    """Masked kernels, and the receptive field of one output pixel after each layer."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model: Any = None
        self.fields: list = []
        self.stacks: list[str] = []  # "" for a single stack (PixelCNN); "vertical stack", "horizontal stack"
        self.layers: list[str] = []
        self._dirty = False
        self.row_spin = QSpinBox()
        self.row_spin.setToolTip("Row of the output pixel whose receptive field is followed")
        self.col_spin = QSpinBox()
        self.col_spin.setToolTip("Column of the output pixel")
        self.trials_spin = QSpinBox()
        self.trials_spin.setRange(1, 8)
        self.trials_spin.setValue(2)
        self.trials_spin.setToolTip("Random inputs the gradient is summed over (a path dead on one input shows on another)")
        self.layer_slider = QSlider(Qt.Orientation.Horizontal)
        self.layer_slider.setMinimumWidth(120)
        self.layer_slider.setRange(0, 0)
        self.layer_slider.setToolTip("After which layer the receptive field is shown")
        self.layer_label = QLabel("")
        self.kernels_row = QHBoxLayout()
        self.kernels_row.setContentsMargins(0, 0, 0, 0)
        kernels = QWidget()
        kernels.setLayout(self.kernels_row)
        kernels.setMaximumHeight(120)
        self.field_views = [ImageView(placeholder="receptive field") for _ in range(2)]
        self.depth_view = ImageView(placeholder="layer by layer")
        self.field_boxes = [titled("", v, wrap=True) for v in self.field_views]
        self.depth_box = titled("first layer reaching each pixel", self.depth_view, wrap=True)
        fields = QHBoxLayout()
        for box in (*self.field_boxes, self.depth_box):
            fields.addWidget(box, 1)
        self.legend = caption(LEGEND)
        self.legend.setToolTip(KERNEL_LEGEND)
        kernels.setToolTip(KERNEL_LEGEND)
        self.summary = caption("")
        self.job = PanelJob(self, message=self.summary)
        self.job.done.connect(self._on_done)
        lay = QVBoxLayout(self)
        controls = tool_row("output pixel: row", self.row_spin, "column", self.col_spin, "inputs", self.trials_spin, "after layer")
        controls.insertWidget(controls.count() - 1, self.layer_slider, 1)
        controls.insertWidget(controls.count() - 1, self.layer_label)
        lay.addLayout(controls)
        lay.addWidget(kernels)
        lay.addLayout(fields, 1)
        lay.addWidget(self.legend)
        lay.addWidget(self.summary)
        for spin in (self.row_spin, self.col_spin, self.trials_spin):
            spin.valueChanged.connect(lambda _v: self.compute())
        self.layer_slider.valueChanged.connect(lambda _v: self._draw_fields())
        self.setEnabled(False)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().resizeEvent(event)
        # Wrapped captions under stretching pictures were squeezed to one line: keep the height their text needs.
        for label in (self.legend, self.summary):
            label.setMinimumHeight(max(0, label.heightForWidth(max(1, self.width() - 20))))

    def set_model(self, model: Any) -> None:
        first = self.model is None
        self.model = model
        for spin, size in ((self.row_spin, model.height), (self.col_spin, model.width)):
            spin.blockSignals(True)
            spin.setRange(0, size - 1)
            if first:
                spin.setValue((2 * size) // 3 if spin is self.row_spin else size // 2)
            spin.blockSignals(False)
        self._draw_kernels()
        self.setEnabled(True)
        self._dirty = True
        if self.isVisible():
            self.compute()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._dirty:
            self.compute()

    def compute(self) -> None:
        """Measure every layer's field off the UI thread (the newest request wins)."""
        if self.model is None:
            return
        self._dirty = False
        model, i, j, trials = self.model, self.row_spin.value(), self.col_spin.value(), self.trials_spin.value()
        self.job.start(lambda _state: stage_fields(model, i, j, trials=trials), "computing the gradients of every layer…")

    def _on_done(self, fields: list) -> None:
        self.fields = fields
        self.stacks = list(dict.fromkeys(f.name.split(", ")[0] for f in fields if ", " in f.name)) or [""]
        self.layers = list(dict.fromkeys(f.name.split(", ")[-1] for f in fields))
        at_end = self.layer_slider.value() >= self.layer_slider.maximum()  # follow the last layer unless moved
        self.layer_slider.blockSignals(True)
        self.layer_slider.setRange(1, len(self.layers))
        if at_end:
            self.layer_slider.setValue(len(self.layers))
        self.layer_slider.blockSignals(False)
        last_stack = self.stacks[-1]
        self.depth_view.set_array(depth_picture(self._stack(last_stack)))
        self.summary.setText(fields_summary(fields))
        self.summary.setMinimumHeight(max(0, self.summary.heightForWidth(max(1, self.width() - 20))))
        self._draw_fields()

    def _stack(self, stack: str) -> list:
        return [f for f in self.fields if (f.name.startswith(stack + ", ") if stack else True)]

    def field(self, stack: str, layer: int) -> Any:
        """The field of ``stack`` after layer ``layer`` (1-based), or None when that stack has none there."""
        name = self.layers[layer - 1]
        for f in self._stack(stack):
            if f.name.split(", ")[-1] == name:
                return f
        return None

    def _draw_fields(self) -> None:
        if not self.fields:
            return
        k = self.layer_slider.value()
        self.layer_label.setText(f"{k} of {len(self.layers)}: {self.layers[k - 1].split(': ')[-1]}")
        for n, (box, view) in enumerate(zip(self.field_boxes, self.field_views)):
            if n >= len(self.stacks):
                box.hide()
                continue
            box.show()
            stack = self.stacks[n]
            f = self.field(stack, k)
            title = box.findChild(QLabel)
            what = {"vertical stack": "vertical stack (a row lower)", "horizontal stack": "horizontal stack: the output's view"}.get(stack, "the network")
            title.setText(what)
            title.setToolTip(f"{what}, after {self.layers[k - 1]}" + (": the vertical stack as the horizontal one receives it" if stack == "vertical stack" else ""))
            if f is None:
                view.set_array(None)
                continue
            view.set_array(field_picture(f))
            view.setToolTip(f"{f.name}: sees {int(f.seen.sum())} input pixels; blind spot {int(f.blind().sum())}")

    def _draw_kernels(self) -> None:
        while self.kernels_row.count():
            item = self.kernels_row.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        masks = kernel_masks(self.model)
        frame = common_frame(masks) if masks else None
        for mask in masks:
            view = ImageView(placeholder=mask.name)
            view.setMinimumSize(60, 60)
            view.set_array(kernel_picture(mask, frame))
            view.setToolTip(mask.name)
            self.kernels_row.addWidget(titled(mask.name, view, wrap=True), 1)
