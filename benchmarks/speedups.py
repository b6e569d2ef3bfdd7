"""Speed-ups measured, not assumed: channels-last, bf16 autocast and torch.compile against plain fp32.

For each model's default config, in one process, the variants run
interleaved (base, channels_last, bf16, compile, base, ...) through the real
engine (previews, evaluations and checkpoints off), so machine noise hits all
of them alike. Reports steps/s and the ratio to the fp32 NCHW baseline;
compile also reports its one-off start-up cost. ``genstudio/core/speedups.py``
turns a switch on under ``auto`` only where this table says it pays.

Writes benchmarks/results/speedups.json and prints a Markdown table.
Usage: python benchmarks/speedups.py [--steps 30] [--repeats 2] [--models vae,dcgan,ddpm] [--variants base,channels_last,bf16,channels_last_bf16,auto,compile]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch
from bench_common import machine_line, save_results

from genstudio.core.device import cpu_count
from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RESULTS = Path(__file__).parent / "results" / "speedups.json"

VARIANTS = {
    "base": {"channels_last": "off", "autocast": "off", "compile": "off"},
    "channels_last": {"channels_last": "on", "autocast": "off", "compile": "off"},
    "bf16": {"channels_last": "off", "autocast": "bf16", "compile": "off"},
    "compile": {"channels_last": "off", "autocast": "off", "compile": "on"},
    "channels_last_bf16": {"channels_last": "on", "autocast": "bf16", "compile": "off"},
    # What a user gets: each switch resolved by genstudio/core/speedups.py for this model and machine.
    "auto": {"channels_last": "auto", "autocast": "auto", "compile": "auto"},
}


def time_engine(spec: RunSpec, steps: int, warmup: int) -> tuple[float, float, float]:
    """(steps/s after warm-up, seconds until the first step's metrics: start-up incl. compile, mean loss of the last 5 steps).

    The loss is a sanity check that a faster variant still learns alike (same seed and steps as the baseline).
    """
    out = Path(tempfile.mkdtemp(prefix="gs-speedup-"))
    try:
        spec = spec.with_overrides(run={"steps": steps + warmup})
        t_start = time.perf_counter()
        t0 = t1 = None
        first = None
        losses: list[float] = []
        for ev in train(spec, out / "run"):
            name = type(ev).__name__
            if name == "Metrics" and ev.split == "train":
                losses.append(float(ev.values.get("loss", float("nan"))))
                if first is None:
                    first = time.perf_counter() - t_start
                if t0 is None and ev.step >= warmup:
                    t0, s0 = time.perf_counter(), ev.step
                elif t0 is not None:
                    t1, s1 = time.perf_counter(), ev.step
            if name == "Finished" and ev.status != "completed":
                raise RuntimeError(f"{spec.run.model}: {ev.message}")
        return (s1 - s0) / (t1 - t0), first or 0.0, statistics.fmean(losses[-5:])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--models", default="vae,dcgan,ddpm")
    ap.add_argument("--variants", default="base,channels_last,bf16,compile")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--dataset", default="mnist5k")
    args = ap.parse_args()
    threads = args.threads or cpu_count()
    torch.set_num_threads(threads)
    variants = args.variants.split(",")
    machine = machine_line()  # rows of different CPUs are kept apart: whether bf16 pays depends on the hardware
    rows = []
    for model_id in args.models.split(","):
        speeds: dict[str, list[float]] = {v: [] for v in variants}
        startup: dict[str, list[float]] = {v: [] for v in variants}
        loss: dict[str, list[float]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for v in variants:
                over = {"threads": threads, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, **VARIANTS[v]}
                spec = RunSpec.create(model_id, args.dataset, over)
                try:
                    sps, first, last_loss = time_engine(spec, args.steps, args.warmup)
                except Exception as e:  # noqa: BLE001 - a variant that cannot run is reported, not hidden
                    print(f"{model_id} {v}: failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                    sps, first, last_loss = float("nan"), float("nan"), float("nan")
                speeds[v].append(sps)
                startup[v].append(first)
                loss[v].append(last_loss)
                print(f"{model_id} {v}: {sps:.2f} steps/s (first step after {first:.1f} s)", flush=True)
        base = statistics.median(speeds["base"]) if "base" in speeds else float("nan")
        for v in variants:
            med = statistics.median(speeds[v])
            rows.append(
                {
                    "model": model_id,
                    "variant": v,
                    "threads": threads,
                    "steps_per_s": med,
                    "ratio_to_base": med / base if base == base and base > 0 else float("nan"),
                    "startup_s": statistics.median(startup[v]),
                    "loss_end": statistics.median(loss[v]),
                    "machine": machine,
                }
            )
    rows = save_results(RESULTS, rows, ("model", "variant", "threads", "machine"), steps=args.steps, repeats=args.repeats)
    print("\n| machine | model | variant | threads | steps/s | ratio to fp32 NCHW | start-up s | loss at the end |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.get('machine', '')} | {r['model']} | {r['variant']} | {r['threads']} | {r['steps_per_s']:.2f} | {r['ratio_to_base']:.2f} "
              f"| {r['startup_s']:.1f} | {r.get('loss_end', float('nan')):.4g} |")


if __name__ == "__main__":
    main()
