"""Methods for the likelihood models (Gated PixelCNN, RealNVP, Glow) at compute-matched step budgets.

Issue 21 asks which of the literature's methods make the autoregressive and
flow defaults reach good samples in ten CPU minutes. Wall-clock runs mean
nothing on a machine shared by other processes, so every variant trains for
a fixed number of STEPS: the baseline's step count in 10 idle minutes
(gated-pixelcnn 973, realnvp 775, from benchmarks/RESULTS.md's time-to-quality
table), divided by ``r``, the variant's step cost relative to the baseline,
measured by ``--time-ratio`` (both models' ``train_step`` timed in ONE
process, interleaved, so load hits both alike). Screens run at half the
budget (``--fraction 0.5``); kept methods are confirmed at the full budget
with two seeds.

Each run trains through the real engine (no previews, evaluations or time
limit, ``--points`` checkpoints), then, outside training, scores the last
``--score-last`` checkpoints as ``genstudio eval --n 500`` does: FID against
held-out data in the mnist5k classifier's features, and validation bits/dim.
Extra sampling settings of the final checkpoint (``--also use_ema=false``,
``--also temperature=0.9``) are scored on the same weights, so EMA against
raw weights and temperature cost no training.

Usage:
  python benchmarks/likelihood_methods.py --model gated-pixelcnn --method ema0.999 --set ema_decay=0.999 --fraction 0.5
  python benchmarks/likelihood_methods.py --model realnvp --method baseline --fraction 1 --seed 1 --also temperature=0.8
  python benchmarks/likelihood_methods.py --time-ratio glow --against realnvp [--set ...] [--steps 30]
  python benchmarks/likelihood_methods.py --report      # print the table from the results file

Writes benchmarks/results/likelihood_methods.json (rows keyed by model, method,
steps and seed; rows not re-measured are kept). ``--verdict kept|rejected``
with ``--method`` and ``--note`` records the decision on rows already measured.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench_common import machine_line, save_results
from time_to_quality import parse_overrides

from genstudio.core.engine import train
from genstudio.core.loading import build_model, load_run_model
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.metrics.features import feature_extractor
from genstudio.metrics.quality import ImageReference, draw_samples, reference_data, reference_sets

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "likelihood_methods.json"
DATASET = "mnist5k"
#: Steps the default config made in 10 minutes on one torch thread (RESULTS.md, time to quality: gated-pixelcnn and
#: realnvp idle on 2026-12-04, glow on 2026-12-06 at a mean load of 1.6 on 2 cores).
BUDGETS = {"gated-pixelcnn": 973, "realnvp": 775, "glow": 7125}
#: The real side of the FID, by the data the model models (genstudio.metrics.quality.REFERENCE_DATA).
REFERENCE_LABEL = {"as loaded": "8-bit held-out images (grey)", "binarised": "binarised held-out images"}


def train_steps(model_id: str, overrides: dict, steps: int, points: int, seed: int, run_dir: Path, run_overrides: dict | None = None) -> float:
    """Train ``steps`` steps through the engine with ``points`` evenly spaced checkpoints; the wall time."""
    every = max(1, steps // points)
    run = {"steps": steps, "threads": 1, "seed": seed, "log_every": 25, "sample_every": 0, "preview_every_s": 0,
           "eval_every": 0, "checkpoint_every": every, "keep_last": 0, "checkpoint_every_minutes": 0}
    spec = RunSpec.create(model_id, DATASET, {**(run_overrides or {}), **run}, overrides)
    shutil.rmtree(run_dir, ignore_errors=True)
    t0 = time.perf_counter()
    final = None
    for ev in train(spec, run_dir):
        if type(ev).__name__ == "Finished":
            final = ev
    if final is None or final.step != steps:
        raise RuntimeError(f"{model_id} stopped early: {final}")
    return time.perf_counter() - t0


def bits_per_dim(model: Any, held_out: Any, n: int, use_ema: bool = True) -> float | None:
    """Validation bits/dim as ``genstudio eval`` averages it (fixed noise; the sampling weights, or the raw ones)."""
    average = getattr(model, "ema", None)
    if not use_ema and average is not None:
        model.ema = None  # the models fall back to their live weights when they keep no average
    try:
        return _bits_per_dim(model, held_out, n)
    finally:
        if average is not None:
            model.ema = average


def _bits_per_dim(model: Any, held_out: Any, n: int) -> float | None:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        total, seen = 0.0, 0
        for i in range(0, n, 256):
            b = held_out.get(slice(i, min(i + 256, n)))
            out = model.evaluate(b)
            if "bpd" not in out:
                return None
            total += out["bpd"] * len(b.x)
            seen += len(b.x)
    return total / seen


def score_run(run_dir: Path, n: int, last: int, also: list[dict], also_every: bool = False, seed: int = 0) -> list[dict]:
    """FID (n samples against n held-out images) and bits/dim of the last ``last`` checkpoints, plus ``also`` on the final one
    (on every scored one with ``also_every``)."""
    run = RunFolder(run_dir)
    spec = run.spec()
    ds = load_dataset(DATASET, spec.data)
    train_ds, val = ds.split(spec.data.val_fraction, spec.data.seed)
    steps = run.checkpoints()
    if len(steps) > 2 and steps[-1] - steps[-2] < (steps[-2] - steps[-3]) / 2:
        del steps[-2]  # the final checkpoint came just after a periodic one: keep the spacing even
    steps = steps[-last:] if last > 0 else steps
    points = []
    reference = None
    for step in steps:
        model, _, _ = load_run_model(run_dir, step, "cpu")
        if reference is None:  # the fair ruler: a model of binarised images against binarised real images (its floor too)
            data = reference_data(model)
            real, floor_set, _ = reference_sets(train_ds, val, n, data)
            reference = ImageReference(feature_extractor(ds, DATASET, torch.device("cpu")), real, floor_set, data=data)
        settings = [{}] + (also if (also_every or step == steps[-1]) else [])
        bpd = bits_per_dim(model, val, min(n, len(val)))
        for kwargs in settings:
            if kwargs.get("use_ema") is False:
                bpd = bits_per_dim(model, val, min(n, len(val)), use_ema=False)
            elif kwargs:
                bpd = bits_per_dim(model, val, min(n, len(val)))
            t0 = time.perf_counter()
            samples, labels, _ = draw_samples(model, len(real), kwargs, seed=seed)
            q = reference.score(samples, labels)
            points.append({"step": step, "sampling": kwargs, "fid": q["fid"], "fid_floor": q["fid_floor"], "kid": q["kid"],
                           "precision": q.get("precision"), "recall": q.get("recall"), "bits_per_dim": bpd, "reference_data": data,
                           "score_s": time.perf_counter() - t0})
            print(json.dumps(points[-1]), flush=True)
    return points


def summarise(points: list[dict]) -> dict:
    """The row's headline: FID at the end, the spread of the last checkpoints, bits/dim at the end."""
    default = [p for p in points if not p["sampling"]]
    fids = [p["fid"] for p in default]
    out = {"fid_end": fids[-1], "fid_last": fids, "bits_per_dim_end": default[-1]["bits_per_dim"],
           "fid_spread": (max(fids) - min(fids)) / min(fids) if len(fids) > 1 else 0.0}
    for p in points:
        if p["sampling"]:
            name = ",".join(f"{k}={v}" for k, v in p["sampling"].items())
            out["fid_end_" + name] = p["fid"]  # the last scored checkpoint's overwrites earlier ones
            out.setdefault("fid_last_" + name, []).append(p["fid"])
    return out


def time_ratio(model_id: str, against: str, overrides: dict, base_overrides: dict, steps: int, run_overrides: dict | None = None) -> dict:
    """Seconds per ``train_step`` of the variant over the baseline's, timed in one process, interleaved in blocks of 5."""
    torch.set_num_threads(1)
    ds = load_dataset(DATASET)
    models = {}
    for name, mid, over, run in (("variant", model_id, overrides, run_overrides or {}), ("baseline", against, base_overrides, {})):
        spec = RunSpec.create(mid, DATASET, {**run, "steps": steps}, over)
        models[name] = (build_model(spec, ds.info, torch.device("cpu")), spec.run.batch_size)
    g = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {"variant": [], "baseline": []}
    for name, (m, bs) in models.items():  # warm-up (and actnorm's data-dependent init)
        for _ in range(2):
            m.train_step(ds.get(torch.randint(0, len(ds), (bs,), generator=g)))
    for _ in range(math.ceil(steps / 5)):
        for name, (m, bs) in models.items():
            batches = [ds.get(torch.randint(0, len(ds), (bs,), generator=g)) for _ in range(5)]
            t0 = time.perf_counter()
            for b in batches:
                m.train_step(b)
            times[name].append((time.perf_counter() - t0) / 5)
    v, b = statistics.median(times["variant"]), statistics.median(times["baseline"])
    return {"variant": model_id, "variant_set": overrides, "baseline": against, "baseline_set": base_overrides,
            "steps_each": 5 * math.ceil(steps / 5), "variant_s_per_step": v, "baseline_s_per_step": b, "ratio": v / b}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["gated-pixelcnn", "realnvp", "glow"])
    ap.add_argument("--method", help="the row's name (e.g. baseline, ema0.999)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model settings of the variant")
    ap.add_argument("--run-set", action="append", default=[], metavar="KEY=VALUE", help="run settings of the variant (e.g. batch_size=32)")
    ap.add_argument("--ratio", type=float, default=1.0, help="step cost against the budget's baseline (from --time-ratio)")
    ap.add_argument("--budget-of", help="whose 10-minute step count is the budget (default: --model)")
    ap.add_argument("--fraction", type=float, default=1.0, help="of the step budget: 0.5 screens, 1 confirms")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--points", type=int, default=8, help="checkpoints per run")
    ap.add_argument("--score-last", type=int, default=3, help="checkpoints scored, counted from the end (0: all)")
    ap.add_argument("--rescore", action="store_true", help="score the run kept under --out again, without training")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--also", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                    help="extra sampling settings scored on the final checkpoint")
    ap.add_argument("--also-every", action="store_true", help="score --also on every scored checkpoint, not only the last")
    ap.add_argument("--out", default="", help="keep the run folders here")
    ap.add_argument("--time-ratio", metavar="MODEL", help="measure MODEL (with --set) against --against (with --against-set)")
    ap.add_argument("--against")
    ap.add_argument("--against-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--steps", type=int, default=30, help="--time-ratio: steps timed per model")
    ap.add_argument("--verdict", choices=["kept", "rejected"], help="record the decision on --model/--method rows")
    ap.add_argument("--note", default="")
    ap.add_argument("--sampling", help="--verdict on this extra sampling setting of the row (e.g. use_ema=False)")
    ap.add_argument("--at-steps", type=int, help="--verdict only on the row of this step count")
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()
    overrides = parse_overrides(args.set)
    run_overrides = parse_overrides(args.run_set)

    data = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"rows": [], "ratios": []}
    if args.report:
        from report import likelihood_methods

        print(likelihood_methods(data))
        return
    if args.verdict:
        for r in data["rows"]:
            if r["model"] == args.model and r["method"] == args.method and (args.at_steps is None or r["steps"] == args.at_steps):
                if args.sampling:  # the verdict on one extra sampling setting of the row
                    r.setdefault("verdicts", {})[args.sampling] = args.verdict
                    r.setdefault("notes", {})[args.sampling] = args.note
                else:
                    r["verdict"], r["note"] = args.verdict, args.note or r.get("note", "")
        RESULTS.write_text(json.dumps(data, indent=2) + "\n")
        return
    if args.time_ratio:
        ratio = time_ratio(args.time_ratio, args.against or args.time_ratio, overrides, parse_overrides(args.against_set), args.steps,
                           run_overrides)
        if run_overrides:
            ratio["variant_set"] = {**overrides, **run_overrides}
        ratio.update(date=time.strftime("%Y-%m-%d"), machine=machine_line(), load_average=list(__import__("os").getloadavg()))
        print(json.dumps(ratio))
        ratios = [r for r in data.get("ratios", []) if (r["variant"], r["variant_set"], r["baseline"], r["baseline_set"])
                  != (ratio["variant"], ratio["variant_set"], ratio["baseline"], ratio["baseline_set"])]
        save_results(RESULTS, data["rows"], ratios=ratios + [ratio])
        return
    if not args.model or not args.method:
        ap.error("--model and --method are needed")
    budget = BUDGETS[args.budget_of or args.model]
    steps = max(1, round(budget * args.fraction / args.ratio))
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gs-lm-"))
    run_dir = root / f"{args.model}-{args.method}-{steps}-s{args.seed}"
    if args.rescore and not (run_dir / "meta.json").is_file():
        ap.error(f"--rescore: no run folder {run_dir}")
    try:
        if args.rescore:
            old = [r for r in data["rows"] if (r["model"], r["method"], r["steps"], r["seed"]) == (args.model, args.method, steps, args.seed)]
            wall = old[0]["train_s"] if old else RunFolder(run_dir).meta.get("wall_time_s", math.nan)
        else:
            wall = train_steps(args.model, overrides, steps, args.points, args.seed, run_dir, run_overrides)
        print(f"{args.model} {args.method}: {steps} steps in {wall:.0f} s", flush=True)
        also = [parse_overrides(a.split(",")) for a in args.also]
        points = score_run(run_dir, args.n, args.score_last, also, args.also_every)
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)
    row = {"model": args.model, "method": args.method, "set": {**overrides, **run_overrides}, "budget": budget, "ratio": args.ratio,
           "fraction": args.fraction, "steps": steps, "seed": args.seed, "n": args.n, "train_s": wall,
           "reference": REFERENCE_LABEL[points[-1]["reference_data"]], "date": time.strftime("%Y-%m-%d"),
           "verdict": "", "note": "", **summarise(points), "points": points}
    save_results(RESULTS, [row], key=("model", "method", "steps", "seed"), ratios=data.get("ratios", []))
    print(json.dumps({k: v for k, v in row.items() if k != "points"}))


if __name__ == "__main__":
    main()
