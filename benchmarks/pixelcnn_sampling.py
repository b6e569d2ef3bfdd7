"""PixelCNN sampling speed: naive (one full-image pass per pixel) against the cropped-window path.

The cached paths compute the same logits as the naive one, so the script
checks both give identical samples for one seed:

- ``pixelcnn``: a row cache (each masked layer's input kept for finished
  rows; per pixel only the current row of every layer is recomputed);
- ``gated-pixelcnn``: the vertical stack computed once per finished row;
  per pixel only the horizontal stack's current row.

Measures, in one run on this machine with one torch thread, samples per
second of both paths for the default configs (untrained weights: speed does
not depend on them) on 28 x 28 x 1 (mnist5k) and 8 x 8 x 1 (digits), and
the ratio. The naive path on 28 x 28 takes about a minute per 8 samples for
``pixelcnn`` and longer for ``gated-pixelcnn``, which runs on mnist5k only
with ``--all``.

Writes benchmarks/results/pixelcnn_sampling.json.
Run: ``python benchmarks/pixelcnn_sampling.py [--n 8] [--all]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from bench_common import machine_info

from genstudio.core.data_types import DataInfo
from genstudio.models.autoregressive.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genstudio.models.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pixelcnn_sampling.json"



def timed_sample(model, n: int, cached: bool) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    s = model.sample(n, torch.Generator().manual_seed(0), cached=cached)
    return s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="samples per timed call (one batch)")
    parser.add_argument("--all", action="store_true", help="also gated-pixelcnn on 28 x 28 (several minutes)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    cases = [("pixelcnn", "mnist5k"), ("pixelcnn", "digits"), ("gated-pixelcnn", "digits")]
    if args.all:
        cases.append(("gated-pixelcnn", "mnist5k"))
    models = {"pixelcnn": (PixelCNN, PixelCNNConfig()), "gated-pixelcnn": (GatedPixelCNN, GatedPixelCNNConfig())}
    shapes = {"mnist5k": (1, 28, 28), "digits": (1, 8, 8)}
    for name, dataset in cases:
        cls, cfg = models[name]
        shape = shapes[dataset]
        model = cls(cfg, DataInfo("image", shape, name=dataset))
        model.sample(1, torch.Generator().manual_seed(0))  # warm-up
        cached_s, cached_t = timed_sample(model, args.n, True)
        naive_s, naive_t = timed_sample(model, args.n, False)
        row = {
            "model": name,
            "dataset": dataset,
            "shape": list(shape),
            "cached_path": "row cache",
            "n": args.n,
            "naive_samples_per_s": args.n / naive_t,
            "cached_samples_per_s": args.n / cached_t,
            "speedup": naive_t / cached_t,
            "identical_samples": bool(torch.equal(cached_s, naive_s)),
        }
        print(json.dumps(row))
        rows.append(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine_info(), "results": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
