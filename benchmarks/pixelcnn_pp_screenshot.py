"""Screenshot of the Autoregressive panel on a pixelcnn++ run: the distribution under the cursor as a mixture.

Opens the panel offscreen on a run folder (a ``pixelcnn++`` on ``mnist5k``
trained with the CLI), draws four samples down to the middle row, hovers the
next pixel of one of them (its mixture's components and their sum), and grabs
resources/screenshots/autoregressive-pixelcnn-pp-mixture.png; then the
receptive field of a pixel in the lower middle
(resources/screenshots/autoregressive-pixelcnn-pp-receptive-field.png).
Prints the exact validation bits/dim the panel shows.

    .venv/bin/genstudio train --model pixelcnn++ --dataset mnist5k --out /tmp/pp_run
    .venv/bin/python benchmarks/pixelcnn_pp_screenshot.py /tmp/pp_run
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"


def wait(app, cond, seconds: float = 1200) -> None:
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not cond():
        raise TimeoutError("the panel did not finish in time")


def settle(app, ms: int = 300) -> None:
    end = time.time() + ms / 1000
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="a pixelcnn++ run folder")
    ap.add_argument("--rows", type=int, default=14, help="rows to draw before hovering")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from PySide6.QtWidgets import QApplication

    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.autoregressive.panel import AutoregressivePanel

    app = QApplication.instance() or QApplication([])
    OUT.mkdir(parents=True, exist_ok=True)
    panel = AutoregressivePanel(PanelContext(run_dir=args.run, capabilities=["Autoregressive", "Likelihood"]))
    panel.resize(1366, 768)
    panel.show()
    wait(app, lambda: panel.model is not None)
    model = panel.model
    print("checkpoint step", panel.loaded.step, "· validation", panel.loaded.nll)

    gen = panel.generation
    gen.n_spin.setValue(4)
    gen.seed_spin.setValue(2)
    upto = args.rows * model.width + model.width // 2
    gen.new_run()
    gen.task.request(upto)
    wait(app, lambda: gen.frame is not None and gen.frame.index >= upto)
    _, i, j = gen.stepper.next_positions()[0]
    gen.show_distribution(1, i, j)
    settle(app)
    path = OUT / "autoregressive-pixelcnn-pp-mixture.png"
    panel.grab().save(str(path))
    print("wrote", path, "·", gen.dist_label.text())

    panel.tabs.setCurrentWidget(panel.receptive)
    rf_tab = panel.receptive
    target_row = (2 * model.height) // 3
    rf_tab.example_spin.setValue(1)
    rf_tab.set_target(0, target_row, model.width // 2)
    wait(app, lambda: rf_tab.rf is not None and rf_tab.rf.target[1] == target_row)
    settle(app)
    path = OUT / "autoregressive-pixelcnn-pp-receptive-field.png"
    panel.grab().save(str(path))
    print("wrote", path, "·", rf_tab.rf.summary())
    panel.shutdown()


if __name__ == "__main__":
    main()
