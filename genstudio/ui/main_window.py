"""The studio window: dataset and model docks, the training view, the runs browser, the status bar."""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QWidget,
)

from genstudio.core.alarms import AlarmMonitor, alarm_of, suggested_settings
from genstudio.core.config import ConfigError
from genstudio.core.recipes import Recipe, load_recipes
from genstudio.core.loading import run_capabilities
from genstudio.core.events import Finished, Metrics, Notice, Preview, RunStarted
from genstudio.core.runs import RunError, RunFolder, default_runs_root
from genstudio.core.spec import RunSpec

from . import dialogs
from .dataset_panel import DatasetPanel
from .model_panel import ModelPanel
from .panels import PanelContext
from .runs_browser import LIVE, RunFollower, RunsBrowser, interrupted, run_problems
from .estimate_job import StepEstimator
from .samples_view import Frame
from .start_page import StartPage
from .status_bar import StudioStatusBar
from .theme import apply_theme
from .training_view import TrainingView
from .training_worker import StartFailed, TrainingSession

RESUMABLE = ("stopped", "diverged", "failed", "completed", "paused")
SETTINGS_VERSION = 1


def new_run_dir(root: Path, model_id: str, dataset_id: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = root / f"{model_id}-{dataset_id}-{stamp}"
    p, k = base, 1
    while p.exists():
        k += 1
        p = base.with_name(f"{base.name}-{k}")
    return p


def _alarm_subject(model_id: str | None, config: dict[str, Any]) -> Any:
    """What an AlarmMonitor reads of a model (D's output kind, latent and codebook sizes, its settings), from the run's config."""
    from types import SimpleNamespace

    from genstudio.core import registry

    try:
        cls = registry.get_model_class(str(model_id))
    except Exception:  # noqa: BLE001 - an unknown or broken model: the alarms read the config alone
        cls = None
    return SimpleNamespace(
        d_output_kind=getattr(cls, "d_output_kind", "probability"),
        latent_dim=config.get("latent_dim", 0),
        num_codes=config.get("num_codes", 0),
        config=SimpleNamespace(**config),
    )


def _scrolled(w: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    area.setMinimumWidth(w.minimumSizeHint().width() + 20)
    area.setWidget(w)
    area.setWidgetResizable(True)
    area.setFrameShape(QScrollArea.Shape.NoFrame)
    return area


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, runs_root: str | Path | None = None, restore: bool = True):
        super().__init__()
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

    #: Below this screen width the Data and Model docks share one column (tabbed), so the centre
    #: (curves, samples, lab tabs) keeps about 900 px on a 1366x768 laptop instead of 630.
    COMPACT_BELOW = 1600

    def _compact_docks(self) -> bool:
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None or screen.availableGeometry().width() >= self.COMPACT_BELOW:
            return False
        self.tabifyDockWidget(self.data_dock, self.model_dock)
        self.data_dock.raise_()
        return True

    def _fit_to_screen(self) -> None:
        """Open at a size that fits the screen the window is on (a 1366x768 laptop included).

        At least 1500x950 and 92 % of a larger screen; on a smaller screen the window
        takes the available area less a margin for the frame, and the panels scroll
        or elide instead of pushing the window past the screen.
        """
        screen = self.screen() or QApplication.primaryScreen()
        if screen is None:
            self.resize(1500, 950)
            return
        avail = screen.availableGeometry()
        # A large screen gives the window most of itself (the centre needs the width); a small one all of it.
        w = min(max(1500, int(avail.width() * 0.92)), avail.width() - 16)
        h = min(max(950, int(avail.height() * 0.92)), avail.height() - 40)
        self.resize(max(640, w), max(480, h))
        self.move(avail.x() + (avail.width() - self.width()) // 2, avail.y() + max(0, (avail.height() - self.height() - 30) // 2))

    # -- building ----------------------------------------------------------------------
    def _action(self, name: str, text: str, shortcut: str | None, tip: str, slot) -> QAction:
        a = QAction(text, self)
        a.setObjectName(name)
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            tip = f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.setData(tip)
        a.triggered.connect(slot)
        self.addAction(a)
        return a

    def _make_actions(self) -> None:
        self.act_train = self._action("train", "Train", "Ctrl+T", "Start training the chosen model on the chosen data", self.start_training)
        self.act_pause = self._action("pause", "Pause", "Space", "Pause or resume training", self.toggle_pause)
        self.act_step = self._action("step", "Step", "F10", "Pause and run exactly one training step", self.step_once)
        self.act_stop = self._action("stop", "Stop", "Ctrl+.", "Stop training (a checkpoint is saved)", self.stop_training)
        self.act_save = self._action("save", "Save checkpoint", "Ctrl+S", "Save a checkpoint now", self.save_checkpoint)
        self.act_resume_run = self._action("resume_run", "Resume run", "Ctrl+R", "Continue the run shown from its last checkpoint", self.resume_shown_run)
        self.act_open = self._action("open_run", "Open run folder…", "Ctrl+O", "Open a run folder", self._open_run_dialog)
        self.act_quit = self._action("quit", "Quit", "Ctrl+Q", "Quit genstudio", self.close)
        self.act_cluster = self._action(
            "hand_to_cluster", "Hand to cluster…", None, "The configured run as a config file, a torchrun command and a SLURM script", self.hand_to_cluster
        )
        self.act_compare = self._action(
            "compare_runs", "Compare runs", "Ctrl+Shift+C", "Compare runs: metrics table, sample grids side by side, curves overlaid, NFE vs quality", self.show_compare
        )

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        d.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, d)
        return d

    def _make_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_open)
        runs_root = QAction("Runs folder…", self)
        runs_root.triggered.connect(self.runs_browser._choose_root)
        f.addAction(runs_root)
        f.addSeparator()
        f.addAction(self.act_quit)
        t = mb.addMenu("&Training")
        for a in (self.act_train, self.act_pause, self.act_step, self.act_stop, self.act_save, self.act_resume_run):
            t.addAction(a)
        t.addSeparator()
        t.addAction(self.act_cluster)
        start = mb.addMenu("&Start")
        self.recipe_actions: dict[str, QAction] = {}
        for rid, recipe in load_recipes().recipes.items():
            a = QAction(f"{recipe.title} ({recipe.minutes:g} min)", self)
            a.setObjectName(f"recipe_{rid}")
            a.setStatusTip(f"{recipe.model} on {recipe.dataset}, {recipe.time_text}: {recipe.blurb}")
            a.triggered.connect(lambda _=False, r=rid: self.train_recipe(r))
            start.addAction(a)
            self.recipe_actions[rid] = a
        start.addSeparator()
        show_start = QAction("Start page", self)
        show_start.triggered.connect(self.show_start_page)
        start.addAction(show_start)
        v = mb.addMenu("&View")
        for d in (self.data_dock, self.model_dock, self.runs_dock, self.start_dock):
            v.addAction(d.toggleViewAction())
        v.addAction(self.act_compare)
        v.addSeparator()
        theme_menu = v.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions = {}
        for name in ("light", "dark"):
            a = QAction(name.title(), self, checkable=True)
            a.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(a)
            theme_menu.addAction(a)
            self.theme_actions[name] = a
        reset = QAction("Reset layout", self)
        reset.triggered.connect(self._reset_layout)
        v.addAction(reset)
        h = mb.addMenu("&Help")
        keys = QAction("Keyboard shortcuts", self)
        keys.triggered.connect(self._show_shortcuts)
        h.addAction(keys)

    def _reset_layout(self) -> None:
        self.restoreState(self._default_state, SETTINGS_VERSION)
        for d in (self.data_dock, self.model_dock, self.runs_dock, self.start_dock):
            d.show()
        self._default_dock_sizes()

    def show_start_page(self) -> None:
        self.start_dock.show()
        self.start_dock.raise_()

    # -- recipes --------------------------------------------------------------------------
    def apply_recipe(self, recipe: Recipe | str) -> bool:
        """Choose a recipe's dataset, model and settings (the tab it names opens once its run starts)."""
        if isinstance(recipe, str):
            recipe = load_recipes().recipes.get(recipe)
        if recipe is None or self.session is not None:
            return False
        self.model_panel.set_read_only(None)
        self.dataset_panel.select(recipe.dataset)
        if recipe.data:
            self.dataset_panel.options_form.set_values(recipe.data)
            self.dataset_panel.reload()
        if not self.model_panel.apply_recipe(recipe):
            return False
        self._pending_tab = recipe.tab
        self._update_actions()
        return True

    def train_recipe(self, recipe_id: str) -> bool:
        """One click on the Start page: set the recipe up, and train as soon as its data has loaded."""
        if not self.apply_recipe(recipe_id):
            return False
        self._pending_recipe_train = True
        self._train_when_ready()
        return True

    def _train_when_ready(self) -> None:
        if not self._pending_recipe_train or self.session is not None:
            return
        if self.dataset_panel.is_loading() or self.dataset_panel._debounce.isActive():
            return  # _on_dataset_state calls again when it has loaded
        self._pending_recipe_train = False
        self.start_training()

    def _show_shortcuts(self) -> None:
        lines = [f"{a.text()}: {a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)}" for a in self.actions() if not a.shortcut().isEmpty()]
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", "\n".join(lines), parent=self)
        box.open()
        self.last_dialog = box

    # -- theme ----------------------------------------------------------------------------
    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        self.theme = apply_theme(app, name)
        if self.theme in self.theme_actions:
            self.theme_actions[self.theme].setChecked(True)
        self.training_view.curves.restyle()
        self.training_view.samples.restyle()
        from .widgets import style_plot

        style_plot(self.dataset_panel.scatter)
        style_plot(self.dataset_panel.histogram)
        if self.compare_dock is not None:
            self.compare_dock.widget().restyle()

    # -- state -------------------------------------------------------------------------------
    def is_training(self) -> bool:
        return self.session is not None

    def train_blockers(self) -> list[str]:
        out = []
        if self.dataset_panel.is_loading() and not self.dataset_panel.is_usable():
            out.append("the dataset is still loading")
        elif not self.dataset_panel.is_usable():
            out.append(f"the data is not usable: {self.dataset_panel.error}" if self.dataset_panel.error else "load a dataset first")
        out += self.model_panel.problems()
        return out

    def _on_dataset_state(self, *_: Any) -> None:
        ds = self.dataset_panel.dataset if self.dataset_panel.is_usable() else None
        self.model_panel.set_dataset(self.dataset_panel.dataset_id(), ds.info.kind if ds is not None else None, ds.info.shape if ds is not None else None)
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

    def _update_actions(self, *_: Any) -> None:
        running = self.session is not None and not self._closing
        blockers = [] if running else self.train_blockers()
        self.act_train.setEnabled(not running and not blockers and not self._closing)
        base = self.act_train.data()
        self.act_train.setToolTip(base if not blockers else f"{base}\nNot yet: " + "; ".join(blockers))
        for a in (self.act_pause, self.act_step, self.act_stop, self.act_save):
            a.setEnabled(running)
        paused = running and self.session.is_paused
        self.act_pause.setText("Resume" if paused else "Pause")
        self.act_resume_run.setEnabled(not running and not self._closing and self._shown_run_resumable())
        self.dataset_panel.setEnabled(not running)
        self.model_panel.setEnabled(not running)

    def _shown_run_resumable(self) -> bool:
        if self.shown_run is None or self.follower is not None:
            return False
        run = RunFolder(self.shown_run)
        status = self.shown_meta.get("status")
        # A "running" run that nobody holds was killed or crashed: it resumes like a stopped one.
        if status not in RESUMABLE and not (status in LIVE and interrupted(run, self.shown_meta)):
            return False
        return run.newest_complete_checkpoint() is not None

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
        tv.forward_event(ev)
        self._alarms = AlarmMonitor(_alarm_subject(cfg.get("model"), ev.config.get("model", {})))
        self._banner_alarm = None
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
            if self._alarms is not None:
                self._alarms.update(m.values, m.split)
                if self._banner_alarm in self._alarms.cleared:
                    # The cause is gone (D recovered): so is the banner that named it.
                    self.training_view.hide_banner()
                    self.status.showMessage(f"cleared: {self._banner_alarm.replace('_', ' ')}", 5000)
                    self._banner_alarm = None
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

    def _on_notice(self, n: Notice) -> None:
        text = html.escape(n.message)
        key = alarm_of(n.message)
        if key is not None:
            # Show the settings it suggests in the form, unfolded and marked, and say where they are.
            subject = self._alarms.model if self._alarms is not None else _alarm_subject(self.model_panel.model_id(), self.model_panel.model_overrides())
            names = self.model_panel.reveal(suggested_settings(key, subject))
            if names:
                text += f"<br><i>{', '.join(names)}: marked in the Model panel; change them for the next run (Stop, then Train).</i>"
                self.model_dock.show()
        self._banner_alarm = key
        self.training_view.show_banner(text, n.level if n.level in ("warning", "error", "info") else "warning")
        self.status.showMessage(n.message, 8000)

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
        if s is not None:
            s.deleteLater()
        self.runs_browser.refresh()
        self.training_view.curves.mark_dirty()
        if self._closing:
            self.close()
            return
        self._update_actions()

    # -- runs on disk -------------------------------------------------------------------------------
    def show_compare(self) -> QDockWidget:
        """The Compare runs dock (a floating window at first), filtered to the shown run's dataset."""
        from .compare.view import CompareView

        if self.compare_dock is None:
            view = CompareView([self.runs_browser.root])
            self.compare_dock = self._dock("Compare runs", "dock_compare", view, Qt.DockWidgetArea.BottomDockWidgetArea)
            self.compare_dock.setFloating(True)
            self.compare_dock.resize(1300, 850)
            self.runs_browser.rootChanged.connect(lambda root: view.set_roots([root]))
        view = self.compare_dock.widget()
        view.set_roots([self.runs_browser.root])
        view.set_default_dataset(self.shown_meta.get("dataset") or self.dataset_panel.dataset_id())
        self.compare_dock.show()
        self.compare_dock.raise_()
        return self.compare_dock

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

    def _on_read_only(self, read_only: bool) -> None:
        self.dataset_panel.set_read_only(read_only)
        self._update_actions()
        self._estimate_soon()

    def _estimate_soon(self) -> None:
        """Measure the configured run's step time again (debounced; the previous measurement is dropped)."""
        if self.session is not None or self.model_panel.is_read_only():
            self.estimator.cancel()
            return
        ds = self.dataset_panel.dataset if self.dataset_panel.is_usable() else None
        if ds is None or self.model_panel.compatibility_error() is not None or not (self.model_panel.model_form.is_valid() and self.model_panel.run_form.is_valid()):
            self.estimator.cancel()
            self.model_panel.estimate_label.setText("")
            return
        self.estimator.request(self.build_spec, ds)

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

    # -- settings and closing ------------------------------------------------------------------------
    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState(SETTINGS_VERSION))
        s.setValue("window/theme", self.theme)
        s.setValue("curves/smoothing", self.training_view.curves.smoothing.value())
        s.setValue("curves/log_y", self.training_view.curves.log_y.isChecked())
        self.dataset_panel.save_settings(s)
        self.model_panel.save_settings(s)
        self.runs_browser.save_settings(s)
        s.sync()

    def restore_settings(self, runs_root_given: bool = False) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self._layout_restored = self.restoreState(state, SETTINGS_VERSION)
        self.set_theme(str(s.value("window/theme", "light")))
        try:
            self.training_view.curves.smoothing.setValue(int(s.value("curves/smoothing", 60)))
        except (TypeError, ValueError):
            pass
        self.training_view.curves.log_y.setChecked(str(s.value("curves/log_y", "false")).lower() == "true")
        if not runs_root_given:
            self.runs_browser.restore_settings(s)
        had_model = self.model_panel.restore_settings(s, dataset_id=str(s.value("dataset/id", "") or ""))
        had_data = self.dataset_panel.restore_settings(s)
        if not had_model and not had_data:
            # The first launch: a recipe that trains in minutes (recipes.toml's first_launch), and the Start page in front.
            first = load_recipes().first()
            if first is not None:
                self.apply_recipe(first)
                self._pending_tab = None  # the first launch stays on Training until the user asks
            self.start_dock.raise_()
        elif not had_data:
            self.dataset_panel.reload()

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._layout_restored:
            # First launch: docks get room for their previews (resizeDocks needs a laid-out window).
            self._layout_restored = True
            QTimer.singleShot(0, self._default_dock_sizes)

    def _centre_room(self) -> None:
        """A run is on screen: the bottom dock gives its height back to the curves and lab tabs.

        The Start page's recipe cards are for choosing a run, not for watching one;
        the Runs list (behind the same tab) is raised and the strip shrinks to its minimum.
        """
        if self.start_dock in self.tabifiedDockWidgets(self.runs_dock):
            self.runs_dock.raise_()
        if not self.runs_dock.isFloating():
            self.resizeDocks([self.runs_dock], [self.runs_dock.minimumSizeHint().height()], Qt.Orientation.Vertical)

    def _default_dock_sizes(self) -> None:
        if self._compact:
            self.resizeDocks([self.data_dock], [400], Qt.Orientation.Horizontal)
        else:
            self.resizeDocks([self.data_dock, self.model_dock], [380, 360], Qt.Orientation.Horizontal)
        self.resizeDocks([self.runs_dock], [160], Qt.Orientation.Vertical)

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
