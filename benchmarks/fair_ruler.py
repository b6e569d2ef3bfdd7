"""The fair ruler on mnist5k: what the grey reference charges a perfect model of binarised digits.

A perfect model of binarised images draws real digits thresholded at 0.5. This
scores n such digits (training examples not in the floor set) against the
held-out digits as loaded (grey) and thresholded (binarised), each beside its
floor, at the sample sizes the benchmarks use, in the mnist5k classifier's
features (genstudio/metrics/quality.py builds the same references).

Writes benchmarks/results/fair_ruler.json.

Usage: python benchmarks/fair_ruler.py
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from bench_common import machine_info, machine_line, save_results

from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.metrics.features import feature_extractor
from genstudio.metrics.quality import ImageReference, as_reference, reference_sets

RESULTS = Path(__file__).resolve().parent / "results" / "fair_ruler.json"


def main() -> None:
    torch.set_num_threads(1)
    spec = RunSpec.create("vae", "mnist5k", {}, {})
    ds = load_dataset("mnist5k", spec.data)
    train, val = ds.split(spec.data.val_fraction, spec.data.seed)
    extractor = feature_extractor(ds, "mnist5k", torch.device("cpu"))
    rows = []
    for n in (256, 500):
        perfect = as_reference(train.get(slice(n, 2 * n)).x, "binarised")  # not the floor set's examples
        row = {"n": n, "features": extractor.description, "date": time.strftime("%Y-%m-%d"), "machine": machine_line()}
        for data in ("as loaded", "binarised"):
            real, floor_set, _ = reference_sets(train, val, n, data)
            ref = ImageReference(extractor, real, floor_set, data=data)
            score = ref.score(perfect, full=False)
            row[data] = {"fid": score["fid"], "fid_floor": score["fid_floor"], "kid": score["kid"], "kid_floor": score["kid_floor"]}
        print(row, flush=True)
        rows.append(row)
    save_results(RESULTS, rows, machine_info=machine_info())


if __name__ == "__main__":
    main()
