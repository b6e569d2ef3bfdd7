"""Screenshot of the Autoregressive panel on a pixelcnn++ run: the distribution under the cursor as a mixture.

Opens the panel offscreen on a run folder (a ``pixelcnn++`` on ``mnist5k``
trained with the CLI), draws four samples down to the middle row, hovers the
most uncertain drawn pixel of the last rows (its mixture's components and their sum), and grabs
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
    # Hover the drawn pixel of the last rows whose distribution is the most uncertain (a stroke's edge, where
    # several components share the mass), rather than a background pixel with all its mass in bin 0.
    _, i_next, _ = gen.stepper.next_positions()[0]
    best = (-1.0, 0, i_next, 0)
    for i in range(max(0, i_next - 3), i_next):
        for j in range(model.width):
            probs = model.pixel_distribution(gen.frame.data, i, j).double()
            entropies = -(probs * probs.clamp_min(1e-30).log()).sum(-1)
            entropy, k = float(entropies.max()), int(entropies.argmax())
            best = max(best, (entropy, k, i, j))
    _, k, i, j = best
    gen.show_distribution(k, i, j)
    settle(app)
    path = OUT / "autoregressive-pixelcnn-pp-mixture.png"
    panel.grab().save(str(path))
    print("wrote", path, "·", gen.dist_label.text())

    panel.tabs.setCurrentWidget(panel.receptive)
    rf_tab = panel.receptive
    target_row = (2 * model.height) // 3
    done: list[tuple] = []
    rf_tab.computed.connect(lambda: done.append(rf_tab.rf.target))
    rf_tab.example_spin.setValue(1)  # one computation for the old target, then ours
    wait(app, lambda: bool(done))
    rf_tab.set_target(0, target_row, model.width // 2)
    wait(app, lambda: done[-1] == (0, target_row, model.width // 2))
    settle(app, 1000)
    path = OUT / "autoregressive-pixelcnn-pp-receptive-field.png"
    panel.grab().save(str(path))
    print("wrote", path, "·", rf_tab.rf.summary())
    panel.shutdown()


if __name__ == "__main__":
    main()
