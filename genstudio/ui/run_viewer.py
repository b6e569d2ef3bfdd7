"""Runs on disk: open a run folder, show its curves, grids and settings, follow it while another process writes it, and the Compare dock."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog

from genstudio.core.config import ConfigError
from genstudio.core.loading import run_capabilities
from genstudio.core.runs import RunError, RunFolder

from .panels import PanelContext
from .run_follower import RunFollower
from .runs_browser import LIVE, interrupted, run_problems
from .samples_view import Frame

RESUMABLE = ("stopped", "diverged", "failed", "completed", "paused")


class RunViewerMixin:
    """Shown run of MainWindow (a mixin: it fills the window's training view and panels from a run folder)."""

    # -- runs on disk -------------------------------------------------------------------------------
    def show_compare(self) -> QDockWidget:
        """The Compare runs dock (a floating window at first), filtered to the shown run's dataset."""
        from .compare.view import CompareView

        if self.compare_dock is None:
            view = CompareView([self.runs_browser.root])
            self.compare_dock = self._dock("Compare runs", "dock_compare", view, Qt.DockWidgetArea.BottomDockWidgetArea)
            self.compare_dock.setFloating(True)
            self._fit_floating(self.compare_dock, 1300, 850)
            self.runs_browser.rootChanged.connect(lambda root: view.set_roots([root]))
        view = self.compare_dock.widget()
        view.set_roots([self.runs_browser.root])
        view.set_default_dataset(self.shown_meta.get("dataset") or self.dataset_panel.dataset_id())
        self.compare_dock.show()
        self.compare_dock.raise_()
        return self.compare_dock

    def _fit_floating(self, dock: QDockWidget, width: int, height: int) -> None:
        """Size a floating dock to ``width`` x ``height`` or the screen's free area, whichever is smaller, and place it
        on that screen (a 1300x850 Compare window would hang off the bottom of a 1366x768 laptop)."""
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            dock.resize(width, height)
            return
        avail = screen.availableGeometry()
        w, h = min(width, avail.width() - 16), min(height, avail.height() - 40)  # room for the frame and title bar
        dock.resize(w, h)
        dock.move(avail.x() + (avail.width() - w) // 2, avail.y() + max(0, (avail.height() - h - 30) // 2))

    def _open_run_dialog(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "Open run folder", str(self.runs_browser.root))
        if p:
            self.open_run(p)

    def _load_history(self, path: Path, upto: int | None = None, groups: dict | None = None) -> tuple[int, set[int]]:
        """Show the run's curves and grids; returns (metrics offset read to, grid steps shown) for a follower."""
        run = RunFolder(path)
        tv = self.training_view
        tv.curves.reset(groups or {})
        records, offset = run.read_metrics()
        for r in records:
            if upto is None or int(r.get("step", 0)) <= upto:
                tv.curves.store.add_record(r)
        tv.curves.mark_dirty()
        grids = [(s, p) for s, p in run.sample_grids() if upto is None or s <= upto]
        tv.samples.set_saved_grids(grids)
        return offset, {s for s, _ in grids}

    def open_run(self, path: str | Path) -> bool:
        """Show a run folder's curves and grids; follow it live when another process writes it."""
        path = Path(path)
        if self.session is not None and self.shown_run is not None and path.resolve() == self.shown_run.resolve():
            return True  # it is the run training here: already shown live
        if self.session is not None:
            self.status.showMessage("stop the current run before opening another", 5000)
            return False
        run = RunFolder(path)
        try:
            meta = run.meta
        except RunError as e:
            self.training_view.show_banner(str(e), "error")
            return False
        self._stop_following()
        tv = self.training_view
        tv.hide_banner()
        tv.samples.clear()
        offset, grids_shown = self._load_history(path, groups=meta.get("metric_groups") or {})
        self.shown_run, self.shown_meta = path, meta
        self._total_steps = int(meta.get("total_steps") or 0)
        self._show_meta(meta)
        self._show_run_settings(run)
        tv.set_panels(
            PanelContext(path, run_capabilities(path), meta.get("metric_groups") or {}, meta.get("data_info") or {}, {}, live=False)
        )
        self._centre_room()
        lost = interrupted(run, meta)
        if meta.get("status") in LIVE and not lost:
            # Written by another process: follow it from where we read.
            f = RunFollower(path, parent=self)
            # From exactly what was loaded: a process writing meanwhile loses no record or grid.
            f.offset = offset
            f._grids_seen = grids_shown
            f._meta_mtime = run.meta_path.stat().st_mtime
            f.last_meta = meta
            f.records.connect(self._on_followed_records)
            f.lost.connect(self._on_followed_lost)
            f.grid.connect(lambda step, p: tv.samples.add_frame(Frame(step, path=p)))
            f.meta.connect(self._on_followed_meta)
            self.follower = f
            f.start()
        lines, level = [], "warning"
        if lost:
            lines.append(
                f"This run was interrupted: meta.json says '{meta.get('status')}', but no process is writing it (killed or crashed). "
                "<i>Resume run</i> continues it from its newest complete checkpoint."
            )
        if meta.get("status") == "diverged" and meta.get("diverged_term"):
            lines.append(f"This run diverged: the loss term <b>{meta['diverged_term']}</b> became non-finite. {meta.get('message', '')}")
            level = "error"
        elif meta.get("status") == "failed":
            lines.append(f"This run failed: {meta.get('message', '')}")
            level = "error"
        # What is damaged in the folder: shown, never raised (the curves and grids above still load).
        lines += [f"Problem: {html.escape(p)}." for p in run_problems(run, meta)]
        if lines:
            tv.show_banner("<br>".join(lines), level)
        self._update_actions()
        return True

    def _show_run_settings(self, run: RunFolder) -> bool:
        """Fill the Data and Model panels with the run's dataset, model and settings, read-only while it is shown.

        "Train a copy" (in the Model panel) makes them editable again, for a new run.
        A run whose config cannot be read leaves the form as it was (editable).
        """
        try:
            spec = run.spec()
        except (RunError, ConfigError, KeyError, OSError, ValueError):
            self.model_panel.set_read_only(None)
            return False
        from genstudio.core.config import to_dict
        from genstudio.data.dataset import DataOptions

        self.model_panel.set_read_only(None)  # unlock to fill
        data = to_dict(spec.data)
        defaults = to_dict(DataOptions())
        dp = self.dataset_panel
        if data.get("root") and data["root"] != defaults.get("root"):
            dp.root_edit.setText(str(data["root"]))
        dp.select(spec.run.dataset, data.get("path") or None)  # first: the options shown depend on the dataset
        dp.options_form.set_values({k: v for k, v in data.items() if k in dp.options_form.fields})
        dp.reload()
        self.model_panel.select(spec.run.model)
        run_values = {k: v for k, v in to_dict(spec.run).items() if k not in ("model", "dataset")}
        self.model_panel.model_form.reset()
        self.model_panel.run_form.reset()
        self.model_panel.apply(run=run_values, model=to_dict(spec.model))
        self.model_panel.preset_box.setCurrentIndex(0)
        self.model_panel._show_preset_note(None)
        self.model_panel.set_read_only(run.path.name)
        return True

    def _show_meta(self, meta: dict) -> None:
        step = int(meta.get("step") or 0)
        self.training_view.title.setText(
            f"<b>{meta.get('model', '?')}</b> on <b>{meta.get('dataset', '?')}</b> · {meta.get('status', '?')} · "
            f"step {step:,} / {int(meta.get('total_steps') or 0):,} · {self.shown_run.name if self.shown_run else ''}"
        )
        self.status.set_progress(step, self._total_steps, None, None)

    def _on_followed_records(self, records: list[dict]) -> None:
        store = self.training_view.curves.store
        for r in records:
            store.add_record(r)
        self.training_view.curves.mark_dirty()

    def _on_followed_meta(self, meta: dict) -> None:
        self.shown_meta = meta
        self._show_meta(meta)
        if meta.get("status") not in ("running", "paused", "created"):
            self._stop_following()
        self._update_actions()

    def _on_followed_lost(self) -> None:
        self._stop_following()
        self.training_view.show_banner(
            "The process writing this run ended without finishing it (killed or crashed). "
            "<i>Resume run</i> continues it from its newest complete checkpoint.",
            "warning",
        )
        self._update_actions()

    def _stop_following(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
            self.follower = None

    def _shown_run_resumable(self) -> bool:
        if self.shown_run is None or self.follower is not None:
            return False
        run = RunFolder(self.shown_run)
        status = self.shown_meta.get("status")
        # A "running" run that nobody holds was killed or crashed: it resumes like a stopped one.
        if status not in RESUMABLE and not (status in LIVE and interrupted(run, self.shown_meta)):
            return False
        return run.newest_complete_checkpoint() is not None

