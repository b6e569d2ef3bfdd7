"""Screenshots of the Autoregressive panel on a real run, and the numbers beside them (for the README).

Opens the panel offscreen on a run folder (a ``gated-pixelcnn`` on
``mnist5k`` trained with the CLI) and does what a user would do first:

- Generation: one sample per class, stepped half-way through the image
  (392 of 784 pixels), with the distribution of the next pixel of one sample;
- Receptive field: the gradient map of a pixel in the lower middle;
- Completion: four validation digits with the bottom half hidden, four
  completions each.

With ``--pixelcnn-run`` also the receptive field of a plain PixelCNN (the
blind spot), and with ``--made-run`` the MADE mask matrices. ``--causal-only`` grabs
only the Causal masks tab of the run (and of ``--pixelcnn-run``): the masked kernels
and the receptive field layer by layer, which need no training to be right, and
writes no numbers. Prints the
exact validation NLL (nats and bits/dim) and the sampling speed with and
without the row cache as the panel measures them, and writes
benchmarks/results/autoregressive_panel.json.

    .venv/bin/genstudio train --model gated-pixelcnn --dataset mnist5k --steps 400 --out /tmp/ar_run
    .venv/bin/python benchmarks/autoregressive_screenshots.py /tmp/ar_run [--pixelcnn-run DIR] [--made-run DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "resources" / "screenshots"
RESULTS = ROOT / "benchmarks" / "results" / "autoregressive_panel.json"


def wait(app, cond, seconds: float = 600) -> None:
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not cond():
        raise TimeoutError("the panel did not finish in time")


def open_panel(app, run_dir: Path):
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.autoregressive.panel import AutoregressivePanel

    panel = AutoregressivePanel(PanelContext(run_dir=run_dir, capabilities=["Autoregressive", "Likelihood"]))
    panel.resize(1180, 760)
    panel.show()
    wait(app, lambda: panel.model is not None)
    return panel


def settle(app, ms: int = 300) -> None:
    end = time.time() + ms / 1000
    while time.time() < end:
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path, help="a gated-pixelcnn (or pixelcnn) run folder on mnist5k")
    ap.add_argument("--pixelcnn-run", type=Path)
    ap.add_argument("--made-run", type=Path)
    ap.add_argument("--prefix", default="autoregressive")
    ap.add_argument("--causal-only", action="store_true", help="only the Causal masks tab of the run(s); no numbers written")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    OUT.mkdir(parents=True, exist_ok=True)
    if args.causal_only:
        for run, name in ((args.run, "causal-masks"), (args.pixelcnn_run, "pixelcnn-causal-masks")):
            if run is None:
                continue
            p = open_panel(app, run)
            p.tabs.setCurrentWidget(p.causal)
            wait(app, lambda: bool(p.causal.fields))
            settle(app)
            path = OUT / f"{args.prefix}-{name}.png"
            p.grab().save(str(path))
            print("wrote", path, "·", p.causal.summary.text())
            p.shutdown()
        return
    panel = open_panel(app, args.run)
    model = panel.model
    results: dict = {"run": str(args.run), "model": type(model).__name__, "checkpoint_step": panel.loaded.step,
                     "torch_threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
                     "nll_nats": panel.loaded.nll["nll"], "bits_per_dim": panel.loaded.nll["bpd"],
                     "nll_examples": int(panel.loaded.nll["n"])}

    # Speed, as the panel measures it (one sample, about a second per path).
    panel.measure_speed()
    wait(app, lambda: bool(panel.speed))
    results["pixels_per_s_cached"] = panel.speed["cached"]
    results["pixels_per_s_naive"] = panel.speed.get("naive")

    # Generation half-way: one digit per class, 392 of 784 pixels, hovering the next pixel.
    gen = panel.generation
    gen.n_spin.setValue(10)
    if gen.class_combo.count():
        gen.class_combo.setCurrentIndex(gen.class_combo.findData("cycle"))
    gen.seed_spin.setValue(1)
    half = model.height * model.width // 2
    gen.new_run()
    gen.task.request(half)
    wait(app, lambda: gen.frame is not None and gen.frame.index >= half)
    _, i, j = gen.stepper.next_positions()[0]
    gen.show_distribution(3, i, j)
    settle(app)
    path = OUT / f"{args.prefix}-generation.png"
    panel.grab().save(str(path))
    print("wrote", path)

    # Receptive field of a pixel in the lower middle, gradient view.
    panel.tabs.setCurrentWidget(panel.receptive)
    rf_tab = panel.receptive
    done = []
    rf_tab.computed.connect(lambda: done.append(1))
    rf_tab.example_spin.setValue(3)
    rf_tab.set_target(0, (2 * model.height) // 3, model.width // 2)
    wait(app, lambda: len(done) >= 1 and rf_tab.rf is not None and rf_tab.rf.target[1] == (2 * model.height) // 3)
    settle(app)
    path = OUT / f"{args.prefix}-receptive-field.png"
    panel.grab().save(str(path))
    print("wrote", path, "·", rf_tab.rf.summary())
    results["receptive_field"] = rf_tab.rf.summary()

    # Completion: bottom half of four digits, four completions each.
    panel.tabs.setCurrentWidget(panel.completion)
    comp = panel.completion
    comp.first_spin.setValue(0)
    comp.count_spin.setValue(4)
    comp.per_spin.setValue(4)
    comp.preset_combo.setCurrentText("bottom half")
    t0 = time.perf_counter()
    comp.run()
    wait(app, lambda: comp.result is not None)
    results["completion_s"] = time.perf_counter() - t0
    settle(app)
    path = OUT / f"{args.prefix}-completion.png"
    panel.grab().save(str(path))
    print("wrote", path)
    panel.shutdown()

    if args.pixelcnn_run:
        p = open_panel(app, args.pixelcnn_run)
        p.tabs.setCurrentWidget(p.receptive)
        p.receptive.mode_combo.setCurrentIndex(1)
        p.receptive.set_target(0, (2 * p.model.height) // 3, p.model.width // 2)
        wait(app, lambda: p.receptive.rf is not None and p.receptive.rf.target[1] == (2 * p.model.height) // 3)
        settle(app)
        path = OUT / f"{args.prefix}-pixelcnn-blind-spot.png"
        p.grab().save(str(path))
        print("wrote", path, "·", p.receptive.rf.summary())
        results["pixelcnn_receptive_field"] = p.receptive.rf.summary()
        p.shutdown()
    if args.made_run:
        p = open_panel(app, args.made_run)
        p.tabs.setCurrentWidget(p.made)
        settle(app)
        path = OUT / f"{args.prefix}-made-masks.png"
        p.grab().save(str(path))
        print("wrote", path, "·", p.made.summary.text())
        p.shutdown()

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.is_file():  # keep what the optional runs measured last time when they are not given now
        earlier = json.loads(RESULTS.read_text())
        results = {**{k: v for k, v in earlier.items() if k.startswith(("pixelcnn_", "made_"))}, **results}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
