"""The Diffusion tab: puts the forward, reverse, comparison, schedule, sweep, NFE and Markov-chain tabs
together, and loads the model with the data its views need (see the package docstring)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from genstudio.core.capabilities import Conditional

from .. import PanelContext, register_panel
from ..controls import scrolled
from ..live import CheckpointPanel
from .forward_view import ForwardView
from .guidance_sweep import GuidanceSweepView
from .markov_chain import MarkovChainView
from .nfe_view import SweepNfeQualityView
from .prepare import load_for_diffusion
from .reverse_view import ReverseView
from .sampler_comparison import SamplerComparisonView
from .schedule_view import ScheduleView

class DiffusionPanel(CheckpointPanel):
    """The Diffusion tab: forward process, reverse process, schedules, Markov chain."""

    model_loaded = Signal()
    no_run_text = "no run folder: train or open a run to look inside its diffusion"

    def __init__(self, context: PanelContext, parent: QWidget | None = None):
        super().__init__(context, "the diffusion panel", parent)
        self.model: Any = None
        self.step: int | None = None
        self.status = QLabel("loading the model from the run's latest weights…")
        self.process_text = ""  # what the forward view shows before the model comes (process_only.py)
        self.forward = ForwardView()
        self.reverse = ReverseView(auto_sample=True)
        self.compare = SamplerComparisonView()
        self.schedule_view = ScheduleView()
        self.sweep = GuidanceSweepView()
        self.nfe_view = SweepNfeQualityView()
        self.markov = MarkovChainView()
        self.tabs = QTabWidget()
        self.tabs.addTab(self.forward, "Forward process")
        self.tabs.addTab(self.reverse, "Reverse process")
        # Two chains one above the other: scrolled on their own, so their height does not set every tab's.
        self.tabs.addTab(scrolled(self.compare), "Compare samplers")
        self.tabs.addTab(self.schedule_view, "Schedule")
        self.tabs.addTab(self.sweep, "Guidance sweep")
        self.tabs.addTab(self.nfe_view, "NFE vs quality")
        self.tabs.addTab(self.markov, "Markov chain")
        self.tabs.setTabVisible(self.tabs.indexOf(self.sweep), False)
        self.tabs.setTabVisible(self.tabs.indexOf(self.nfe_view), False)
        lay = QVBoxLayout(self)
        lay.addWidget(self.status)
        lay.addWidget(self.tabs, 1)
        self.reverse.visited_changed.connect(self.schedule_view.set_visited)
        self.reverse.t_changed.connect(self.schedule_view.set_t)
        self.forward.t_changed.connect(self.schedule_view.set_t)
        self.show_process_only()
        self.reload()

    def show_process_only(self) -> None:
        """The forward process and the schedule with no model at all: before a run, and before a live run's first weights.

        The run's own schedule when its config names one (drawn data of the run's shape stands in for its dataset).
        """
        config = self.context.config or {}
        if self.context.run_dir is not None and "schedule" not in (config.get("model") or {}):
            return  # a model with its own kind of schedule (NCSN's sigmas): wait for the model
        from .process_only import process_before_weights

        process, examples, what = process_before_weights(config, self.context.data_info)
        self.forward.set_model(process, examples)
        self.schedule_view.set_schedule(process.schedule)
        self.schedule_view.set_t(self.forward.slider.value())
        self.process_text = f"no model yet: the forward process of a {what}"
        if self.context.run_dir is None:
            self.no_run_text = f"{self.process_text}; train or open a run to look inside its model"
        self.status.setText(self.process_text if self.context.run_dir is not None else self.no_run_text)

    def load_job(self, run_dir: Path, snapshot: Any = None) -> Callable[[], Any]:
        return lambda: load_for_diffusion(run_dir, snapshot)

    def show_loaded(self, result: tuple) -> None:
        model, step, examples, reference = result
        model.eval()
        self.model, self.step = model, step
        self.forward.set_model(model, examples)
        self.reverse.set_model(model)
        self.compare.set_model(model)
        if "ddim" in (model.sample_choices() if hasattr(model, "sample_choices") else {}).get("sampler", ()):
            self.nfe_view.set_model(model, reference)
            self.tabs.setTabVisible(self.tabs.indexOf(self.nfe_view), True)
        if isinstance(model, Conditional) and getattr(model, "num_classes", 0) > 0:
            self.sweep.set_model(model)
            self.tabs.setTabVisible(self.tabs.indexOf(self.sweep), True)
        self.schedule_view.set_schedule(model.schedule)
        self.schedule_view.set_visited(self.reverse.planned_timesteps())
        self.schedule_view.set_t(self.forward.slider.value())
        name = type(model).__name__
        self.status.setText(f"{name} at {self.weights_text(step)} · T = {model.schedule.num_timesteps} · schedule {getattr(model.schedule, 'name', '')}")
        self.model_loaded.emit()

    def waiting_text(self) -> str:
        text = super().waiting_text()
        return f"{text} · {self.process_text}" if self.process_text else text

    def failure_text(self, exc: object) -> str:
        if self.context.live and self.model is None:
            return f"waiting for the run's first checkpoint ({exc})"
        return f"could not load the model: {exc}"

    def shutdown(self) -> None:
        super().shutdown()
        self.reverse.stop_sampler()
        self.reverse.timer.stop()
        self.compare.shutdown()


register_panel("Denoiser", "Diffusion", DiffusionPanel)
