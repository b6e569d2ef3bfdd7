"""The "Compare samplers" tab: two reverse chains from one seed, scrubbed together by the fraction of their walk."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .reverse_view import ReverseView


class SamplerComparisonView(QWidget):
    """Two reverse chains from the same seed, one above the other, scrubbed together by the fraction of the walk.

    The classic comparison: DDPM with all T steps against DDIM with 50, 20 or
    10 (DDIM paper, table 1): x0_hat sharpens much earlier in the DDIM chain.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        waiting = "Run both samplers to record two chains from the same noise, then scrub them together."
        self.a = ReverseView(placeholder=waiting, ready_text=waiting)
        self.b = ReverseView(placeholder=waiting, ready_text=waiting)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setToolTip("How far through both chains (the same fraction of each walk)")
        self.fraction_label = QLabel("run both samplers, then scrub them together")
        self.run_both = QPushButton("Run both")
        self.run_both.setToolTip("Run both samplers from the same seed and n (those of the upper chain)")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Walk both chains together, from pure noise to the finished samples")
        # One slider drives both chains: their own scrub controls would only disagree with it, and the
        # images get the room. The lower chain takes n and the seed of the upper one.
        for view in (self.a, self.b):
            for w in (view.back_button, view.play_button, view.forward_button, view.slider, view.speed_combo):
                w.hide()
        for name in ("n", "seed"):
            for w in self.b._extra_options[name]:
                w.hide()
        bar = QHBoxLayout()
        bar.addWidget(self.run_both)
        bar.addWidget(self.play_button)
        bar.addWidget(QLabel("progress through both chains"))
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.fraction_label)
        lay = QVBoxLayout(self)
        lay.addWidget(self.a, 1)
        lay.addWidget(self.b, 1)
        lay.addLayout(bar)
        self.timer = QTimer(self)
        self.timer.setInterval(40)
        self.timer.timeout.connect(self._tick)
        self.slider.valueChanged.connect(self.show_fraction)
        self.run_both.clicked.connect(self.run)
        self.play_button.toggled.connect(self._on_play)
        self.setEnabled(False)

    def set_model(self, model: Any) -> None:
        first = self.a.model is None
        self.a.set_model(model)
        self.b.set_model(model)
        if first:
            T = model.schedule.num_timesteps
            if self.a.sampler_combo.findText("ddpm") >= 0:
                self.a.sampler_combo.setCurrentText("ddpm")
                self.a.steps_spin.setValue(T)
            for view in (self.a, self.b):
                view.n_spin.setValue(8 if view.is_image else 300)
        self.setEnabled(True)

    def run(self) -> None:
        self.b.seed_spin.setValue(self.a.seed_spin.value())
        self.b.n_spin.setValue(self.a.n_spin.value())
        self.a.run_sampler()
        self.b.run_sampler()

    def _on_play(self, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        if playing:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.timer.start()
        else:
            self.timer.stop()

    def _tick(self) -> None:
        # 0.5% of the walk per 40 ms tick: any pair of chains plays in 8 s.
        if self.slider.value() >= self.slider.maximum():
            self.play_button.setChecked(False)
            return
        self.slider.setValue(min(self.slider.maximum(), self.slider.value() + 5))

    def show_fraction(self, value: int) -> None:
        f = value / self.slider.maximum()
        shown = []
        for view in (self.a, self.b):
            if view.chain is not None:
                i = int(round(f * (view.chain.num_frames - 1)))
                view.slider.setValue(i)
                shown.append(f"t = {view.chain.t[i]}")
        self.fraction_label.setText(f"{100 * f:.0f}% · " + " | ".join(shown) if shown else "run both samplers first")

    def shutdown(self) -> None:
        self.timer.stop()
        for view in (self.a, self.b):
            view.stop_sampler()
            view.timer.stop()
