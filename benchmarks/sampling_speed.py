"""Sampling throughput of every model's default config: samples per second, and per network evaluation.

Speed does not depend on what the weights have learned, so each model is
built fresh (default config, seeded) for its natural dataset: ``mnist5k`` for
image models, ``8gaussians`` for the models that only take points, the
waveform set for WaveNet. For each, ``n`` samples are drawn twice and the
faster time is kept. Diffusion models are timed with DDIM at 50 steps and
the default ancestral sampler, and the seconds per network evaluation (NFE)
reported, so DDPM's 1000-step cost can be read off any step count.
``ldm`` needs a trained autoencoder run and is left out.

Writes benchmarks/results/sampling_speed.json and prints a Markdown table.
``--uncached`` adds a "no cache" row for models whose ``cached`` sampling
option has an exact faster path (PixelCNN++: the u stream once per row).
Usage: python benchmarks/sampling_speed.py [--n 16] [--threads 0] [--models made,vae,...] [--uncached]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_common import save_results

from genstudio.core.capabilities import Denoiser
from genstudio.core.device import cpu_count
from genstudio.core.loading import build_model
from genstudio.core.model import DataMismatchError
from genstudio.core.registry import get_model_class, model_ids
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.metrics.quality import count_nfe, draw_samples

RESULTS = Path(__file__).parent / "results" / "sampling_speed.json"
SKIP = {"ldm"}  # needs a trained autoencoder run


def candidate_datasets(model_id: str) -> list[str]:
    """The datasets to try, in order: mnist5k, then the 8x8 digits (MAF/IAF/MADE take small images only)."""
    kinds = get_model_class(model_id).data_kinds
    out = []
    if "image" in kinds:
        out += ["mnist5k", "digits"]
    if "audio" in kinds:
        out.append("waveforms")
    if "points" in kinds:
        out.append("8gaussians")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--models", default="")
    ap.add_argument("--uncached", action="store_true",
                    help="also time models with an exact sampling cache without it (sampler 'no cache')")
    args = ap.parse_args()
    threads = args.threads or cpu_count()
    torch.set_num_threads(threads)
    ids = args.models.split(",") if args.models else [m for m in model_ids() if m not in SKIP and not m.startswith("toy")]
    datasets = {}
    rows = []
    for model_id in ids:
        model = None
        for ds_id in candidate_datasets(model_id):
            if ds_id not in datasets:
                datasets[ds_id] = load_dataset(ds_id)
            try:
                model = build_model(RunSpec.create(model_id, ds_id), datasets[ds_id].info, torch.device("cpu")).eval()
                break
            except DataMismatchError:
                continue
        if model is None:
            print(f"{model_id}: no built-in dataset fits its default config", flush=True)
            continue
        variants = [("default", {})]
        if isinstance(model, Denoiser) and "sampler" in model.sample_options():
            variants = [("ddim 50", {"sampler": "ddim", "steps": 50}), ("default", {})]
        if args.uncached and "cached" in model.sample_options():
            variants.append(("no cache", {"cached": False}))
        for label, kw in variants:
            n = args.n
            try:
                nfe = count_nfe(model, kw)
                times = [draw_samples(model, n, kw, seed=s)[2] for s in range(2)]
            except Exception as e:  # noqa: BLE001 - reported in the table, not hidden
                print(f"{model_id} {label}: failed: {type(e).__name__}: {str(e)[:200]}", flush=True)
                continue
            best = min(times)
            row = {
                "model": model_id,
                "dataset": ds_id,
                "sampler": label,
                "date": time.strftime("%Y-%m-%d"),
                "n": n,
                "seconds": best,
                "samples_per_s": n / best,
                "nfe": nfe,
                "ms_per_nfe_batch": 1000 * best / nfe if nfe else None,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    # Keyed, so ``--models a,b`` re-measures those and keeps the other models' rows.
    save_results(RESULTS, rows, key=("model", "dataset", "sampler"), threads=threads)
    print(f"\n| model | dataset | sampler | samples/s (batch {args.n}) | NFE | ms per NFE (whole batch) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        per = f"{r['ms_per_nfe_batch']:.1f}" if r["ms_per_nfe_batch"] else "—"
        print(f"| {r['model']} | {r['dataset']} | {r['sampler']} | {r['samples_per_s']:.2f} | {r['nfe'] or '—'} | {per} |")


if __name__ == "__main__":
    main()
