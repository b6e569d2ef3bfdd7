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

from bench_common import machine_info, save_results

RESULTS = Path(__file__).resolve().parent / "results" / "vae_mixture.json"


def heldout_loglik(codes: np.ndarray, components: int, seed: int = 0) -> tuple[float, float]:
    """(mean log-likelihood of 10% of the codes under a mixture fitted to the other 90%, seconds to fit on all)."""
    from sklearn.mixture import GaussianMixture

    from genstudio.models.autoencoders.latent_density import REG_COVAR, fit_mixture

    idx = np.random.default_rng(seed).permutation(len(codes))
    cut = int(0.9 * len(codes))
    gm = GaussianMixture(components, covariance_type="full", reg_covar=REG_COVAR, random_state=seed, max_iter=200)
    gm.fit(codes[idx[:cut]])
    start = time.perf_counter()
    import torch

    fit_mixture(torch.as_tensor(codes), components)  # what sampling pays, once per new checkpoint
    return float(gm.score(codes[idx[cut:]])), time.perf_counter() - start


def copy_with_components(run_dir: Path, step: int, components: int, into: Path) -> Path:
    """The run's config with ``mixture_components`` changed and its one checkpoint, in a folder of its own."""
    out = into / f"{run_dir.name}-k{components}"
    (out / "checkpoints").mkdir(parents=True)
    text = (run_dir / "config.toml").read_text()
    lines = [f"mixture_components = {components}" if line.startswith("mixture_components =") else line for line in text.splitlines()]
    if not any(line.startswith("mixture_components =") for line in lines):
        raise SystemExit(f"{run_dir}/config.toml has no mixture_components: not a VAE run?")
    (out / "config.toml").write_text("\n".join(lines) + "\n")
    shutil.copy(run_dir / "meta.json", out / "meta.json")
    for f in (run_dir / "checkpoints").glob(f"step_{step:08d}.*"):
        shutil.copy(f, out / "checkpoints" / f.name)
    (out / "checkpoints" / "latest.json").write_text(json.dumps({"step": step, "weights": f"step_{step:08d}.safetensors", "state": f"step_{step:08d}.state.pt"}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="finished vae run folders, comma-separated (e.g. the 10-minute runs of two seeds)")
    ap.add_argument("--components", default="10,20,30,50,100")
    ap.add_argument("--eval-seeds", default="0,1", help="seeds of the 500 samples each evaluation draws")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()

    from genstudio.core.loading import load_run_model
    from genstudio.core.runs import RunFolder
    from genstudio.metrics.evaluate import evaluate_run

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="gs-vae-mixture-"))
    try:
        for run in [Path(r) for r in args.runs.split(",")]:
            model, spec, step = load_run_model(run, device="cpu")
            codes = model.code_bank.filled().double().numpy()
            meta = RunFolder(run).meta
            for k in [int(c) for c in args.components.split(",")]:
                loglik, fit_s = heldout_loglik(codes, k)
                copy = copy_with_components(run, step, k, tmp)
                fids = {}
                for s in [int(v) for v in args.eval_seeds.split(",")]:
                    r = evaluate_run(copy, n=args.n, device="cpu", save=False, seed=s)
                    fids[str(s)] = {"fid": r["fid"], "kid": r.get("kid"), "fid_floor": r.get("fid_floor")}
                row = {"run": run.name, "run_seed": spec.run.seed, "checkpoint_step": step, "train_wall_s": meta.get("wall_time_s"),
                       "components": k, "codes": len(codes), "latent_dim": codes.shape[1], "heldout_loglik": loglik,
                       "fit_seconds": fit_s, "n": args.n, "eval": fids, "date": time.strftime("%Y-%m-%d")}
                print(json.dumps(row), flush=True)
                rows.append(row)
                save_results(RESULTS, [row], key=("run_seed", "checkpoint_step", "components"), machine_info=machine_info(),
                             verdicts=json.loads(RESULTS.read_text()).get("verdicts", {}) if RESULTS.is_file() else {})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
