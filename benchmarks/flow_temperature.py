"""Sampling temperature of the flows' 10-minute defaults (issue 21: "sampling temperature where the paper used it, and T = 1").

Glow (section 5 and its figures) samples at T = 0.7: z ~ N(0, T^2 I) trades
diversity for cleaner samples. Earlier defaults were only hurt by it
(RESULTS.md, Glow and RealNVP). This scores the last checkpoint of each
time-to-quality row of today's defaults (the rows without a variant in
``results/time_to_quality.json``, their run folders kept) at several
temperatures, on the same weights: FID at ``--n`` against held-out digits in
the mnist5k classifier's features (as ``likelihood_methods.py`` scores),
precision / recall, and the samples' ink (their mean pixel over the held-out
digits'; a cooled flow thins its strokes).

Usage: python benchmarks/flow_temperature.py [--models realnvp,glow] [--temperatures 0.6,0.7,0.8,0.9,1.0] [--n 500]
Writes benchmarks/results/flow_temperature.json (rows keyed by model, seed and temperature).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench_common import machine_info, save_results
from likelihood_methods import score_run

from genstudio.core.loading import load_run_model
from genstudio.data.dataset import load_dataset

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "flow_temperature.json"
TTQ = HERE / "results" / "time_to_quality.json"


def default_runs(models: list[str]) -> list[dict]:
    """Today's default rows of ``models`` whose run folder is still on this machine."""
    rows = json.loads(TTQ.read_text())["rows"]
    out = []
    for r in rows:
        run = (r.get("eval") or {}).get("run")
        if r["model"] in models and not r.get("variant") and r.get("seed") is not None and run and (Path(run) / "meta.json").is_file():
            out.append(r)
    return out


def ink_ratio(run: Path, temperature: float, n: int) -> float:
    """The mean pixel of ``n`` samples at ``temperature`` over that of ``n`` held-out digits."""
    model, spec, _ = load_run_model(run, None, "cpu")
    samples = model.sample(n, torch.Generator().manual_seed(0), temperature=temperature)
    _, val = load_dataset(spec.run.dataset, spec.data).split(spec.data.val_fraction, spec.data.seed)
    return float(samples.mean()) / float(val.get(slice(0, n)).x.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="realnvp,glow")
    ap.add_argument("--temperatures", default="0.6,0.7,0.8,0.9,1.0")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    torch.set_num_threads(1)
    temperatures = [float(t) for t in args.temperatures.split(",")]
    runs = default_runs(args.models.split(","))
    if not runs:
        raise SystemExit(f"no run folder of a default row of {args.models} is on this machine: run time_to_quality.py --out DIR first")
    for r in runs:
        run = Path(r["eval"]["run"])
        points = score_run(run, args.n, 1, [{"temperature": t} for t in temperatures if t != 1.0])
        rows = []
        for p in points:
            t = float(p["sampling"].get("temperature", 1.0))
            rows.append({"model": r["model"], "seed": r["seed"], "temperature": t, "steps": p["step"], "fid": p["fid"],
                         "fid_floor": p["fid_floor"], "precision": p["precision"], "recall": p["recall"],
                         "bits_per_dim": p["bits_per_dim"], "ink_ratio": ink_ratio(run, t, args.n), "n": args.n,
                         "row_date": r["date"], "date": time.strftime("%Y-%m-%d")})
            print(json.dumps(rows[-1]), flush=True)
        save_results(RESULTS, rows, key=("model", "seed", "temperature"), machine_info=machine_info())


if __name__ == "__main__":
    main()
