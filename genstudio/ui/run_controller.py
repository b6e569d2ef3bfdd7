"""The training session's lifecycle: build the run from the docks, start, pause, step, stop, resume, and the session's events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import QInputDialog

from genstudio.core.config import ConfigError
from genstudio.core.events import Finished, Metrics, Preview, RunStarted
from genstudio.core.runs import RunError, RunFolder
from genstudio.core.spec import RunSpec

from . import dialogs
from .panels import PanelContext
from .training_worker import StartFailed, TrainingSession


def new_run_dir(root: Path, model_id: str, dataset_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{model_id}-{dataset_id}-{stamp}"
    p, k = base, 1
    while p.exists():
        k += 1
        p = base.with_name(f"{base.name}-{k}")
    return p


class RunControllerMixin:
    """Training session of MainWindow (a mixin: it drives the window's training view, status bar and runs browser)."""

    def is_training(self) -> bool:
        return self.session is not None

    # -- training ------------------------------------------------------------------------------
    def build_spec(self) -> RunSpec:
        return RunSpec.create(
            self.model_panel.model_id(),
            self.dataset_panel.dataset_id(),
            self.model_panel.run_overrides(),
            self.model_panel.model_overrides(),
            self.dataset_panel.overrides(),
        )

    def start_training(self) -> bool:
        if self.session is not None or not self.act_train.isEnabled():
            return False
        try:
            spec = self.build_spec()
        except (ConfigError, KeyError, ValueError) as e:
            self.training_view.show_banner(f"Cannot start: {e}", "error")
            return False
        out = new_run_dir(self.runs_browser.root, spec.run.model, spec.run.dataset)
        self.estimator.cancel()
        cls = self.model_panel.model_class()
        self._begin(spec, out, resume=False, groups=getattr(cls, "metric_groups", {}))
        return True

    def _reference_points(self) -> np.ndarray | None:
        ds = self.dataset_panel.dataset
        if ds is None or ds.info.kind != "points":
            return None
        x = np.asarray(ds.x, dtype=np.float32)
        return x[np.random.default_rng(0).choice(len(x), size=min(len(x), 3000), replace=False)]

    def _begin(self, spec: RunSpec, out: Path, resume: bool, groups: dict[str, list[str]]) -> None:
        self._stop_following()
        tv = self.training_view
        tv.hide_banner()
        if not resume:
            tv.curves.reset(groups)
            tv.curves.prepare()
            tv.samples.clear(self._reference_points())
        self.shown_run, self.shown_meta = out, {}
        self._total_steps = spec.run.steps
        tv.title.setText(f"<b>{spec.run.model}</b> on <b>{spec.run.dataset}</b> · starting… · {out}")
        s = TrainingSession(spec, out, resume=resume, parent=self)
        s.started.connect(self._on_started)
        s.metrics.connect(self._on_metrics)
        s.preview.connect(self._on_preview)
        s.checkpoint.connect(self._on_checkpoint)
        s.notice.connect(self._on_notice)
        s.paused.connect(self._on_paused)
        s.finished.connect(self._on_finished)
        s.failed_to_start.connect(self._on_failed_to_start)
        s.ended.connect(self._on_session_ended)
        self.session = s
        s.start()
        self.status.showMessage("starting: loading data and building the model…")
        self._update_actions()

    def hand_to_cluster(self):
        """Open the cluster dialog for the run configured in the docks (or say what is missing)."""
        from .cluster_dialog import ClusterDialog

        try:
            spec = self.build_spec()
        except (ConfigError, KeyError, ValueError) as e:
            self.training_view.show_banner(f"Cannot hand this run to a cluster: {e}", "error")
            return None
        dialog = ClusterDialog(spec, parent=self)
        dialog.open()
        self.last_dialog = dialog
        return dialog

    def toggle_pause(self) -> None:
        s = self.session
        if s is None:
            return
        if s.is_paused:
            s.resume_training()
        else:
            s.pause()

    def step_once(self) -> None:
        if self.session is not None:
            self.session.step_once(1)

    def stop_training(self) -> None:
        if self.session is not None:
            self.session.stop()
            self.status.showMessage("stopping: saving a checkpoint…")

    def save_checkpoint(self) -> None:
        if self.session is not None:
            self.session.save_checkpoint()
            self.status.showMessage("checkpoint requested…", 3000)

    # -- session events ---------------------------------------------------------------------------
    def _on_started(self, ev: RunStarted) -> None:
        tv = self.training_view
        self._total_steps = ev.total_steps
        self.shown_run = Path(ev.run_dir)
        if ev.start_step > 0:
            self._load_history(Path(ev.run_dir), upto=ev.start_step, groups=ev.metric_groups)
        elif ev.metric_groups:
            tv.curves.set_groups(ev.metric_groups)
        self.status.set_device(ev.device, ev.threads)
        self.status.set_progress(ev.start_step, ev.total_steps, None, None)
        cfg = ev.config.get("run", {})
        tv.title.setText(f"<b>{cfg.get('model')}</b> on <b>{cfg.get('dataset')}</b> · {Path(ev.run_dir).name}")
        feed = self.session.weights if self.session is not None else None  # the live weights, before any checkpoint
        tv.set_panels(PanelContext(Path(ev.run_dir), ev.capabilities, ev.metric_groups, ev.data_info, ev.config, live=True, live_weights=feed))
        self._centre_room()
        self._data_strip(True)
        tv.forward_event(ev)
        self._watch_alarms(cfg.get("model"), ev.config.get("model", {}))
        if self._pending_tab:
            for i in range(tv.tabs.count()):
                if tv.tabs.tabText(i) == self._pending_tab:
                    tv.tabs.setCurrentIndex(i)
            self._pending_tab = None
        self.status.showMessage("training", 2000)
        self.runs_browser.refresh()

    def _on_metrics(self, events: list[Metrics]) -> None:
        store = self.training_view.curves.store
        last_train = None
        for m in events:
            store.add(m.step, m.values, m.split)
            if m.split == "train":
                last_train = m
            self._track_alarms(m.values, m.split)
        self.training_view.curves.mark_dirty()
        if last_train is not None:
            self.status.set_progress(last_train.step, self._total_steps, last_train.steps_per_s, last_train.eta_s)
            if self.shown_run is not None:
                self.runs_browser.show_progress(self.shown_run, last_train.step, self._total_steps, last_train.elapsed_s)

    def _on_checkpoint(self, ev: Any) -> None:
        self.status.showMessage(f"checkpoint saved at step {ev.step:,}", 4000)
        self.training_view.forward_event(ev)  # panels reload their own model copy here

    def _on_preview(self, p: Preview) -> None:
        self.training_view.samples.add_preview(p)
        self.training_view.forward_event(p)

    def _on_paused(self, paused: bool) -> None:
        self._update_actions()
        if self.session is not None:
            step = self.session.step
            self.status.showMessage(f"paused at step {step:,}" if paused else "training", 0 if paused else 2000)

    def _on_finished(self, f: Finished) -> None:
        tv = self.training_view
        self.status.set_progress(f.step, self._total_steps, None, None)
        self.shown_meta = {"status": f.status, "step": f.step}
        if f.status == "completed":
            tv.show_banner(f"Finished: {f.message or f'completed {f.step:,} steps'}.", "info")
        elif f.status == "stopped":
            tv.show_banner(f"Stopped at step {f.step:,}; a checkpoint was saved. <i>Resume run</i> continues it.", "info")
        elif f.status == "diverged":
            term = f" The loss term <b>{f.term}</b> became NaN or infinite." if f.term else ""
            tv.show_banner(f"Diverged at step {f.step:,}.{term} {f.message}", "error")
        else:
            tv.show_banner(f"Training failed at step {f.step:,}: {f.message}", "error")
            # A full disk is not a bug: its own title, and the message says what to do (no traceback comes with it).
            title = "Disk full" if "disk full" in (f.message or "").lower() else "Training failed"
            self.last_dialog = dialogs.show_error(self, title, f.message or "Training failed.", f.traceback)
        tv.forward_event(f)
        self.status.showMessage(f"run {f.status} at step {f.step:,}", 8000)

    def _on_failed_to_start(self, sf: StartFailed) -> None:
        self.training_view.show_banner(f"Could not start: {sf.message}", "error")
        title = "Run folder in use" if " is in use by " in sf.message else "Could not start training"
        self.last_dialog = dialogs.show_error(self, title, sf.message, "" if sf.expected else sf.traceback)
        self.status.showMessage(f"could not start: {sf.message}", 10_000)

    def _on_session_ended(self) -> None:
        s = self.session
        self.session = None
        self._data_strip(False)
        if s is not None:
            s.deleteLater()
        self.runs_browser.refresh()
        self.training_view.curves.mark_dirty()
        if self._closing:
            self.close()
            return
        self._update_actions()

    def resume_shown_run(self, steps: int | None = None) -> bool:
        if self.session is not None or self.shown_run is None or not self._shown_run_resumable():
            return False
        run = RunFolder(self.shown_run)
        try:
            spec = run.spec()
            meta = run.meta
        except (RunError, ConfigError) as e:
            self.training_view.show_banner(f"Cannot resume: {e}", "error")
            return False
        if steps is None:
            step, total = int(meta.get("step") or 0), int(meta.get("total_steps") or spec.run.steps)
            default = total if step < total else total + max(1000, total // 2)
            steps, ok = QInputDialog.getInt(self, "Resume run", f"Train until step (now at {step:,}):", default, step + 1, 10_000_000, 100)
            if not ok:
                return False
        try:
            spec = spec.with_overrides(run={"steps": steps})
        except ConfigError as e:
            self.training_view.show_banner(f"Cannot resume: {e}", "error")
            return False
        self._begin(spec, self.shown_run, resume=True, groups=meta.get("metric_groups") or {})
        return True
