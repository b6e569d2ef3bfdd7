"""SGAN's classifier against a plain classifier trained on the same labelled examples (issue 22).

For each seed: an ``sgan`` with the mnist5k preset (genstudio/resources/presets/sgan.toml) trains for
a fixed step budget on mnist5k's training split, seeing 10 labels per class (100 labelled examples)
and every training image unlabelled. The plain classifier is the same network (SGAN's discriminator:
the same layers, the same Gaussian noise on input and hidden layers, K logits) trained with
cross-entropy on exactly the same 100 labelled examples (taken from the trained sgan's buffers), with
Adam at the same learning rate, for the same number of updates. Both are scored on the whole
validation split (500 digits) with the final weights; nothing is picked by validation accuracy.

A step budget, not a time budget: the machine is shared, so minutes would measure the neighbours.
The SGAN's wall time is recorded beside its accuracy.

Usage: python benchmarks/sgan_accuracy.py [--steps 3000] [--seeds 0 1 2]
Writes benchmarks/results/sgan_accuracy.json; render the table with python benchmarks/report.py.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from pathlib import Path

import torch
import torch.nn.functional as F

from bench_common import save_results
from genstudio.core.loading import build_model
from genstudio.core.resources import resource_path
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "sgan_accuracy.json"
DATASET = "mnist5k"
LABELLED_PER_CLASS = 10
EVAL_EVERY = 500


def preset() -> dict:
    return tomllib.loads(resource_path("presets", "sgan.toml").read_text())[DATASET]


@torch.no_grad()
def accuracy(classifier, x_model: torch.Tensor, y: torch.Tensor) -> float:
    was = classifier.training
    classifier.eval()
    acc = float((classifier(x_model).argmax(1) == y).float().mean())
    classifier.train(was)
    return acc


def run_seed(seed: int, steps: int) -> dict:
    p = preset()
    run = {**p.get("run", {}), "seed": seed, "steps": steps}
    model_over = {**p.get("model", {}), "labelled_per_class": LABELLED_PER_CLASS}
    spec = RunSpec.create("sgan", DATASET, run, model_over)
    ds = load_dataset(DATASET, spec.data)
    train, val = ds.split(spec.data.val_fraction, spec.data.seed)
    vb = val.get(slice(0, len(val)))
    model = build_model(spec, ds.info, torch.device("cpu"))
    batches = train.batches(spec.run.batch_size, seed)
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        model.train_step(next(batches))
        if step % EVAL_EVERY == 0 or step == steps:
            curve.append((step, float(model.accuracy(vb.x, vb.y).mean())))
    sgan_seconds = time.perf_counter() - t0
    lx, ly = model.labelled()
    assert len(ly) == LABELLED_PER_CLASS * ds.info.num_classes

    # The plain classifier: a fresh copy of the same discriminator, cross-entropy on the same labelled set.
    torch.manual_seed(seed)
    plain = build_model(spec, ds.info, torch.device("cpu")).discriminator
    opt = torch.optim.Adam(plain.parameters(), lr=spec.model.lr_d, betas=(spec.model.beta1, spec.model.beta2))
    x_lab = model._to_model(lx)
    x_val = model._to_model(vb.x)
    plain_curve: list[tuple[int, float]] = []
    plain.train()
    for step in range(1, steps + 1):
        loss = F.cross_entropy(plain(x_lab), ly)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % EVAL_EVERY == 0 or step == steps:
            plain_curve.append((step, accuracy(plain, x_val, vb.y)))
    return {
        "seed": seed,
        "steps": steps,
        "labelled": int(len(ly)),
        "val_examples": int(len(vb.y)),
        "sgan_accuracy": curve[-1][1],
        "classifier_accuracy": plain_curve[-1][1],
        "sgan_seconds": round(sgan_seconds, 1),
        "sgan_curve": curve,
        "classifier_curve": plain_curve,
        "settings": model_over | {"batch_size": spec.run.batch_size},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="training steps of each model (the budget)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    torch.set_num_threads(1)
    for seed in args.seeds:
        row = run_seed(seed, args.steps)
        print(f"seed {seed}: sgan {row['sgan_accuracy']:.3f}, plain classifier {row['classifier_accuracy']:.3f} ({row['sgan_seconds']} s)", flush=True)
        # Saved after each seed (rows of other seeds kept), so a long run stopped early keeps what it measured.
        save_results(OUT, [row], key=("seed",), dataset=DATASET, labelled_per_class=LABELLED_PER_CLASS, threads=1)


if __name__ == "__main__":
    main()
