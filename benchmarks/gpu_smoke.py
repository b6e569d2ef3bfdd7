"""GPU smoke test: every registered model trains, samples and evaluates on CUDA, with its speed and memory.

For each shipped model, on a built-in dataset of a kind it supports
(``mnist5k`` for images, ``8gaussians`` for points, ``waveforms`` for audio),
the engine trains ``--steps`` steps on ``cuda`` with the run settings a user
gets (``autocast`` and ``channels_last`` on ``auto``: bf16 autocast where the
GPU supports it, as the defaults choose), then ``genstudio eval``'s
evaluation runs on the last checkpoint (``--n`` samples; FID for images,
MMD² for points). Models built on another run (``ldm``, ``vq-prior``) first
get a short run of the model they need. Each row records steps/s (over the
steps after the first 20, which include CUDA's start-up), the peak GPU memory
of the training run, the sampling time and the score, or the error.

Without CUDA it says so and exits 0 (nothing is written), so a CPU-only CI
can run it.

Writes benchmarks/results/gpu_smoke.json.

Usage: python benchmarks/gpu_smoke.py [--steps 300] [--n 256] [--models ddpm,vae] [--results PATH]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

from bench_common import machine_info, machine_line, save_results

RESULTS = Path(__file__).resolve().parent / "results" / "gpu_smoke.json"
DATASETS = {"image": "mnist5k", "points": "8gaussians", "audio": "waveforms"}
#: Steps of the short run a model built on another run (ldm's autoencoder, vq-prior's codebook) starts from.
DEPENDENCY_STEPS = 200
#: Steps left out of the speed (CUDA context, kernel choice and allocator warm-up).
WARMUP_STEPS = 20


def dataset_for(cls: type) -> str:
    kind = next(k for k in ("image", "points", "audio") if k in cls.data_kinds)
    return DATASETS[kind]


def quiet_run(steps: int) -> dict:
    """A user's run settings on cuda, with previews and validation off and one checkpoint at the end."""
    return {"steps": steps, "device": "cuda", "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0,
            "checkpoint_every": 0, "checkpoint_every_minutes": 0}


def train_once(model_id: str, dataset: str, steps: int, overrides: dict, out: Path) -> dict:
    """Train on cuda; steps/s after the warm-up, peak memory, and how the run ended."""
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    spec = RunSpec.create(model_id, dataset, quiet_run(steps), overrides)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    marks: dict[int, float] = {}
    final = None
    for ev in train(spec, out):
        name = type(ev).__name__
        if name == "Metrics" and ev.split == "train" and ev.step in (WARMUP_STEPS, steps):
            torch.cuda.synchronize()
            marks[ev.step] = time.perf_counter()
        elif name == "Finished":
            final = ev
    row = {"status": final.status if final else "no end", "message": final.message if final else ""}
    if len(marks) == 2:
        row["steps_per_s"] = (steps - WARMUP_STEPS) / (marks[steps] - marks[WARMUP_STEPS])
    row["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return row


def smoke(model_id: str, steps: int, n: int, root: Path) -> dict:
    """One model's row: train, then evaluate (sample and score) its last checkpoint on cuda."""
    from genstudio.core import config as cfg
    from genstudio.core.registry import get_model_class
    from genstudio.core.runs import RunFolder
    from genstudio.metrics.evaluate import evaluate_run

    cls = get_model_class(model_id)
    dataset = dataset_for(cls)
    row: dict = {"model": model_id, "dataset": dataset, "steps": steps}
    try:
        overrides = {}
        for field in cfg.specs(cls.config_class):
            if field.kind == "run":  # built on another run: train the first model it accepts, briefly
                dep = field.accepts[0] if field.accepts else "vae"
                dep_out = root / f"{model_id}-needs-{dep}"
                dep_row = train_once(dep, dataset, DEPENDENCY_STEPS, {}, dep_out)
                if dep_row["status"] != "completed":
                    raise RuntimeError(f"the {dep} run it needs ended {dep_row['status']}: {dep_row['message']}")
                overrides[field.name] = str(dep_out)
        out = root / model_id
        row.update(train_once(model_id, dataset, steps, overrides, out))
        meta = RunFolder(out).meta
        row["speedups"] = meta.get("speedups")
        if row["status"] != "completed":
            return row
        ev = evaluate_run(out, n=n, device="cuda", save=False)
        keep = ("fid", "fid_floor", "kid", "mmd2", "mmd2_floor", "reference_data", "sampler", "steps", "nfe", "sampling_seconds",
                "samples_per_second", "bits_per_dim", "likelihood_data")
        row["eval"] = {k: ev[k] for k in keep if k in ev}
    except Exception as e:  # noqa: BLE001 - one model's failure is its row; the others still run
        row.update(status="failed", message=f"{type(e).__name__}: {e}", traceback=traceback.format_exc(limit=5))
    finally:
        torch.cuda.empty_cache()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--n", type=int, default=256, help="samples (and held-out examples) per evaluation")
    ap.add_argument("--models", default="", help="comma-separated model ids (default: every shipped model)")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available here (torch.cuda.is_available() is False): the GPU path is not measured; nothing written.")
        sys.exit(0)
    from genstudio.core.registry import get_model_class, model_ids

    ids = [m for m in (args.models.split(",") if args.models else model_ids()) if get_model_class(m).__module__.startswith("genstudio.")]
    root = Path(tempfile.mkdtemp(prefix="gs-gpu-smoke-"))
    rows = []
    try:
        for model_id in ids:
            row = smoke(model_id, args.steps, args.n, root)
            row.update(date=time.strftime("%Y-%m-%d"), machine=machine_line(), gpu=torch.cuda.get_device_name(0))
            print({k: v for k, v in row.items() if k != "traceback"}, flush=True)
            rows.append(row)
            # Saved after every model: a command cut short by its time limit keeps what it measured.
            save_results(args.results, rows, key=("model",), machine_info=machine_info(), torch_cuda=torch.version.cuda)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    failed = [r["model"] for r in rows if r.get("status") != "completed"]
    print(f"{len(rows) - len(failed)}/{len(rows)} models trained, sampled and evaluated on cuda" + (f"; failed: {', '.join(failed)}" if failed else ""))


if __name__ == "__main__":
    main()
