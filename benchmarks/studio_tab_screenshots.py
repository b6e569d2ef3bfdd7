"""Screenshots of every tab of every panel, in the real window, as a user sees them.

Opens each run folder in the studio (File > Open run), shows each tab and each
tab inside a panel, and grabs the window from the screen. Run it under Xvfb at
the screen size to check (the window opens at the size it picks for that screen):

    xvfb-run -s "-screen 0 1366x768x24" .venv/bin/python benchmarks/studio_tab_screenshots.py \\
        --runs /tmp/shotruns/ddpm /tmp/shotruns/vae ... --out resources/screenshots/1366x768

and again with ``-screen 0 1920x1080x24`` and ``--out resources/screenshots/1920x1080``.
``--only latent-interpolation priors`` re-shoots only the tabs whose file name contains one of
those words (after a fix to those tabs), and still opens every run given.

Train the runs first with the CLI (short runs are enough: the pictures show the
layout, not the quality), for example
``genstudio train --model ddpm --dataset mnist5k --minutes 2 --out /tmp/shotruns/ddpm``.
Tabs a panel hides for the model shown (MADE masks of a PixelCNN) are skipped, as
the user cannot reach them; each tab is grabbed once its background work (a
model load, a first reverse chain, gradients) has finished or ``--settle-max``
seconds passed. PNGs are written as 256-colour palettes to keep the committed
set small.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", required=True, help="run folders to open, one after the other")
    ap.add_argument("--out", required=True, help="folder for the PNGs")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds each panel gets to load and draw")
    ap.add_argument("--settle-max", type=float, default=45.0, help="at most this long for a tab's background work to finish")
    ap.add_argument("--only", nargs="+", default=[], help="grab only tabs whose file name contains one of these words")
    ap.add_argument("--full-colour", action="store_true", help="keep 24-bit PNGs (larger)")
    args = ap.parse_args()

    import genstudio.ui  # noqa: F401
    from PIL import Image
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QTabWidget

    from genstudio.ui.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gs-tabs-"))
    w = MainWindow(settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat), runs_root=tmp / "runs")
    w.show()

    def pump(seconds: float, until=None) -> None:
        end = time.time() + seconds
        while time.time() < end and not (until and until()):
            app.processEvents()
            time.sleep(0.01)

    pump(60, w.dataset_panel.is_usable)
    pump(1.0)
    screen = app.primaryScreen()
    print(f"screen {screen.size().width()}x{screen.size().height()}, window {w.frameGeometry().width()}x{w.frameGeometry().height()}, platform {app.platformName()}")

    from genstudio.ui.panels.jobs import PanelJob

    def jobs_done() -> bool:
        # A job on a thread of its own (a GAN sandbox, a paused generation) waits for the user: not waited for.
        return not any(j.busy() and j._state is not None and not _own_thread(j) for j in w.findChildren(PanelJob))

    def _own_thread(job) -> bool:
        return getattr(job.parent(), "sandbox_job", None) is job or type(job.parent()).__name__ == "GenerationTab"

    def grab(name: str) -> None:
        if args.only and not any(word in name for word in args.only):
            return
        pump(args.settle_max, jobs_done)
        pump(0.3)
        g = w.frameGeometry()
        shot = screen.grabWindow(0, g.x(), g.y(), g.width(), g.height())
        if shot.isNull() or app.platformName() == "offscreen":
            shot = w.grab()
        path = out / f"{name}.png"
        shot.save(str(path))
        if not args.full_colour:
            Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        print(f"  {path} ({path.stat().st_size // 1024} KiB)")

    for run in args.runs:
        run = Path(run)
        if not w.open_run(run):
            print(f"{run}: could not be opened", file=sys.stderr)
            continue
        model = slug(str(w.shown_meta.get("config", {}).get("run", {}).get("model", run.name)) or run.name)
        print(run, "->", model)
        tabs = w.training_view.tabs
        for i in range(tabs.count()):
            tabs.setCurrentIndex(i)
            pump(args.settle)
            inner = [t for t in tabs.widget(i).findChildren(QTabWidget) if t.isVisible()]
            if not inner:
                grab(f"{model}-{slug(tabs.tabText(i))}")
                continue
            for sub in inner[:1]:
                for j in range(sub.count()):
                    if not sub.isTabVisible(j):
                        continue  # hidden for this model: the user never sees it
                    sub.setCurrentIndex(j)
                    pump(args.settle)
                    grab(f"{model}-{slug(tabs.tabText(i))}-{slug(sub.tabText(j))}")
    w.close()
    pump(5, lambda: not w.isVisible())
    return 0


if __name__ == "__main__":
    sys.exit(main())
