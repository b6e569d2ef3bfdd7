"""Screenshot of the studio mid-training (for the README): the real window, under Xvfb or a desktop.

    xvfb-run -s "-screen 0 1600x1000x24" python benchmarks/ui_screenshot.py --model ddpm --dataset mnist5k --seconds 90

Writes resources/screenshots/studio-<model>-<dataset>.png (grabbed from the screen,
so it is what a user sees) and prints the training state at that moment.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="ddpm")
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--seconds", type=float, default=90)
    ap.add_argument("--theme", default="light")
    ap.add_argument("--set", action="append", default=[], help="run.key=value for the run form")
    args = ap.parse_args()

    import genstudio.ui  # noqa: F401
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from genstudio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="gs-shot-"))
    w = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), runs_root=tmp / "runs")
    w.set_theme(args.theme)
    w.resize(1600, 960)
    w.show()
    w.dataset_panel.select(args.dataset)
    w.model_panel.select(args.model)
    over = {"steps": 100_000, "log_every": 1, "preview_every_s": 20.0}
    for item in args.set:
        k, v = item.split("=", 1)
        over[k] = v
    w.model_panel.run_form.set_values(over)

    def pump(seconds: float, until=None) -> None:
        end = time.time() + seconds
        while time.time() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.01)

    pump(120, w.dataset_panel.is_usable)
    assert w.start_training(), w.train_blockers()
    pump(args.seconds)
    pump(0.3)
    out = ROOT / "resources" / "screenshots" / f"studio-{args.model}-{args.dataset}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    screen = app.primaryScreen()
    shot = screen.grabWindow(0, w.x(), w.y(), w.frameGeometry().width(), w.frameGeometry().height())
    if shot.isNull() or app.platformName() == "offscreen":
        shot = w.grab()
    shot.save(str(out))
    s = w.session
    print(f"{out}: {w.width()}x{w.height()}, platform {app.platformName()}, step {s.step if s else '?'}, grids {len(w.training_view.samples.frames)}")
    w.stop_training()
    pump(300, lambda: w.session is None)
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
