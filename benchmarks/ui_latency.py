"""Studio responsiveness while a model trains, and training speed with the window open.

Measures, in one run on this machine:

1. event-loop latency: a 20 ms QTimer records how late each tick fires while
   DDPM trains on mnist5k in the window (offscreen); p50 / p95 / worst;
2. steps per second of that run against ``genstudio train`` of the same
   config in a subprocess (ratio; alternated to share background noise), once
   with the default thread policy (CLI: all cores, studio: one fewer) and
   once with ``threads`` pinned to the same number in both;
3. curve redraw time with 100,000 points per curve (see ui_redraw.py).

Writes benchmarks/results/ui.json. Run: ``python benchmarks/ui_latency.py [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ui.json"


def machine() -> dict:
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "qt_platform": os.environ.get("QT_QPA_PLATFORM"),
    }


def steps_per_s(run_dir: Path, skip_first: int = 1) -> float:
    """Training speed from metrics.jsonl: steps over training seconds, the first log interval left out (warm-up)."""
    recs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    recs = [r for r in recs if r.get("split") == "train"]
    if len(recs) <= skip_first + 1:
        return float("nan")
    a, b = recs[skip_first], recs[-1]
    return (b["step"] - a["step"]) / max(b["elapsed_s"] - a["elapsed_s"], 1e-9)


def run_cli(out: Path, steps: int, sets: list[str]) -> float:
    cmd = [sys.executable, "-m", "genstudio.cli", "train", "--model", "ddpm", "--dataset", "mnist5k", "--steps", str(steps), "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return steps_per_s(out)


def run_window(app, out_root: Path, steps: int, run_over: dict, seconds: float) -> dict:
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    from genstudio.ui.main_window import MainWindow

    settings = QSettings(str(out_root / "settings.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, runs_root=out_root / "runs")
    w.show()
    w.dataset_panel.select("mnist5k")
    w.model_panel.select("ddpm")
    w.model_panel.run_form.set_values(run_over | {"steps": steps})
    t0 = time.time()
    while not w.dataset_panel.is_usable():
        app.processEvents()
        time.sleep(0.01)
        if time.time() - t0 > 120:
            raise RuntimeError(f"dataset did not load: {w.dataset_panel.error}")
    assert w.start_training(), w.train_blockers()
    while w.session is not None and w.session.run_started is None:
        app.processEvents()
        time.sleep(0.005)

    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    interval_ms = 20

    def tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - interval_ms))
        last[0] = now

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    timer.start()
    end = time.time() + seconds
    previews_before = len(w.training_view.samples.frames)
    while time.time() < end and w.session is not None:
        app.processEvents()
        time.sleep(0.001)  # an idle event loop sleeps; this stands in for exec()'s wait
    timer.stop()
    previews = len(w.training_view.samples.frames) - previews_before
    run_dir = w.shown_run
    step = w.session.step if w.session else None
    w.stop_training()
    while w.session is not None:
        app.processEvents()
        time.sleep(0.01)
    w.close()
    lat = np.array(lateness)
    return {
        "ticks": int(len(lat)),
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p95": float(np.percentile(lat, 95)),
        "latency_ms_max": float(lat.max()),
        "previews_shown": previews,
        "steps_reached": step,
        "steps_per_s": steps_per_s(run_dir),
        "threads": int(json.loads((run_dir / "meta.json").read_text()).get("threads", 0)),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0, help="seconds of training measured in the window")
    ap.add_argument("--cli-steps", type=int, default=120)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()

    import genstudio.ui  # noqa: F401
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    # Frequent previews so their drawing is inside the measurement; no checkpoints mid-way.
    run_over = {"batch_size": args.batch_size, "log_every": 5, "preview_every_s": 10.0, "sample_every": 0, "checkpoint_every": 0, "eval_every": 0}
    sets = [f"run.{k}={v}" for k, v in run_over.items()]
    steps_window = 100_000  # stopped by time

    results: dict = {"machine": machine(), "config": {"model": "ddpm", "dataset": "mnist5k", **run_over}}

    print("1/4 window, default threads (studio: cores-1)…", flush=True)
    win_default = run_window(app, tmp / "w1", steps_window, run_over, args.seconds)
    print("   ", win_default, flush=True)
    print("2/4 genstudio train, default threads (all cores)…", flush=True)
    cli_default = run_cli(tmp / "c1", args.cli_steps, sets)
    print("    steps/s", cli_default, flush=True)
    threads = win_default["threads"]
    print(f"3/4 genstudio train, threads={threads}…", flush=True)
    cli_pinned = run_cli(tmp / "c2", args.cli_steps, sets + [f"run.threads={threads}"])
    print("    steps/s", cli_pinned, flush=True)
    print(f"4/4 window, threads={threads} (same config as 3)…", flush=True)
    win_pinned = run_window(app, tmp / "w2", steps_window, run_over | {"threads": threads}, min(args.seconds, 40))
    print("   ", win_pinned, flush=True)

    results["event_loop_latency"] = {
        "p50_ms": win_default["latency_ms_p50"],
        "p95_ms": win_default["latency_ms_p95"],
        "max_ms": win_default["latency_ms_max"],
        "ticks": win_default["ticks"],
        "previews_shown": win_default["previews_shown"],
        "target": "p95 < 50 ms, worst < 250 ms",
        "pass": win_default["latency_ms_p95"] < 50 and win_default["latency_ms_max"] < 250,
    }
    results["steps_per_s"] = {
        "window_default_threads": win_default["steps_per_s"],
        "cli_default_threads": cli_default,
        "ratio_default_threads": win_default["steps_per_s"] / cli_default,
        "window_threads": win_pinned["threads"],
        "window_same_threads": win_pinned["steps_per_s"],
        "cli_same_threads": cli_pinned,
        "ratio_same_threads": win_pinned["steps_per_s"] / cli_pinned,
        "second_window_latency_p95_ms": win_pinned["latency_ms_p95"],
        "target": "ratio >= 0.9",
    }
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    old.update(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
