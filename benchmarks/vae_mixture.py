"""How many components the VAE's fitted mixture prior should have, screened on finished 10-minute runs.

The mixture (ex-post density estimation, Ghosh et al. 2020) is fitted to the
posterior means the VAE banked during training, when samples are drawn; the
number of components changes sampling only, not training. So the screen needs
no new training: each run's last checkpoint is evaluated as ``genstudio eval``
evaluates it (n=500 held-out digits, the mnist5k classifier's features), once
per component count and per sample seed, with only ``mixture_components``
changed in a copy of the run's config. Beside the FID, the mixture's own
held-out log-likelihood (fitted to 90% of the banked codes, scored on the
other 10%) says where more components stop describing the codes and start
memorising them.

Writes benchmarks/results/vae_mixture.json (rows keyed by run and component
count; the hand-written ``verdicts`` kept); ``python benchmarks/report.py``
renders its table.

Usage: python benchmarks/vae_mixture.py --runs RUN_DIR[,RUN_DIR] [--components 10,20,30,50,100] [--eval-seeds 0,1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench_common import machine_info, save_results
from genstudio.core.loading import load_run_model
from genstudio.core.runs import RunFolder
from genstudio.metrics.evaluate import evaluate_run
from genstudio.models.autoencoders.latent_density import fit_mixture

RESULTS = Path(__file__).resolve().parent / "results" / "vae_mixture.json"


def heldout_loglik(codes: torch.Tensor, components: int, seed: int = 0) -> tuple[float, float]:
    """(mean log-likelihood of 10% of the codes under the mixture fitted to the other 90%, seconds to fit on all).

    Both fits are the one sampling makes (``fit_mixture``); the second is what sampling pays once per checkpoint.
    """
    idx = torch.as_tensor(np.random.default_rng(seed).permutation(len(codes)))
    cut = int(0.9 * len(codes))
    held_out = fit_mixture(codes[idx[:cut]], components, seed).log_prob(codes[idx[cut:]]).mean()
    start = time.perf_counter()
    fit_mixture(codes, components, seed)
    return float(held_out), time.perf_counter() - start


def copy_with_components(run: RunFolder, step: int, components: int, into: Path) -> Path:
    """The run with only ``mixture_components`` changed in its config and its one checkpoint, in a folder of its own."""
    out = into / f"{run.path.name}-k{components}"
    (out / "checkpoints").mkdir(parents=True)
    spec = run.spec().with_overrides(model={"mixture_components": components})
    (out / run.config_path.name).write_text(spec.to_toml())
    shutil.copy(run.meta_path, out / run.meta_path.name)
    for f in run.checkpoint_dir.glob(f"step_{step:08d}.*"):
        shutil.copy(f, out / "checkpoints" / f.name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="finished vae run folders, comma-separated (e.g. the 10-minute runs of two seeds)")
    ap.add_argument("--components", default="10,20,30,50,100")
    ap.add_argument("--eval-seeds", default="0,1", help="seeds of the 500 samples each evaluation draws")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="gs-vae-mixture-"))
    try:
        for path in args.runs.split(","):
            run = RunFolder(path)
            model, spec, step = load_run_model(run.path, device="cpu")
            codes = model.code_bank.filled().double()
            for k in [int(c) for c in args.components.split(",")]:
                loglik, fit_s = heldout_loglik(codes, k)
                copy = copy_with_components(run, step, k, tmp)
                fids = {}
                for s in [int(v) for v in args.eval_seeds.split(",")]:
                    r = evaluate_run(copy, n=args.n, checkpoint=step, device="cpu", save=False, seed=s)
                    fids[str(s)] = {"fid": r["fid"], "kid": r.get("kid"), "fid_floor": r.get("fid_floor")}
                row = {"run": run.path.name, "run_seed": spec.run.seed, "checkpoint_step": step, "train_wall_s": run.meta.get("wall_time_s"),
                       "components": k, "codes": len(codes), "latent_dim": codes.shape[1], "heldout_loglik": loglik,
                       "fit_seconds": fit_s, "n": args.n, "eval": fids, "date": time.strftime("%Y-%m-%d")}
                print(json.dumps(row), flush=True)
                save_results(RESULTS, [row], key=("run_seed", "checkpoint_step", "components"), machine_info=machine_info(),
                             verdicts=json.loads(RESULTS.read_text()).get("verdicts", {}) if RESULTS.is_file() else {})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
