"""Entry point of the studio window (``genstudio`` with no arguments)."""

from __future__ import annotations

import argparse
import os
import sys

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
    return p.parse_args(argv)


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
    if args.open_run:
        win.open_run(args.open_run)
    # A quit that bypasses the window's close (e.g. the session ending) still stops the run.
    app.aboutToQuit.connect(win.shutdown)
    win.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
