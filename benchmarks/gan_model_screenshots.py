"""Screenshots of the GAN tab for ``wgan`` (the critic's weights against the clip bounds) and ``sgan``
(the classifier's accuracy), on run folders trained with the CLI (for the README).

    .venv/bin/genstudio train --model wgan --dataset 8gaussians --out /tmp/gm/wgan-8g ...
    .venv/bin/genstudio train --model sgan --dataset mnist5k --out /tmp/gm/sgan-mnist ...
    .venv/bin/python benchmarks/gan_model_screenshots.py --run /tmp/gm/wgan-8g:gan-wgan-8gaussians --run ...

Each ``--run FOLDER:NAME`` is opened in the GAN tab (offscreen, 1300 x 760), given ``--steps`` sandbox
steps (Step both) so the views show the sandbox moving on, and written to resources/screenshots/NAME.png.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

OUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"


def wait(app, cond, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not cond():
        raise RuntimeError("the panel did not finish in time")


def shoot(app, run: Path, name: str, steps: int) -> None:
    from genstudio.core.runs import RunFolder
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.gan.panel import GanViewPanel

    meta = RunFolder(run).meta
    view = GanViewPanel(PanelContext(run, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
    view.resize(1300, 760)
    view.show()
    wait(app, lambda: view.data is not None)
    for _ in range(steps):
        view.step("both")
    wait(app, view.idle)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    path = OUT / f"{name}.png"
    view.grab().save(str(path))
    from PIL import Image

    # 256 colours, as the other committed screenshots: a third of the size, no visible change.
    Image.open(path).convert("RGB").quantize(colors=256).save(path, optimize=True)
    print(f"wrote {path}: {view.readout.text().splitlines()[:2]}")
    view.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, help="FOLDER:NAME, a run folder and the PNG's name")
    ap.add_argument("--steps", type=int, default=5, help="sandbox steps before the picture")
    args = ap.parse_args()
    from PySide6.QtWidgets import QApplication

    import genstudio.ui  # noqa: F401

    app = QApplication.instance() or QApplication([])
    for item in args.run:
        folder, _, name = item.rpartition(":")
        shoot(app, Path(folder), name, args.steps)


if __name__ == "__main__":
    main()
