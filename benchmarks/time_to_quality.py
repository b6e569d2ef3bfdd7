"""Time to quality: each family's default config, sample quality against wall-clock training time.

For each model, ``genstudio``'s engine trains the default config for
``--minutes`` (default previews, evaluations and thread count, as a user gets
them), saving a checkpoint about every ``minutes / points`` of training. Then,
outside the timed run, every checkpoint is scored with the in-training
quality tracker (genstudio/metrics/quality.py: FID and KID in the dataset
classifier's features for images, MMD^2 for points, at ``--n`` samples, with
the preview sampler, against the real data the model models: binarised for a
model of binarised images), so the curve's x axis is pure training time.
A 10-step probe sizes the checkpoint interval to the model's speed.

Writes benchmarks/results/time_to_quality.json (rows of models not run this
time are kept, so one model can be added or re-measured alone), one PNG plot
per dataset in benchmarks/results/, and prints a Markdown table of all rows.
2-D sets are scored at ``--n-points`` (default 2,000): at a few hundred points
MMD^2 cannot tell a trained model from real data. On ``8gaussians`` the modes
covered and the fraction of samples within 3 sigma of a mode are reported too.

``--preset`` trains with the model's packaged preset for the dataset
(``genstudio/resources/presets/<model>.toml``, its ``model`` table and its
``run`` table but ``steps``), the settings the studio offers for that data; the
row says so. A model built on another run (``vq-prior`` on a ``vq-vae``, see
``PREREQUISITES``) gets that run trained first with its own default settings
and steps, outside the timed minutes; its steps and wall time go in the row.
``--seed`` seeds weights, batches and noise (the row records it). The 1-minute
load average is sampled while the model trains (start, mean, max, end), since
other work on a shared machine slows the steps. After the last checkpoint is
scored, ``genstudio eval`` scores it at ``--eval-n`` (default 500; the model's
validation metrics such as bits/dim or accuracy over that many held-out
examples, and FID at that many samples; ``--eval-sampler`` / ``--eval-steps``
for diffusion models), the sample size the issues state their goals at. Then
each of the last three checkpoints is scored ``--spread-draws`` times (default
3) at that size with different sample seeds: the row keeps each checkpoint's
draws and the spread of their means, since one draw of a good model's FID
varies by more than the 20 % the issue allows between checkpoints.

Torch threads are fixed (``--threads``, default the studio's setting: one fewer
than the cores, at least 1) rather than load-dependent, so that the scoring of
one run does not change the thread count of the next.

Usage: python benchmarks/time_to_quality.py [--minutes 10] [--points 8] [--n 256]
       [--n-points 2000] [--threads N] [--runs vae:mnist5k,dcgan:mnist5k,...] [--out DIR]
       [--seed S] [--preset] [--eval-n 500] [--eval-sampler ddim --eval-steps 50]
       python benchmarks/time_to_quality.py --minutes 30 --points 12 --eval-at-minutes 10 --results benchmarks/results/time_to_quality_30min.json
       python benchmarks/time_to_quality.py --report     # redraw plots and table from the results file
       python benchmarks/time_to_quality.py --runs realnvp:mnist5k --set channels=64   # a variant, its own row
       python benchmarks/time_to_quality.py --out DIR --rescore --runs realnvp:mnist5k   # score kept runs again
       python benchmarks/time_to_quality.py --spread-only --runs gated-pixelcnn:mnist5k --seed 1   # the spread of a saved row
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import torch

from bench_common import machine_info, machine_line, save_results

from genstudio.core.device import cpu_count
from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec, split_overrides
from genstudio.core.registry import get_model_class
from genstudio.metrics.evaluate import evaluate_run
from genstudio.core.resources import resource_path
from genstudio.data.dataset import load_dataset
from genstudio.metrics.quality import QualityTracker

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "time_to_quality.json"
#: One default model per family on mnist5k, and the density and GAN models on a 2-D set.
DEFAULT_RUNS = "vae:mnist5k,dcgan:mnist5k,ddpm:mnist5k,realnvp:mnist5k,gated-pixelcnn:mnist5k,maf:8gaussians,gan:8gaussians"
#: Models built on another finished run: the config field that names it and the model trained for it first.
PREREQUISITES = {"vq-prior": ("codebook_run", "vq-vae")}
#: Run settings a preset may hold that the benchmark sets itself.
OWN_RUN_SETTINGS = ("steps", "max_minutes", "checkpoint_every", "keep_last", "checkpoint_every_minutes", "threads", "seed")
#: How many of a run's last checkpoints ``--spread-draws`` scores (issue 21: "the last three checkpoints within 20 %").
SPREAD_LAST = 3


def preset(model_id: str, dataset: str) -> tuple[dict, dict]:
    """The model and run overrides of the model's packaged preset for ``dataset`` (run settings the benchmark owns left out)."""
    path = resource_path("presets", f"{model_id}.toml")
    table = tomllib.loads(path.read_text()).get(dataset, {}) if path.is_file() else {}
    if not table:
        raise SystemExit(f"--preset: {model_id} has no preset for {dataset} ({path})")
    run = {k: v for k, v in table.get("run", {}).items() if k not in OWN_RUN_SETTINGS}
    return dict(table.get("model", {})), run


def parse_overrides(items: list[str]) -> dict:
    """``["channels=64", "blocks=2"]`` -> {"channels": 64, "blocks": 2} (values parsed as TOML, else kept as text)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--set needs KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def probe_speed(model_id: str, dataset: str, threads: int, overrides: dict | None = None, run_overrides: dict | None = None) -> float:
    """Steps per second of the config over 10 steps (after 2 warm-up steps)."""
    out = Path(tempfile.mkdtemp(prefix="gs-ttq-probe-"))
    try:
        run = {**(run_overrides or {}), "steps": 12, "threads": threads, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0,
               "checkpoint_every": 0}
        spec = RunSpec.create(model_id, dataset, run, overrides or {})
        t0 = None
        for ev in train(spec, out / "run"):
            if type(ev).__name__ == "Metrics" and ev.split == "train":
                if ev.step == 2:
                    t0 = time.perf_counter()
                elif ev.step == 12 and t0 is not None:
                    return 10 / (time.perf_counter() - t0)
        raise RuntimeError(f"probe of {model_id} did not finish")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def train_elapsed(run: RunFolder) -> dict[int, float]:
    """Training wall time at each logged step."""
    records, _ = run.read_metrics()
    return {int(r["step"]): float(r["elapsed_s"]) for r in records if r.get("split") == "train"}


def last_validation(run_dir: Path) -> dict | None:
    """The run's last validation record (bits/dim, ELBO, ...), so the documents can quote it from this file."""
    records, _ = RunFolder(run_dir).read_metrics()
    val = [r for r in records if r.get("split") == "val"]
    return val[-1] if val else None


def score_checkpoints(run_dir: Path, dataset: str, n: int, every: int = 1) -> list[dict]:
    """Quality of every ``every``-th checkpoint and of the last (a PixelCNN++ draws 256 digits in minutes on a busy CPU)."""
    run = RunFolder(run_dir)
    spec = run.spec()
    ds = load_dataset(dataset, spec.data)
    train_ds, val_ds = ds.split(spec.data.val_fraction, spec.data.seed)
    tracker = QualityTracker(dataset, train_ds, val_ds, n, torch.device("cpu"))
    features = None
    elapsed = train_elapsed(run)
    points = []
    steps = run.checkpoints()
    for step in [s for i, s in enumerate(steps, 1) if i % every == 0 or s == steps[-1]]:
        model, _, _ = load_run_model(run_dir, step, "cpu")
        features = features or tracker.prepare(model)  # the reference of the model's data (binarised or as loaded)
        t0 = time.perf_counter()
        q = tracker.measure(model)
        near = min(elapsed, key=lambda s: abs(s - step)) if elapsed else None
        points.append({"step": step, "train_s": elapsed.get(step, elapsed.get(near, math.nan)), "score_s": time.perf_counter() - t0, "features": features,
                       "reference_data": tracker.reference.data, **q})
        print(json.dumps(points[-1]), flush=True)
    return points


def chart_rows(results: list[dict], dataset: str) -> list[dict]:
    """The rows the chart draws: per model its default config's newest row (seed 0 where there is one).

    Variants, second seeds and older passes stay in the table; on one chart they made two dozen lines
    whose legend covered the plot.
    """
    def newest_seed0_first(r: dict) -> tuple[str, bool]:
        return r.get("date", ""), (r.get("seed") or 0) == 0

    best: dict[str, dict] = {}
    for r in results:
        if r["dataset"] == dataset and not r.get("variant") and r.get("points"):
            if r["model"] not in best or newest_seed0_first(r) > newest_seed0_first(best[r["model"]]):
                best[r["model"]] = r
    return sorted(best.values(), key=lambda r: r["model"])


def plot(results: list[dict], dataset: str, metric: str, path: Path) -> None:
    """One line per model (its default's newest row): metric against minutes of training, the floor dashed; the legend beside it."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import pyqtgraph as pg
    import pyqtgraph.exporters
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    pg.setConfigOptions(antialias=True, background="w", foreground="k")
    name = {"fid": "FID", "mmd2": "MMD²"}.get(metric, metric)
    w = pg.GraphicsLayoutWidget()
    w.resize(1000, 520)
    plot_item = w.addPlot(title=f"{name} on {dataset} against training time ({platform.machine()}, {cpu_count()} cores)")
    plot_item.setLabel("bottom", "training time (minutes)")
    plot_item.setLabel("left", name)
    log = metric == "fid"  # MMD^2 is unbiased: near the floor it is noise around 0, negative values included
    plot_item.setLogMode(y=log)
    legend = pg.LegendItem(pen=pg.mkPen("#bbb"), brush=pg.mkBrush(255, 255, 255))
    w.addItem(legend)
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#aec7e8"]
    floors: dict[str, float] = {}  # one floor per reference (grey and binarised real data differ)
    for i, r in enumerate(chart_rows(results, dataset)):
        pts = [p for p in r["points"] if metric in p and math.isfinite(p[metric]) and (p[metric] > 0 or not log)]
        if not pts:
            continue
        colour = colours[i % len(colours)]
        curve = plot_item.plot([p["train_s"] / 60 for p in pts], [p[metric] for p in pts], pen=pg.mkPen(colour, width=2), symbol="o",
                               symbolSize=6, symbolBrush=colour)
        seed = f", seed {r['seed']}" if r.get("seed") else ""
        legend.addItem(curve, f"{r['model']} ({r.get('date', '')}{seed})")
        if f"{metric}_floor" in pts[-1]:
            floors[pts[-1].get("reference_data", "as loaded")] = pts[-1][f"{metric}_floor"]
    styles = [pg.QtCore.Qt.PenStyle.DashLine, pg.QtCore.Qt.PenStyle.DotLine]
    for j, (data, floor) in enumerate(sorted(floors.items())):
        if floor > 0 or not log:
            pen = pg.mkPen("#555", width=1, style=styles[j % len(styles)])
            plot_item.addLine(y=math.log10(floor) if log else floor, pen=pen)
            what = "" if len(floors) == 1 else f", {data}"
            legend.addItem(pg.PlotDataItem(pen=pen), f"floor (real vs real{what}) {floor:.3g}")
    # The plot, not the legend, takes the spare width.
    w.ci.layout.setColumnStretchFactor(0, 1)
    w.ci.layout.setColumnStretchFactor(1, 0)
    w.ci.layout.setColumnMaximumWidth(1, legend.layout.preferredWidth() + 10)
    # ... and a short legend keeps its own height at the top instead of spreading its entries down the column.
    legend.setMaximumHeight(legend.layout.preferredHeight() + 10)
    w.ci.layout.setAlignment(legend, pg.QtCore.Qt.AlignmentFlag.AlignTop)
    w.show()  # (offscreen) so the layout places the columns before the export
    app.processEvents()
    exporter = pg.exporters.ImageExporter(w.scene())
    exporter.parameters()["width"] = 1000
    exporter.export(str(path))


def train_prerequisite(model_id: str, dataset: str, root: Path, args: argparse.Namespace) -> dict:
    """Trains the run ``model_id`` is built on (its model's default settings and steps); the override naming it, and its facts."""
    field, base = PREREQUISITES[model_id]
    run_dir = root / f"{base}-{dataset}-seed{args.seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    spec = RunSpec.create(base, dataset, {"threads": args.threads, "seed": args.seed})
    t0 = time.perf_counter()
    final = None
    for ev in train(spec, run_dir):
        if type(ev).__name__ == "Finished":
            final = ev
    wall = time.perf_counter() - t0
    print(f"{base} on {dataset} (for {model_id}): {final.status}, {final.step} steps in {wall:.0f} s", flush=True)
    return {"field": field, "model": base, "run": str(run_dir), "steps": final.step, "status": final.status, "wall_s": round(wall, 1),
            "val_at_end": last_validation(run_dir)}


def train_timed(model_id: str, dataset: str, run_dir: Path, args: argparse.Namespace, overrides: dict, run_overrides: dict) -> tuple[int, str, dict]:
    """Trains the (variant of the) default config for ``args.minutes``, checkpointing ``args.points`` times.

    Returns the final step, the status and the 1-minute load average sampled while it trained.
    """
    sps = probe_speed(model_id, dataset, args.threads, overrides, {**run_overrides, "seed": args.seed})
    every = max(1, round(sps * args.minutes * 60 / args.points))
    shutil.rmtree(run_dir, ignore_errors=True)
    # Every checkpoint is scored afterwards: retention keeps them all, and no time-cadence ones in between.
    run = {**run_overrides, "steps": 10_000_000, "threads": args.threads, "max_minutes": args.minutes, "checkpoint_every": every, "keep_last": 0,
           "checkpoint_every_minutes": 0, "seed": args.seed}
    spec = RunSpec.create(model_id, dataset, run, overrides)
    t0 = time.perf_counter()
    final = None
    loads = [os.getloadavg()[0]]
    next_load = t0 + 30
    for ev in train(spec, run_dir):
        if time.perf_counter() >= next_load:  # other work on a shared machine slows the steps: keep how busy it was
            loads.append(os.getloadavg()[0])
            next_load += 30
        if type(ev).__name__ == "Finished":
            final = ev
    loads.append(os.getloadavg()[0])
    wall = time.perf_counter() - t0
    print(f"{model_id} on {dataset}: {final.status}, {final.step} steps in {wall:.0f} s (probe {sps:.2f} steps/s, checkpoint every {every})", flush=True)
    load = {"start": loads[0], "mean": round(sum(loads) / len(loads), 2), "max": max(loads), "end": loads[-1], "samples": len(loads)}
    return final.step, final.status, load


def held_out_metrics(run_dir: Path, n: int) -> dict:
    """The last checkpoint's own validation metrics (bits/dim, accuracy, ...) over ``n`` held-out examples, as
    ``genstudio eval`` computes them (fixed noise), without drawing samples: cheap even where sampling is not."""
    model, spec, step = load_run_model(run_dir, None, "cpu")
    ds = load_dataset(spec.run.dataset, spec.data)
    _, val = ds.split(spec.data.val_fraction, spec.data.seed)
    held_out = val if val is not None else ds
    n = min(n, len(held_out))
    sums, seen = {}, 0
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(0)
        for i in range(0, n, 256):
            b = held_out.get(slice(i, min(i + 256, n)))
            for k, v in model.evaluate(b).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(b.x)
            seen += len(b.x)
    out = {"checkpoint_step": step, "n": seen, **{k: v / seen for k, v in sums.items()}}
    if hasattr(model, "exact_likelihood"):
        out["likelihood"] = "exact" if model.exact_likelihood else "bound"
        out["likelihood_data"] = getattr(model, "likelihood_data", None)
    return out


def final_eval(run_dir: Path, args: argparse.Namespace, checkpoint: int | None = None) -> dict | None:
    """``genstudio eval`` of the last checkpoint (or ``checkpoint``) at ``args.eval_n`` (validation metrics and FID), or None when off."""
    if args.eval_n <= 0:
        return None
    t0 = time.perf_counter()
    result = evaluate_run(run_dir, n=args.eval_n, checkpoint=checkpoint, device="cpu", sampler=args.eval_sampler, steps=args.eval_steps,
                          save=True, seed=0)
    result["eval_s"] = round(time.perf_counter() - t0, 1)
    print("eval:", json.dumps(result), flush=True)
    return {k: v for k, v in result.items() if isinstance(v, (int, float, str)) or v is None}


def checkpoint_spread(run_dir: Path, args: argparse.Namespace, known: dict | None = None) -> dict | None:
    """The last ``SPREAD_LAST`` checkpoints, each scored ``args.spread_draws`` times at ``args.eval_n`` with sample seeds
    0, 1, ...: each checkpoint's mean FID and the SD of its draws, and the spread of the means (largest over smallest, less 1).

    One FID is one draw of samples. The same Gated PixelCNN checkpoint (mnist5k, FID about 5) scored 7.0, 6.3, 5.4,
    4.9 and 4.3 at n=256 over five sample seeds (RESULTS.md), so one draw per checkpoint cannot tell whether a run's
    last checkpoints lie within 20 % of each other. ``known``: the final eval (the last checkpoint, seed 0), reused.
    """
    if args.spread_draws <= 0 or args.eval_n <= 0:
        return None
    out = []
    for step in RunFolder(run_dir).checkpoints()[-SPREAD_LAST:]:
        fids = []
        for seed in range(args.spread_draws):
            if known and known.get("checkpoint_step") == step and seed == 0 and "fid" in known:
                fids.append(known["fid"])
                continue
            r = evaluate_run(run_dir, n=args.eval_n, checkpoint=step, device="cpu", sampler=args.eval_sampler, steps=args.eval_steps,
                             save=False, seed=seed)
            if "fid" not in r:
                return None  # 2-D points are scored by MMD², which the spread does not speak of
            fids.append(r["fid"])
        out.append({"step": step, "fids": fids})
        print("spread:", json.dumps(out[-1]), flush=True)
    means = [statistics.fmean(c["fids"]) for c in out]
    sd = math.sqrt(statistics.fmean(statistics.variance(c["fids"]) for c in out)) if args.spread_draws > 1 else math.nan
    return {"n": args.eval_n, "draws": args.spread_draws, "checkpoints": out, "means": means, "spread": max(means) / min(means) - 1,
            "draw_sd": sd}


def checkpoint_time(elapsed: dict[int, float], step: int) -> float:
    """Training time at a checkpoint: that of the logged step nearest it (checkpoints need not fall on logged steps)."""
    return elapsed[min(elapsed, key=lambda s: abs(s - step))] if elapsed else math.nan


def eval_at(run_dir: Path, args: argparse.Namespace) -> dict:
    """``genstudio eval`` of the checkpoint whose training time is nearest ``args.eval_at_minutes``."""
    run = RunFolder(run_dir)
    elapsed = train_elapsed(run)
    at = min(run.checkpoints(), key=lambda st: abs(checkpoint_time(elapsed, st) - 60 * args.eval_at_minutes))
    return {"minutes": args.eval_at_minutes, "train_s": checkpoint_time(elapsed, at), **(final_eval(run_dir, args, at) or {})}


def measure(args: argparse.Namespace) -> list[dict]:
    """Train and score each of ``args.runs``; the rows to save."""
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gs-ttq-"))
    results = []
    try:
        for item in args.runs.split(","):
            model_id, dataset = item.split(":")
            run_dir = root / (f"{model_id}-{dataset}" + (f"-{args.variant.replace('=', '').replace(',', '-')}" if args.variant else "")
                              + ("-preset" if args.preset else "") + (f"-seed{args.seed}" if args.seed else ""))
            model_overrides, run_overrides = preset(model_id, dataset) if args.preset else ({}, {})
            # --set takes model settings and the run's own (batch_size), routed as `genstudio train --set` routes them.
            run_set, model_set, data_set = split_overrides(args.overrides, get_model_class(model_id))
            if data_set:
                raise SystemExit(f"--set {', '.join(data_set)}: data settings are not varied here; the rows compare models on one dataset")
            run_overrides.update(run_set)
            model_overrides.update(model_set)
            load, prerequisite = None, None
            if args.rescore:
                if not (run_dir / "meta.json").is_file():
                    raise SystemExit(f"--rescore: no run folder {run_dir}; train it first with --out {root}")
                meta = RunFolder(run_dir).meta
                step, status = meta.get("checkpoint_step"), meta.get("status")
                # What only the training saw is kept from the row it wrote (or, where none was saved, given by hand).
                earlier = [r for r in (json.loads(args.results.read_text())["rows"] if args.results.is_file() else [])
                           if (r["model"], r["dataset"], r.get("variant"), r.get("seed")) == (model_id, dataset, args.variant, args.seed)]
                load = earlier[0].get("load_1min") if earlier else None
                prerequisite = earlier[0].get("prerequisite") if earlier else None
                if args.load:
                    loads = [float(v) for v in args.load.split(",")]
                    load = {"start": loads[0], "mean": round(sum(loads) / len(loads), 2), "max": max(loads), "end": loads[-1], "samples": len(loads),
                            "source": "1-minute load averages read by hand (uptime) while it trained"}
            else:
                if model_id in PREREQUISITES:
                    prerequisite = train_prerequisite(model_id, dataset, root, args)
                    model_overrides[prerequisite["field"]] = prerequisite["run"]
                step, status, load = train_timed(model_id, dataset, run_dir, args, model_overrides, run_overrides)
                meta = RunFolder(run_dir).meta  # once, for the threads and speed-ups the run resolved
            n = args.n if load_dataset(dataset).info.kind == "image" else args.n_points
            row = {"model": model_id, "dataset": dataset, "variant": args.variant, "seed": args.seed, "date": time.strftime("%Y-%m-%d"),
                   "minutes": args.minutes, "n": n, "machine": machine_line(), "machine_info": machine_info(),
                   "steps": step, "status": status, "threads": meta.get("threads"), "speedups": meta.get("speedups"),
                   "load_1min": load, "val_at_end": last_validation(run_dir), "points": score_checkpoints(run_dir, dataset, n, args.score_every)}
            if args.score_every > 1:
                row["scored_every"] = args.score_every
            if args.preset:
                row["preset"] = dataset
            if prerequisite:
                row["prerequisite"] = prerequisite
            row["held_out"] = held_out_metrics(run_dir, args.val_n)
            row["eval"] = final_eval(run_dir, args)
            spread = checkpoint_spread(run_dir, args, row["eval"])
            if spread:
                row["spread"] = spread
            if args.eval_at_minutes:
                # A longer run passes through the shorter one: nothing in training depends on the time limit, so its
                # checkpoint at 10 minutes is a 10-minute run of its seed, evaluated as the 10-minute rows are.
                row["eval_at"] = eval_at(run_dir, args)
            results.append(row)
            # Saved after each model: a long list of runs keeps what it measured if it is stopped.
            save_results(args.results, [row], key=("model", "dataset", "variant", "seed"))
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    return results


def add_spread(args: argparse.Namespace) -> None:
    """``--spread-only``: the spread of the last checkpoints of saved rows, from the run folders their eval names."""
    torch.set_num_threads(args.threads)
    rows = json.loads(args.results.read_text())["rows"] if args.results.is_file() else []
    for item in args.runs.split(","):
        model_id, dataset = item.split(":")
        key = (model_id, dataset, args.variant, args.seed)
        row = next((r for r in rows if (r["model"], r["dataset"], r.get("variant"), r.get("seed")) == key), None)
        run = Path(((row or {}).get("eval") or {}).get("run", ""))
        if row is None or not (run / "meta.json").is_file():
            raise SystemExit(f"--spread-only: no saved row of {key} in {args.results} whose run folder is on this machine")
        spread = checkpoint_spread(run, args, row["eval"])
        if spread is None:
            raise SystemExit(f"--spread-only: {model_id} on {dataset} has no FID to spread (or --spread-draws / --eval-n is 0)")
        save_results(args.results, [{**row, "spread": spread}], key=("model", "dataset", "variant", "seed"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--points", type=int, default=8, help="checkpoints (curve points) per run")
    ap.add_argument("--n", type=int, default=256, help="samples per quality score")
    ap.add_argument("--n-points", type=int, default=2000, help="samples per score on 2-D sets")
    ap.add_argument("--threads", type=int, default=max(1, cpu_count() - 1), help="torch threads (default: the studio's, cores - 1)")
    ap.add_argument("--runs", default=DEFAULT_RUNS)
    ap.add_argument("--out", default="", help="keep the run folders here (default: a temporary folder, removed)")
    ap.add_argument("--results", type=Path, default=RESULTS, help="the results file (its plots are written beside it)")
    ap.add_argument("--report", action="store_true", help="only redraw the plots and print the table from the results file")
    ap.add_argument("--rescore", action="store_true",
                    help="score the run folders kept under --out again without training (after the quality tracker changed)")
    ap.add_argument("--seed", type=int, default=0, help="seed of weights, batches and noise (recorded in each row)")
    ap.add_argument("--preset", action="store_true", help="train with the model's packaged preset for the dataset (recorded in the row)")
    ap.add_argument("--eval-n", type=int, default=500, help="genstudio eval of the last checkpoint at this many examples and samples (0: off)")
    ap.add_argument("--eval-sampler", default=None, help="sampler of that eval (diffusion models), e.g. ddim")
    ap.add_argument("--eval-steps", type=int, default=None, help="sampler steps of that eval, e.g. 50")
    ap.add_argument("--eval-at-minutes", type=float, default=0.0,
                    help="also eval the checkpoint nearest this much training time (a 30-minute run's 10-minute point)")
    ap.add_argument("--val-n", type=int, default=500, help="the last checkpoint's validation metrics over this many held-out examples")
    ap.add_argument("--score-every", type=int, default=1, help="score every K-th checkpoint (and the last), for models slow to sample")
    ap.add_argument("--load", default="", help="with --rescore: 1-minute load averages read while the run trained, when its row was not saved")
    ap.add_argument("--spread-draws", type=int, default=3,
                    help=f"score each of the last {SPREAD_LAST} checkpoints this many times at --eval-n, sample seeds 0, 1, ... (0: off)")
    ap.add_argument("--spread-only", action="store_true",
                    help="only add the spread of the last checkpoints to the saved rows of --runs / --set / --seed (their run folders kept)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a model or run setting that differs from the default (a variant, kept as its own row), e.g. --set channels=64, --set batch_size=32")
    args = ap.parse_args()
    args.overrides = parse_overrides(args.set)
    args.variant = ",".join(f"{k}={v}" for k, v in args.overrides.items()) or None
    if args.rescore and not args.out:
        ap.error("--rescore needs --out, the folder the runs were kept in")
    if args.report:
        report(json.loads(args.results.read_text())["rows"], args.results.parent, args.results.stem)
        return
    if args.spread_only:
        add_spread(args)
        return
    results = measure(args)
    # Rows of models not run this time are kept, so one model can be re-measured (or added) alone.
    report(save_results(args.results, results, key=("model", "dataset", "variant", "seed")), args.results.parent, args.results.stem)


def report(results: list[dict], folder: Path, stem: str = "time_to_quality") -> None:
    """One plot per dataset beside the results file (named after it), and the Markdown tables (one per machine) of every row."""
    from report import time_to_quality as table  # the same renderer RESULTS.md is checked against

    for dataset in sorted({r["dataset"] for r in results}):
        metric = "fid" if any("fid" in p for r in results if r["dataset"] == dataset for p in r["points"]) else "mmd2"
        plot(results, dataset, metric, folder / f"{stem}_{dataset}.png")
    print(table({"rows": [r for r in results if r["points"]]}))


if __name__ == "__main__":
    main()
