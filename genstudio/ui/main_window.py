"""The studio window: dataset and model docks, the training view, the runs browser, the status bar.

MainWindow puts together one mixin per job, each in its own module:

| module | job |
| --- | --- |
| window_layout.py | docks, screen fitting, dock sizes, theme, saved settings |
| window_actions.py | actions, shortcuts, menus, which actions are enabled |
| recipe_start.py | the Start page and recipes |
| run_controller.py | the training session: start, pause, step, stop, resume, its events |
| alarm_banner.py | the alarm monitor and the banner it writes |
| run_viewer.py | opening runs on disk, following them, the Compare dock |

What stays here: building the window, wiring the panels to each other, and closing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow

from genstudio.core.alarms import AlarmMonitor
from genstudio.core.runs import default_runs_root

from .alarm_banner import AlarmBannerMixin
from .dataset_panel import DatasetPanel
from . import gui_thread_gc
from .estimate_job import StepEstimator, run_facts_text
from .model_panel import ModelPanel
from .recipe_start import RecipeStartMixin
from .run_controller import RunControllerMixin
from .run_viewer import RunViewerMixin
from .run_follower import RunFollower
from .runs_browser import RunsBrowser
from .start_page import StartPage
from .status_bar import StudioStatusBar
from .training_view import TrainingView
from .training_worker import TrainingSession
from .window_actions import WindowActionsMixin
from .window_layout import SETTINGS_VERSION, WindowLayoutMixin, _scrolled


class MainWindow(
    WindowLayoutMixin, WindowActionsMixin, RecipeStartMixin, RunControllerMixin, AlarmBannerMixin, RunViewerMixin, QMainWindow
):
    def __init__(self, settings: QSettings | None = None, runs_root: str | Path | None = None, restore: bool = True):
        super().__init__()
        gui_thread_gc.ensure_installed()  # before the window starts any work off the GUI thread
        self.setWindowTitle("genstudio")
        self.setObjectName("genstudio-main")
        self.settings = settings if settings is not None else QSettings("genstudio", "genstudio")
        self.session: TrainingSession | None = None
        self.follower: RunFollower | None = None
        self.shown_run: Path | None = None
        self.shown_meta: dict[str, Any] = {}
        self.last_dialog = None
        self.compare_dock: QDockWidget | None = None  # built on first use: most sessions never open it
        self._closing = False
        self._total_steps = 0
        self.theme = "light"

        self._make_actions()
        self.training_view = TrainingView(
            [self.act_train, self.act_pause, self.act_step, self.act_stop, self.act_save, self.act_resume_run]
        )
        self.setCentralWidget(self.training_view)
        # "ddpm on mnist5k · stopped · step 352 / 1,200 · <folder>": cut the folder's end, never the step in the middle.
        self.training_view.title.elide_mode = Qt.TextElideMode.ElideRight
        self.dataset_panel = DatasetPanel()
        self.model_panel = ModelPanel(settings=self.settings)
        self.runs_browser = RunsBrowser(runs_root if runs_root is not None else default_runs_root())
        self.data_dock = self._dock("Data", "dock_data", _scrolled(self.dataset_panel), Qt.DockWidgetArea.LeftDockWidgetArea)
        self.model_dock = self._dock("Model", "dock_model", _scrolled(self.model_panel), Qt.DockWidgetArea.RightDockWidgetArea)
        self.runs_dock = self._dock("Runs", "dock_runs", self.runs_browser, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.start_page = StartPage()
        self.start_dock = self._dock("Start", "dock_start", self.start_page, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.tabifyDockWidget(self.runs_dock, self.start_dock)
        self.runs_dock.raise_()
        self._pending_tab: str | None = None  # the tab a recipe opens, once its run has started
        self._pending_recipe_train = False
        self._check_default_pair = True  # the first data loaded: make sure the launch's model can train on it
        self._alarms: AlarmMonitor | None = None  # the window's own monitor on the run's metrics: it knows when an alarm clears
        self._banner_alarm: str | None = None
        self.status = StudioStatusBar()
        self.setStatusBar(self.status)
        self._make_menus()
        self._compact = self._compact_docks()
        self._default_state = self.saveState(SETTINGS_VERSION)

        self.dataset_panel.usableChanged.connect(self._on_dataset_state)
        self.dataset_panel.datasetLoaded.connect(self._on_dataset_state)
        self.dataset_panel.selectionChanged.connect(self._on_dataset_state)
        self.model_panel.validityChanged.connect(self._update_actions)
        self.model_panel.modelChanged.connect(lambda _: self._update_actions())
        self.runs_browser.runOpened.connect(self.open_run)
        self.runs_browser.rootChanged.connect(self.model_panel.set_runs_root)  # run fields (ldm's autoencoder) list its runs
        self.runs_browser.useRunFor.connect(self.model_panel.use_run_for)
        self.model_panel.set_runs_root(self.runs_browser.root)
        self.model_panel.readOnlyChanged.connect(self._on_read_only)
        self.start_page.recipeChosen.connect(self.train_recipe)
        # The estimated time of the run, from a few steps measured off the UI thread.
        self.estimator = StepEstimator(self)
        self.estimator.estimated.connect(self.model_panel.estimate_label.setText)
        self.model_panel.settingsChanged.connect(self._estimate_soon)
        self.model_panel.modelChanged.connect(lambda _: self._estimate_soon())
        self.dataset_panel.datasetLoaded.connect(lambda _: self._estimate_soon())

        self._fit_to_screen()
        self._layout_restored = False
        if restore:
            self.restore_settings(runs_root_given=runs_root is not None)
        else:
            self.set_theme(self.theme)
        self._update_actions()

    # -- the panels, wired to each other ------------------------------------------------------------
    def _on_dataset_state(self, *_: Any) -> None:
        ds = self.dataset_panel.dataset if self.dataset_panel.is_usable() else None
        self.model_panel.set_dataset(
            self.dataset_panel.dataset_id(), ds.info.kind if ds is not None else None, ds.info.shape if ds is not None else None,
            info=ds.info if ds is not None else None,
        )
        if ds is not None and self._check_default_pair:
            self._check_default_pair = False
            self._default_to_a_pair_that_trains()
        self._update_actions()
        if ds is not None or not self.dataset_panel.is_loading():
            self._train_when_ready()

    def _default_to_a_pair_that_trains(self) -> None:
        """At launch, the model reopened (or passed with --model) must take the data; else the family's
        flagship, then the first launch's model, then any model that does."""
        mp = self.model_panel
        if mp.compatibility_error() is None:
            return
        kind = self.dataset_panel.dataset.info.kind
        from genstudio.core import registry
        from genstudio.core.recipes import first_launch_choice, flagship

        cls, before = mp.model_class(), mp.model_id()
        family = getattr(cls, "family", "")
        candidates = [flagship(family, mp._by_family.get(family, [])), first_launch_choice()[1]]
        candidates += [m for ids in mp._by_family.values() for m in ids]
        for mid in candidates:
            try:
                if mid and kind in registry.get_model_class(mid).data_kinds:
                    mp.select(mid)
                    self.status.showMessage(f"{before or 'the model'} does not train on {kind} data: chose {mid}", 8000)
                    return
            except Exception:  # noqa: BLE001 - a broken plugin is listed by the model panel
                continue

    def _on_read_only(self, read_only: bool) -> None:
        self.dataset_panel.set_read_only(read_only)
        self._update_actions()
        self._estimate_soon()

    def _estimate_soon(self) -> None:
        """Measure the configured run's step time again (debounced; the previous measurement is dropped)."""
        if self.session is not None or self.model_panel.is_read_only():
            self.estimator.cancel()  # a dropped measurement takes its "Estimating the time of the run…" with it
            if self.model_panel.is_read_only():
                # An opened run's settings are not the next run's: the form says what this run took instead.
                self.model_panel.estimate_label.setText(run_facts_text(self.shown_meta))
            return
        ds = self.dataset_panel.dataset if self.dataset_panel.is_usable() else None
        if ds is None or self.model_panel.compatibility_error() is not None or not (self.model_panel.model_form.is_valid() and self.model_panel.run_form.is_valid()):
            self.estimator.cancel()
            self.model_panel.estimate_label.setText("")
            return
        self.estimator.request(self.build_spec, ds)

    # -- closing ---------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:  # noqa: N802
        if self.session is not None:
            # Stop first, close when the thread has saved its checkpoint and returned:
            # the window stays responsive meanwhile and the thread is never destroyed running.
            if not self._closing:
                self._closing = True
                self.save_settings()
                self.session.stop()
                self.training_view.show_banner("Stopping the run and saving a checkpoint before closing…", "info")
                self._update_actions()
            event.ignore()
            return
        if not self._closing:
            self.save_settings()
        self._stop_following()
        if self.compare_dock is not None:
            self.compare_dock.widget().shutdown()
        self.training_view.set_panels(None)
        event.accept()

    def shutdown(self, timeout_ms: int = 60_000) -> None:
        """Stop every background job, and wait for the training thread (application quit; blocking).

        A quit that bypasses closeEvent (the desktop session ending) must stop
        an evaluation and a panel's sampler too: the process waits for the
        thread pool before it exits.
        """
        if self.compare_dock is not None:
            self.compare_dock.widget().shutdown()
        for w in self.training_view.panel_widgets:
            if hasattr(w, "shutdown"):
                w.shutdown()
        if self.session is not None:
            self.session.stop()
            self.session.wait(timeout_ms)
