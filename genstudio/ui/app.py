"""Entry point of the studio window (``genstudio`` with no arguments).

``--set KEY=VALUE`` fills the forms as ``genstudio train --set`` would, and
``--train`` presses Train as soon as the data is loaded (a desktop shortcut
that starts a run, and the tests that close a studio mid-run). SIGTERM and
SIGINT close the window the way its close button does: the run stops at its
next step, saves a checkpoint and is marked ``stopped``; a second signal ends
the process at once (the run then resumes from its last complete checkpoint).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from typing import Any

NO_DISPLAY = """genstudio: no display found (neither DISPLAY nor WAYLAND_DISPLAY is set).
  To run the window without a screen:  QT_QPA_PLATFORM=offscreen genstudio
  (or under a virtual one:             xvfb-run genstudio)
  To train without a window:           genstudio train --model ddpm --dataset mnist5k --steps 2000 --out runs/x"""


def has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True  # macOS and Windows always have a window server


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="genstudio", description="The genstudio window: train and inspect generative models.")
    p.add_argument("--dataset", help="dataset id to preselect (genstudio list datasets)")
    p.add_argument("--model", help="model id to preselect (genstudio list models)")
    p.add_argument("--path", help="file or folder for the folder / array / csv datasets")
    p.add_argument("--runs", help="runs folder shown in the runs browser (default: ./runs)")
    p.add_argument("--open", dest="open_run", help="a run folder to open")
    p.add_argument("--theme", choices=("light", "dark"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a model, run or data setting for the forms (as in genstudio train --set)")
    p.add_argument("--train", action="store_true", help="start training as soon as the data is loaded")
    return p.parse_args(argv)


def apply_settings(win: Any, assignments: list[str]) -> None:
    """Fill the model, run and data forms from ``--set`` strings (ConfigError with the reason on a bad one)."""
    from genstudio.core import config as cfg
    from genstudio.core.registry import get_model_class
    from genstudio.core.spec import RunConfig, split_overrides
    from genstudio.data.dataset import DataOptions

    model_cls = get_model_class(win.model_panel.model_id())
    run, model, data = split_overrides(cfg.parse_assignments(assignments), model_cls)

    def typed(cls: type, values: dict[str, Any]) -> dict[str, Any]:
        return {k: cfg.coerce(cfg.spec_of(cls, k), v) for k, v in values.items()}

    win.model_panel.apply(run=typed(RunConfig, run), model=typed(model_cls.config_class, model))
    if data:
        win.dataset_panel.options_form.set_values(typed(DataOptions, data))


def train_when_ready(win: Any) -> None:
    """Press Train once, as soon as the window allows it (the data loads on a worker thread)."""
    state = {"done": False}

    def try_start() -> None:
        if not state["done"] and win.act_train.isEnabled() and win.start_training():
            state["done"] = True
            win.act_train.changed.disconnect(try_start)

    win.act_train.changed.connect(try_start)
    try_start()


def close_on_signals(app: Any, win: Any, signals: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """SIGTERM / SIGINT close the window as its close button does; a second one ends the process.

    A desktop session that ends, ``kill``, or Ctrl+C in the launching terminal
    should stop a run the way closing the window does, with a checkpoint.
    Python runs a signal handler only when the interpreter gets control, which
    it does not while Qt's event loop waits; the wakeup fd (a socket pair
    watched by a QSocketNotifier) gives it control at once.
    """
    from PySide6.QtCore import QSocketNotifier, QTimer

    rsock, wsock = socket.socketpair()
    rsock.setblocking(False)
    wsock.setblocking(False)
    signal.set_wakeup_fd(wsock.fileno())
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read, app)

    def drain() -> None:
        try:
            while rsock.recv(64):
                pass
        except OSError:
            pass

    notifier.activated.connect(drain)
    received: list[int] = []

    def handler(signum: int, _frame: Any) -> None:
        received.append(signum)
        if len(received) > 1:
            # Asked twice: do not wait for the run any longer (its last checkpoint is complete on disk).
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        QTimer.singleShot(0, win.close)  # not from inside whatever Python code the signal interrupted

    for s in signals:
        signal.signal(s, handler)
    app._genstudio_signal_wakeup = (rsock, wsock, notifier)  # kept alive as long as the application


def discard_window(win: Any) -> None:
    """Close a window that will never be shown, after the work it started on the thread pool.

    The window starts loading its dataset (and timing a few steps) on Qt's
    global thread pool as soon as it is built. Returning from ``main`` with
    that work still running lets the interpreter shut down under a pool
    thread that runs Python and emits into the window: the process then dies
    of SIGSEGV after printing its one-line error, instead of exiting with 2.
    """
    from PySide6.QtCore import QThreadPool

    win.estimator.cancel()
    win.shutdown()
    QThreadPool.globalInstance().waitForDone(60_000)
    win.close()
    win.deleteLater()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from genstudio.core import registry

    for kind, value, known in (("dataset", args.dataset, registry.dataset_ids), ("model", args.model, registry.model_ids)):
        if value and value not in known():
            print(f"genstudio: unknown {kind} '{value}'; available: {', '.join(known())}", file=sys.stderr)
            return 2

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("genstudio")
    app.setApplicationName("genstudio")

    from .main_window import MainWindow

    win = MainWindow(runs_root=args.runs)
    if args.theme:
        win.set_theme(args.theme)
    if args.model:
        win.model_panel.select(args.model)
    if args.dataset:
        win.dataset_panel.select(args.dataset, args.path)
    if args.set:
        from genstudio.core.config import ConfigError

        try:
            apply_settings(win, args.set)
        except ConfigError as e:
            print(f"genstudio: {e}", file=sys.stderr)
            discard_window(win)
            return 2
    if args.open_run:
        win.open_run(args.open_run)
    # A quit that bypasses the window's close (e.g. the session ending) still stops the run.
    app.aboutToQuit.connect(win.shutdown)
    close_on_signals(app, win)
    win.show()
    if args.train:
        train_when_ready(win)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
