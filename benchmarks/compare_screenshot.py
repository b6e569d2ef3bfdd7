"""Screenshots of the Compare runs view (for the README), from real short runs evaluated for real.

    python benchmarks/compare_screenshot.py --runs /tmp/cmpshots/runs --train --steps 300

With ``--train``, trains vae, ae, dcgan and ddpm on ``digits`` (missing runs
only), then evaluates every run through the view's own "Evaluate selected"
path, computes the DDPM's NFE-vs-quality sweep (cached in evals.jsonl, so a
second call only reads), and writes resources/screenshots/compare-runs.png
(table, grids side by side, curves overlaid) and compare-nfe.png. Prints
the table as CSV.

    python benchmarks/compare_screenshot.py --runs /tmp/ttq-runs --dataset mnist5k --name compare-mnist5k

shows the time-to-quality runs of one dataset instead (every family after 10
minutes), writing compare-mnist5k-runs.png and compare-mnist5k-nfe.png.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # a screenshot script needs no display

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("vae", "ae", "dcgan", "ddpm")


def train(runs: Path, steps: int) -> None:
    for m in MODELS:
        out = runs / f"{m}-digits"
        if (out / "meta.json").is_file():
            continue
        cmd = [sys.executable, "-m", "genstudio", "train", "--model", m, "--dataset", "digits", "--steps", str(steps), "--out", str(out),
               "--set", "eval_every=100", "--set", "sample_every=100"]  # fmt: skip
        subprocess.run(cmd, check=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=Path, required=True)
    ap.add_argument("--train", action="store_true")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n", type=int, default=500, help="samples per evaluation")
    ap.add_argument("--nfe", default="5, 10, 20, 50, 100")
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots")
    ap.add_argument("--dataset", default="", help="show only this dataset's runs (default: every run)")
    ap.add_argument("--name", default="compare", help="file name prefix of the two screenshots")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    if args.train:
        train(args.runs, args.steps)

    import genstudio.ui  # noqa: F401
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from genstudio.metrics import compare as cmp
    from genstudio.metrics import nfe_sweep
    from genstudio.ui.compare.view import CompareView
    from genstudio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication([])
    apply_theme(app, "light")
    v = CompareView([args.runs])
    v.resize(1500, 980)
    v.show()

    def wait_idle() -> None:
        while v.queue.busy():
            app.processEvents()
            time.sleep(0.02)

    v.n_spin.setValue(args.n)
    if args.dataset:
        v.set_default_dataset(args.dataset)
    todo = [r for r in v.visible_rows() if not [e for e in cmp.read_evals(r.path) if not cmp.is_sweep(e)]]
    if todo:
        v.select_paths([str(r.path) for r in todo])
        t0 = time.perf_counter()
        v.evaluate_selected()
        wait_idle()
        print(f"evaluated {len(todo)} runs in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    ddpm = next(r for r in v.visible_rows() if r.is_diffusion)
    v.select_paths([str(ddpm.path)])
    v.nfe.steps_edit.setText(args.nfe)
    missing = nfe_sweep.missing_steps(ddpm.path, nfe_sweep.parse_steps(args.nfe), v.nfe.checkpoint)
    if missing:
        t0 = time.perf_counter()
        v.compute_nfe(str(ddpm.path), missing, args.n)
        wait_idle()
        print(f"NFE sweep {missing} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if "failed" in v.status.text():
        print(v.status.text(), file=sys.stderr)
        return 1

    v.refresh()
    v.table.sortByColumn(v.column_index("metric:fid"), Qt.SortOrder.AscendingOrder)
    v.select_paths([str(r.path) for r in v.visible_rows()])
    # Each family's loss means something else; on a log axis their trends still compare.
    v.curves.metric.setCurrentIndex(max(0, v.curves.metric.findText("loss (train)")))
    v.curves.log_y.setChecked(True)
    v.splitter.setSizes([300, 680])
    v.lower.setSizes([700, 800])
    v.tabs.setCurrentWidget(v.curves)
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    args.out.mkdir(parents=True, exist_ok=True)
    v.grab().save(str(args.out / f"{args.name}-runs.png"))
    v.select_paths([str(ddpm.path)])
    v.tabs.setCurrentWidget(v.nfe)
    for _ in range(30):
        app.processEvents()
        time.sleep(0.02)
    v.grab().save(str(args.out / f"{args.name}-nfe.png"))
    header, body = cmp.csv_table(v.visible_rows(), v.visible_columns())
    print(",".join(header))
    for row in body:
        print(",".join(row))
    print(v.nfe.status.text())
    v.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
