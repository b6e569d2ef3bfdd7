"""Studio responsiveness while a model trains, and training speed with the window open.

Measures, in one run on this machine:

1. event-loop latency: a 20 ms QTimer records how late each tick fires while
   DDPM trains on mnist5k in the window (offscreen); p50 / p95 / worst, and the
   collections of Python's cycle collector, which run on the GUI thread (gui_thread_gc.py);
2. steps per second of that run against ``genstudio train`` of the same
   config in a subprocess (ratio; alternated to share background noise), once
   with the default thread policy (CLI: all cores, studio: one fewer) and
   once with ``threads`` pinned to the same number in both;
3. curve redraw time with 100,000 points per curve (see ui_redraw.py);
4. event-loop latency while the GAN tab's sandbox plays at full speed (8 steps
   per 16 ms tick), for the 2-D ``gan`` on 8gaussians and ``dcgan`` on mnist5k,
   each twice in one run and alternated: stepping on the GUI thread (the old
   path, ``GanViewPanel.step_on_gui_thread``, kept for this comparison) and on
   the sandbox's worker thread (the studio's path).

Writes benchmarks/results/ui.json. Run: ``python benchmarks/ui_latency.py [--seconds 60]``;
``--gan-only`` measures and merges only part 4.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from bench_common import machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ui.json"


def machine() -> dict:
    return {**machine_info(), "qt_platform": os.environ.get("QT_QPA_PLATFORM")}


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


def _make_window(app, out_root: Path, run_over: dict, steps: int):
    from PySide6.QtCore import QSettings

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
    return w


def _pump_until(app, cond, timeout: float) -> None:
    """Run the real event loop (as app.exec() would: blocked, GIL released, when idle) until cond() or timeout."""
    from PySide6.QtCore import QEventLoop, QTimer

    if cond():
        return
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(50)
    check.timeout.connect(lambda: cond() and loop.quit())
    check.start()
    QTimer.singleShot(int(timeout * 1000), loop.quit)
    loop.exec()
    check.stop()


def _close(app, w) -> None:
    w.stop_training()
    _pump_until(app, lambda: w.session is None, 600)
    w.close()


def window_latency(app, out_root: Path, run_over: dict, seconds: float) -> dict:
    """Train in the window for ``seconds`` while a 20 ms timer measures its own lateness."""
    from PySide6.QtCore import QElapsedTimer, QTimer

    w = _make_window(app, out_root, run_over, 1_000_000)
    assert w.start_training(), w.train_blockers()
    _pump_until(app, lambda: w.session is None or w.session.run_started is not None, 300)
    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]
    interval_ms = 20

    late: list[dict] = []  # what happened around each tick later than 50 ms
    events: list[tuple[float, str]] = []
    s = w.session
    s.metrics.connect(lambda m: events.append((clock.elapsed() / 1000, f"metrics@{m[-1].step}")))
    s.preview.connect(lambda p: events.append((clock.elapsed() / 1000, f"preview@{p.step}")))

    def tick() -> None:
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last[0]) / 1e6 - interval_ms))
        if lateness[-1] > 50:
            t = now / 1e9
            near = [name for te, name in events if t - 1.0 <= te <= t]
            late.append({"t_s": round(t, 2), "late_ms": round(lateness[-1], 1), "events_in_last_s": near})
        last[0] = now

    timer = QTimer()
    timer.setInterval(interval_ms)
    timer.timeout.connect(tick)
    from genstudio.ui import gui_thread_gc

    collector = gui_thread_gc.installed()  # the window installed it: Python's cycles are collected on this thread
    collector.longest_ms, collections0 = 0.0, list(collector.collections)
    timer.start()
    frames0 = len(w.training_view.samples.frames)
    _pump_until(app, lambda: w.session is None, seconds)
    timer.stop()
    gc_on_gui = {"collections_per_generation": [a - b for a, b in zip(collector.collections, collections0)], "longest_ms": round(collector.longest_ms, 2)}
    step = w.session.step if w.session else None
    frames = len(w.training_view.samples.frames) - frames0
    _close(app, w)
    lat = np.array(lateness)
    return {
        "ticks": int(len(lat)),
        "p50_ms": float(np.percentile(lat, 50)),
        "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()),
        "previews_shown": frames,
        "steps_reached": step,
        "seconds": seconds,
        "late_ticks": late,
        "gc_on_gui_thread": gc_on_gui,
    }


class LatenessProbe:
    """A 20 ms QTimer that records how late each of its ticks fires (the event loop's latency)."""

    INTERVAL_MS = 20

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.lateness: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setInterval(self.INTERVAL_MS)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        lat = np.array(self.lateness)
        return {"ticks": int(len(lat)), "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)), "max_ms": float(lat.max())}

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.lateness.append(max(0.0, (now - self.last) / 1e6 - self.INTERVAL_MS))
        self.last = now


#: The GAN sandbox's cases: (model, dataset, data options); default model and run settings otherwise.
GAN_CASES = (("gan", "8gaussians", {}), ("dcgan", "mnist5k", {}))


def gan_checkpoint(out_root: Path, model: str, dataset: str, data: dict) -> Path:
    """A short run of ``model`` at its default size, for the sandbox to load (its final checkpoint)."""
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    over = {"steps": 10, "log_every": 5, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0}
    out = out_root / f"gan-{model}"
    events = list(train(RunSpec.create(model, dataset, over, {}, data), out))
    if events[-1].status != "completed":
        raise RuntimeError(f"the {model} run for the sandbox failed: {events[-1].message}")
    return out


def gan_sandbox_latency(app, run_dir: Path, synchronous: bool, seconds: float) -> dict:
    """Play the GAN tab's sandbox at full speed for ``seconds`` while a 20 ms timer measures its lateness."""
    from genstudio.core.runs import RunFolder
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.gan.panel import GanViewPanel

    meta = RunFolder(run_dir).meta
    panel = GanViewPanel(PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
    panel.step_on_gui_thread = synchronous  # the old path: steps inside the GUI thread's timer tick
    panel.resize(1200, 700)
    panel.show()
    _pump_until(app, lambda: panel.data is not None, 300)
    shown = [0]
    panel.stepped.connect(lambda _n: shown.__setitem__(0, shown[0] + 1))
    panel.speed.setValue(panel.speed.maximum())  # 8 steps per 16 ms tick
    probe = LatenessProbe()
    steps0, t0 = panel.sandbox_steps, time.perf_counter()
    panel.play.setChecked(True)
    probe.start()
    _pump_until(app, lambda: False, seconds)
    lat = probe.stop()
    elapsed = time.perf_counter() - t0
    panel.play.setChecked(False)
    _pump_until(app, panel.idle, 60)
    steps = panel.sandbox_steps - steps0
    draws = np.array(panel.draw_costs_ms() or [np.nan])  # the worker path only: the UI thread's time per view drawn
    out = {
        **lat,
        "stepping": "GUI thread (before)" if synchronous else "worker thread (after)",
        "sandbox_steps_per_s": steps / elapsed,
        "views_shown_per_s": shown[0] / elapsed,
        "step_ms": panel.last_step_ms,
        "snapshot_ms": panel.last_snapshot_ms,
        "draw_ms_median": float(np.median(draws)) if not synchronous else None,
        "draw_ms_max": float(np.max(draws)) if not synchronous else None,
        "seconds": seconds,
    }
    panel.close()  # stops the worker's thread
    panel.deleteLater()
    return out


def gan_sandbox_cases(app, out_root: Path, seconds: float) -> dict:
    """Each GAN case with the old synchronous path and the worker thread, alternated in one run."""
    from genstudio.core.device import configure_threads

    threads = configure_threads(gui=True)  # as the studio sets torch's threads
    start = os.getloadavg()
    rows = []
    for model, dataset, data in GAN_CASES:
        print(f"    {model} on {dataset}: a short run for the sandbox…", flush=True)
        run_dir = gan_checkpoint(out_root, model, dataset, data)
        for synchronous in (True, False):
            row = {"model": model, "dataset": dataset, **gan_sandbox_latency(app, run_dir, synchronous, seconds)}
            row["pass"] = row["p95_ms"] < 50 and row["max_ms"] < 250
            print("   ", row, flush=True)
            rows.append(row)
    return {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "torch_threads": threads,
        "load_average_at_start": start,
        "load_average_at_end": os.getloadavg(),
        "shared_machine": "other jobs ran on the machine while measuring (the load averages say how busy it was)",
        "play_speed": "8 steps per 16 ms tick (the speed slider's maximum, up to 500 steps/s)",
        "target": "p95 < 50 ms, worst < 250 ms",
        "rows": rows,
    }


def window_speed(app, out_root: Path, run_over: dict, steps: int) -> tuple[float, int]:
    """Train ``steps`` to completion in the window; steps/s from its metrics.jsonl."""
    w = _make_window(app, out_root, run_over, steps)
    assert w.start_training(), w.train_blockers()
    _pump_until(app, lambda: w.session is None, 3600)
    run_dir = w.shown_run
    w.close()
    return steps_per_s(run_dir), int(json.loads((run_dir / "meta.json").read_text()).get("threads", 0))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=45.0, help="seconds of training measured in the window")
    ap.add_argument("--steps", type=int, default=30, help="steps of each speed run (window and CLI)")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--pairs", type=int, default=3, help="alternated window / CLI speed runs")
    ap.add_argument("--latency-only", action="store_true", help="measure only the event-loop latency (prints, writes nothing)")
    ap.add_argument("--speed-only", action="store_true", help="measure only the speed pairs (prints, writes nothing)")
    ap.add_argument("--gan-seconds", type=float, default=20.0, help="seconds of each GAN sandbox case")
    ap.add_argument("--gan-only", action="store_true", help="measure only the GAN sandbox cases and merge them into ui.json")
    args = ap.parse_args()

    import genstudio.ui  # noqa: F401
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    # The user's case for latency: default batch, a preview every 10 s so its drawing is measured.
    lat_over = {"log_every": 2, "preview_every_s": 10.0, "sample_every": 0, "checkpoint_every": 0, "eval_every": 0}
    # Speed: the same small config on both sides, no previews or checkpoints mid-way.
    speed_over = {"batch_size": args.batch_size, "log_every": 2, "preview_every_s": 0.0, "sample_every": 0, "checkpoint_every": 0, "eval_every": 0}
    sets = [f"run.{k}={v}" for k, v in speed_over.items()]
    results: dict = {"machine": machine(), "load_average_at_start": os.getloadavg()}

    if args.gan_only:
        print("event-loop latency while the GAN sandbox plays…", flush=True)
        save({"gan_sandbox_latency": gan_sandbox_cases(app, tmp, args.gan_seconds)})
        return 0
    if args.speed_only:
        lat = None
    else:
        print("1/5 event-loop latency in the window…", flush=True)
        lat = window_latency(app, tmp / "w1", lat_over, args.seconds)
        print("   ", lat, flush=True)
    if args.latency_only:
        return 0
    # Alternate window and CLI runs so that the load of this shared machine falls on both alike.
    win_runs, cli_runs = [], []
    threads = 1
    for k in range(args.pairs):
        print(f"2/5 pair {k + 1}/{args.pairs}: window speed (studio threads)…", flush=True)
        sps, threads = window_speed(app, tmp / f"w2-{k}", speed_over, args.steps)
        win_runs.append(sps)
        print("    steps/s", sps, "threads", threads, flush=True)
        print(f"3/5 pair {k + 1}/{args.pairs}: genstudio train, threads={threads}…", flush=True)
        cli_runs.append(run_cli(tmp / f"c1-{k}", args.steps, sets + [f"run.threads={threads}"]))
        print("    steps/s", cli_runs[-1], flush=True)
    win_sps, cli_same = float(np.median(win_runs)), float(np.median(cli_runs))
    print("4/5 genstudio train, default threads (all cores)…", flush=True)
    if args.speed_only:
        print("median ratio", win_sps / cli_same, [w / c for w, c in zip(win_runs, cli_runs)])
        return 0
    cli_default = run_cli(tmp / "c2", args.steps, sets)
    print("    steps/s", cli_default, flush=True)

    results["event_loop_latency"] = {
        **lat,
        "config": {"model": "ddpm", "dataset": "mnist5k", **lat_over},
        "target": "p95 < 50 ms, worst < 250 ms",
        "pass": lat["p95_ms"] < 50 and lat["max_ms"] < 250,
    }
    results["steps_per_s"] = {
        "config": {"model": "ddpm", "dataset": "mnist5k", "steps": args.steps, **speed_over},
        "window_runs": win_runs,
        "cli_runs": cli_runs,
        "pair_ratios": [w / c for w, c in zip(win_runs, cli_runs)],
        "window": win_sps,
        "window_threads": threads,
        "cli_same_threads": cli_same,
        "ratio_window_over_cli_same_threads": float(np.median([w / c for w, c in zip(win_runs, cli_runs)])),  # median of the pairs
        "cli_default_threads": cli_default,
        "ratio_window_over_cli_default_threads": win_sps / cli_default,
        "target": "ratio >= 0.9",
    }
    results["load_average_at_end"] = os.getloadavg()
    print("5/5 event-loop latency while the GAN sandbox plays…", flush=True)
    results["gan_sandbox_latency"] = gan_sandbox_cases(app, tmp, args.gan_seconds)
    save(results)
    return 0


def save(results: dict) -> None:
    """Merge ``results`` into results/ui.json (the sections measured by other runs are kept)."""
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    old.update(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
