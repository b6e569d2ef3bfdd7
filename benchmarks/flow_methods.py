"""Screens of the flows' methods on mnist5k (issue 21): short runs, each variant one setting away from the last.

Each variant trains ``--minutes`` (default 5) with one torch thread and seed 0
by ``genstudio train`` with every setting the screen is about written out (so a
later change of a default does not change what a row means), then its last
checkpoint is evaluated as ``genstudio eval`` does (n=500 held-out digits, the
mnist5k classifier's features) and 500 samples are drawn to measure their ink:
the mean pixel value of the samples over that of the held-out digits. The ink
is the flows' failure made a number: as bits/dim improve, strokes thin and
break (ink well under 1) while the FID climbs.

Writes benchmarks/results/flow_methods.json (one row per variant; the
hand-written ``verdicts`` kept); ``python benchmarks/report.py`` renders its
table. A variant whose run folder already exists under ``--out`` is evaluated
again without training.

Usage: python benchmarks/flow_methods.py --out runs/flow-methods [--variants NAME,NAME] [--minutes 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from bench_common import machine_info, save_results
from genstudio.core.loading import load_data, load_run_model
from genstudio.core.runs import RunFolder
from genstudio.metrics.evaluate import evaluate_run

RESULTS = Path(__file__).resolve().parent / "results" / "flow_methods.json"

#: name -> (model, settings, what changed against the variant before it). Every screened setting is explicit.
REALNVP_2 = {"scales": 2, "channels": 64, "split_prior": False, "logit_alpha": 0.05, "coupling": "affine", "actnorm": False, "ema_decay": 0.0}
REALNVP_3 = {**REALNVP_2, "scales": 3}
REALNVP_3_SP = {**REALNVP_3, "split_prior": True}
GLOW_SP = {"split_prior": True, "logit_alpha": 0.05, "ema_decay": 0.999}
VARIANTS: dict[str, tuple[str, dict, str]] = {
    "realnvp-2-scales": ("realnvp", REALNVP_2, "the old default: 2 scales, N(0, I) on the factored-out parts, logit alpha 0.05"),
    "realnvp-3-scales": ("realnvp", REALNVP_3, "a third scale (28, 14, 7)"),
    "realnvp-3-scales-split-prior": ("realnvp", REALNVP_3_SP, "and Glow's learned prior on the factored-out parts"),
    "realnvp-3-scales-split-prior-actnorm": ("realnvp", {**REALNVP_3_SP, "actnorm": True}, "and an actnorm after every coupling"),
    "realnvp-3-scales-split-prior-mixture": (
        "realnvp", {**REALNVP_3_SP, "coupling": "mixture-logistic"}, "and Flow++'s mixture-of-logistics couplings (4 components), not actnorm"),
    "realnvp-3-scales-split-prior-alpha1e-6": (
        "realnvp", {**REALNVP_3_SP, "logit_alpha": 1e-6}, "and the paper's MNIST logit alpha 1e-6, affine couplings (today's default but for its Polyak weights)"),
    "glow-split-prior": ("glow", GLOW_SP, "Glow with its learned split prior, logit alpha 0.05"),
    "glow-split-prior-alpha1e-6": ("glow", {**GLOW_SP, "logit_alpha": 1e-6}, "and logit alpha 1e-6"),
}


def train(name: str, out: Path, minutes: float, seed: int) -> None:
    model, settings, _ = VARIANTS[name]
    sets = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in settings.items()]
    sets += ["run.threads=1", "run.checkpoint_every=100", "run.steps=10000000"]  # run.: Glow's model has a "steps" too
    cmd = [sys.executable, "-m", "genstudio", "train", "--model", model, "--dataset", "mnist5k", "--minutes", str(minutes),
           "--seed", str(seed), "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    subprocess.run(cmd, check=True)


def ink(run: Path, step: int, n: int, seed: int) -> tuple[float, float]:
    """Mean pixel value of ``n`` samples and of ``n`` held-out digits."""
    model, spec, _ = load_run_model(run, step, "cpu")
    samples = model.sample(n, torch.Generator().manual_seed(seed))
    _, val = load_data(spec.run.dataset, spec.data).split(spec.data.val_fraction, spec.data.seed)
    return float(samples.mean()), float(val.get(slice(0, n)).x.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, help="run folders live here, one per variant")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for name in args.variants.split(","):
        if name not in VARIANTS:
            raise SystemExit(f"unknown variant {name!r}; one of {', '.join(VARIANTS)}")
        run_dir = Path(args.out) / name
        load = None
        if not run_dir.exists():
            train(name, run_dir, args.minutes, args.seed)
            load = os.getloadavg()[1]
        run = RunFolder(run_dir)
        r = evaluate_run(run_dir, n=args.n, device="cpu", save=False, seed=0)
        step = int(r["checkpoint_step"])
        sample_ink, data_ink = ink(run_dir, step, args.n, 0)
        model, settings, what = VARIANTS[name]
        row = {"variant": name, "model": model, "settings": settings, "what": what, "seed": run.spec().run.seed,
               "minutes": args.minutes, "steps": step, "train_wall_s": run.meta.get("wall_time_s"), "load_5min": load,
               "fid": r["fid"], "fid_floor": r.get("fid_floor"), "bpd": r.get("bpd"), "precision": r.get("precision"),
               "recall": r.get("recall"), "ink_ratio": sample_ink / data_ink, "n": args.n, "date": time.strftime("%Y-%m-%d")}
        print(json.dumps(row), flush=True)
        save_results(RESULTS, [row], key=("variant",), machine_info=machine_info(),
                     verdicts=json.loads(RESULTS.read_text()).get("verdicts", {}) if RESULTS.is_file() else {})


if __name__ == "__main__":
    main()
