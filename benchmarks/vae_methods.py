"""VAE methods on compute-matched step budgets: which ones lower the FID on mnist5k.

The machine these runs share is busy, so wall time says nothing; the budget is
a number of steps instead: the 21,864 steps the default VAE made in 10 minutes
on an idle machine (benchmarks/RESULTS.md, time to quality). A variant whose
step costs r times the baseline's (``--cost``: measured in one process, the
variants' short runs interleaved, median of the rounds) gets budget / r steps,
so every row has had the same compute. ``--fraction 0.25`` screens at a
quarter of the budget.

Each variant trains with the engine and a user's run settings (previews and
validation on, 1 torch thread, the speed-ups ``auto`` resolves); its last
checkpoint is scored as ``genstudio eval`` scores it (n=500 held-out digits
and 500 samples of seed 0, the mnist5k classifier's features), once per
prior: N(0, I) (``standard``) and the mixture fitted to the encoded training
set (``mixture``, Ghosh et al. 2020). The real-data floor is the same for
every row.

Writes benchmarks/results/vae_methods.json (rows kept across runs, keyed by
variant, fraction and seed, and the hand-written ``verdicts`` kept);
``python benchmarks/report.py`` renders its table.

Usage: python benchmarks/vae_methods.py --cost [--variants a,b]
       python benchmarks/vae_methods.py --fraction 0.25 [--variants a,b] [--seed 0]
       python benchmarks/vae_methods.py --list
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench_common import machine_info, machine_line, save_results

from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.metrics.features import feature_extractor
from genstudio.metrics.quality import ImageReference, draw_samples, reference_sets

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "vae_methods.json"
#: Steps the default VAE made in 10 minutes on the idle 2-core machine (RESULTS.md, time to quality, 2026-12-04).
BUDGET = 21_864
N = 500
DATASET = "mnist5k"

#: Variant name -> (settings that differ from the old default, what it tests). The old default: prior=standard.
VARIANTS: dict[str, tuple[dict, str]] = {
    "baseline": ({"prior": "standard"}, "the default before this work: bernoulli decoder, N(0, I) prior"),
    "kl-warmup": ({"prior": "standard", "kl_warmup": 2000}, "KL weight from 0 to 1 over the first 2,000 steps"),
    "gaussian-learned": ({"prior": "standard", "likelihood": "gaussian", "gaussian_variance": "learned"},
                         "Gaussian decoder with a learned per-pixel variance instead of the bernoulli cross-entropy"),
    "wide-decoder": ({"prior": "standard", "decoder_channels": 64}, "decoder with 64/128 channels instead of 32/64"),
    "latent-32": ({"prior": "standard", "latent_dim": 32}, "32 latent dimensions instead of 16"),
    "kl-warmup+wide-decoder": ({"prior": "standard", "kl_warmup": 2000, "decoder_channels": 64}, "the two kept training changes together"),
}
#: Variants whose step costs what another's does (the KL warm-up changes no computation): their cost is that one's.
SAME_COST = {"kl-warmup+wide-decoder": "wide-decoder"}


def run_settings(steps: int, seed: int) -> dict:
    """A user's run settings (previews and validation on), one torch thread, one checkpoint at the end."""
    return {"steps": steps, "seed": seed, "threads": 1, "checkpoint_every": 0, "checkpoint_every_minutes": 0, "keep_best": False}


def measure_cost(names: list[str], rounds: int, steps: int) -> dict[str, float]:
    """Seconds per step of each variant: short engine runs interleaved over ``rounds``, median per variant."""
    times: dict[str, list[float]] = {n: [] for n in names}
    root = Path(tempfile.mkdtemp(prefix="gs-vae-cost-"))
    try:
        for r in range(rounds):
            for name in names:
                run = {**run_settings(steps, r), "preview_every_s": 0, "sample_every": 0, "eval_every": 0, "log_every": 1}
                spec = RunSpec.create("vae", DATASET, run, VARIANTS[name][0])
                marks = {}
                for ev in train(spec, root / f"{name}-{r}"):
                    if type(ev).__name__ == "Metrics" and ev.split == "train" and ev.step in (10, steps):
                        marks[ev.step] = time.perf_counter()
                times[name].append((marks[steps] - marks[10]) / (steps - 10))
                print(f"cost round {r} {name}: {1000 * times[name][-1]:.2f} ms/step", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {n: statistics.median(t) for n, t in times.items()}


class Scorer:
    """genstudio eval's image reference at n=500 (built once; the same held-out and floor sets for every row)."""

    def __init__(self) -> None:
        spec = RunSpec.create("vae", DATASET, {}, {})
        ds = load_dataset(DATASET, spec.data)
        train_ds, val = ds.split(spec.data.val_fraction, spec.data.seed)
        real, floor_set, _ = reference_sets(train_ds, val, N)
        self.reference = ImageReference(feature_extractor(ds, DATASET, torch.device("cpu")), real, floor_set)

    def score(self, run_dir: Path) -> dict:
        model, _, step = load_run_model(run_dir, None, "cpu")
        out: dict = {"checkpoint_step": step}
        for prior in ("standard", "mixture"):
            samples, _, secs = draw_samples(model, N, {"prior": prior}, seed=0)
            s = self.reference.score(samples)
            out[prior] = {k: s[k] for k in ("fid", "kid", "precision", "recall") if k in s} | {"sampling_seconds": secs}
        out["fid_floor"] = self.reference.floor["fid_floor"]
        return out


def last_validation(run_dir: Path) -> dict:
    from genstudio.core.runs import RunFolder

    records, _ = RunFolder(run_dir).read_metrics()
    val = [r for r in records if r.get("split") == "val"]
    return {k: v for k, v in (val[-1] if val else {}).items() if k in ("loss", "recon", "kl", "nll_iw", "bpd", "active_dims")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--cost", action="store_true", help="measure each variant's cost per step against the baseline and save it")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--fraction", type=float, default=0.25, help="of the budget (0.25: the screening runs)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="", help="keep the run folders here")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    names = args.variants.split(",")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or args.list:
        print("\n".join(f"{k}: {v[1]} {v[0]}" for k, v in VARIANTS.items()))
        raise SystemExit(2 if unknown else 0)
    torch.set_num_threads(1)
    saved = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"rows": []}
    costs = dict(saved.get("cost_ratio", {}))
    if args.cost:
        secs = measure_cost(sorted(set(names) | {"baseline"}), args.rounds, 150)
        costs.update({n: secs[n] / secs["baseline"] for n in secs})
        saved["cost_ratio"] = costs
        saved["cost_measured"] = {"date": time.strftime("%Y-%m-%d"), "machine": machine_line(), "rounds": args.rounds, "steps": 150}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
        print(json.dumps(costs, indent=2))
        return
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="gs-vae-methods-"))
    scorer = Scorer()
    rows = []
    try:
        for name in names:
            r = costs.get(SAME_COST.get(name, name), 1.0)
            steps = max(1, round(BUDGET * args.fraction / r))
            run_dir = root / f"{name}-f{args.fraction}-s{args.seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            spec = RunSpec.create("vae", DATASET, run_settings(steps, args.seed), VARIANTS[name][0])
            t0 = time.perf_counter()
            for ev in train(spec, run_dir):
                if type(ev).__name__ == "Finished" and ev.status != "completed":
                    raise SystemExit(f"{name}: run ended {ev.status}: {ev.message}")
            wall = time.perf_counter() - t0
            row = {"variant": name, "settings": VARIANTS[name][0], "what": VARIANTS[name][1], "fraction": args.fraction, "seed": args.seed,
                   "cost_ratio": r, "steps": steps, "train_wall_s": wall, "date": time.strftime("%Y-%m-%d"), "machine": machine_line(),
                   "val_at_end": last_validation(run_dir), **scorer.score(run_dir)}
            print(json.dumps(row), flush=True)
            rows.append(row)
            # The verdicts are written by hand after the rows are read; a new run keeps them.
            kept = {k: v for k, v in saved.items() if k in ("cost_ratio", "cost_measured", "verdicts")}
            saved["rows"] = save_results(RESULTS, rows, key=("variant", "fraction", "seed"), **kept, budget=BUDGET, machine_info=machine_info())
    finally:
        if not args.out:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
