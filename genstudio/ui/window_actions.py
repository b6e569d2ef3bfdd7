"""The window's actions (with their shortcuts), its menus, and which actions are enabled when."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMessageBox

from genstudio.core.recipes import load_recipes


class WindowActionsMixin:
    """Actions and menus of MainWindow (a mixin: the slots they call live on the window)."""

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

    def _show_shortcuts(self) -> None:
        lines = [f"{a.text()}: {a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)}" for a in self.actions() if not a.shortcut().isEmpty()]
        box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts", "\n".join(lines), parent=self)
        box.open()
        self.last_dialog = box

    def train_blockers(self) -> list[str]:
        out = []
        if self.dataset_panel.is_loading() and not self.dataset_panel.is_usable():
            out.append("the dataset is still loading")
        elif not self.dataset_panel.is_usable():
            out.append(f"the data is not usable: {self.dataset_panel.error}" if self.dataset_panel.error else "load a dataset first")
        out += self.model_panel.problems()
        return out

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

