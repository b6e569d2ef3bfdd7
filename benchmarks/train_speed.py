"""Training speed: ``genstudio train``'s engine against a plain PyTorch loop, and 1 vs 2 threads.

For each family's default config on mnist5k, in one process and interleaved
(plain, engine, plain, engine, ...) so machine noise hits both alike:

* plain: a hand-written loop over pre-shuffled batches doing exactly the
  model's forward, ``zero_grad``/``backward``/``step`` and EMA update, with no
  finiteness checks, no metrics, no run folder;
* engine: ``genstudio.core.engine.train`` with previews, evaluations and
  checkpoints switched off (``loop``), which is what the 0.95 target is about,
  and with the default run settings (``defaults``: metrics every 10 steps,
  previews, evaluations, checkpoints), reported beside it.

Writes benchmarks/results/train_speed.json and prints a Markdown table.
Usage: python benchmarks/train_speed.py [--steps 60] [--repeats 3] [--models vae,dcgan,ddpm]
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
import torch.nn.functional as F

from genstudio.core.device import cpu_count
from bench_common import save_results

from genstudio.core import speedups as speedmod
from genstudio.core.engine import train
from genstudio.core.loading import build_model, run_speedups
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset

RESULTS = Path(__file__).parent / "results" / "train_speed.json"


def plain_step_fn(model_id: str, model):
    """The model's update written as a bare PyTorch loop body."""
    if model_id == "vae":

        def step(x):
            x = model._prepare(x)
            eps = torch.randn(x.shape[0], model.latent_dim)
            recon, kl_dims, _ = model._elbo_terms(x, eps)
            loss = recon.mean() + model.config.beta * kl_dims.sum(1).mean()
            model.opt.zero_grad()
            loss.backward()
            model.opt.step()

    elif model_id == "dcgan":

        def step(x):
            real = model._to_model(x)
            fake = model.generator(torch.randn(real.shape[0], model.latent_dim))
            d = model._losses(real, fake)
            model.opt_d.zero_grad()
            d["d_loss"].backward()
            model.opt_d.step()
            model.discriminator.requires_grad_(False)
            logit = model.discriminator(fake)
            g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            model.opt_g.zero_grad()
            g_loss.backward()
            model.opt_g.step()
            model.discriminator.requires_grad_(True)
            if model.ema is not None:
                model.ema.update(model.generator)

    elif model_id == "ddpm":

        def step(x):
            x0 = model.to_model(x)
            t = torch.randint(0, model.schedule.num_timesteps, (x0.shape[0],))
            loss = model._loss(x0, t, torch.randn_like(x0))
            model.opt.zero_grad()
            loss.backward()
            if model.config.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.net.parameters(), model.config.grad_clip)
            model.opt.step()
            model.lr_schedule.step()
            model.ema.update(model.net)

    else:
        raise ValueError(model_id)
    return step


def time_plain(spec: RunSpec, steps: int, warmup: int = 5) -> float:
    ds = load_dataset(spec.run.dataset, spec.data)
    model = build_model(spec, ds.info, torch.device("cpu"))
    model.train()
    # The same memory layout / precision the engine resolves for this run (core/speedups.py), so the
    # ratio measures the engine's own overhead; benchmarks/speedups.py measures what the switches buy.
    sp = run_speedups(spec, model, torch.device("cpu"))
    speedmod.apply(model, sp)
    step = plain_step_fn(spec.run.model, model)
    bs = spec.run.batch_size
    xs = ds.as_float(ds.x[torch.randperm(len(ds))[: bs * (steps + warmup)]])
    if sp.channels_last and xs.dim() == 4:
        xs = xs.contiguous(memory_format=torch.channels_last)
    if sp.autocast != "off":
        inner = step

        def step(x):
            # The plain loop autocasts its whole step, as it did when the committed numbers were taken.
            with speedmod.autocast_context(sp)():
                inner(x)
    for i in range(warmup):
        step(xs[i * bs : (i + 1) * bs])
    t0 = time.perf_counter()
    for i in range(warmup, warmup + steps):
        step(xs[i * bs : (i + 1) * bs])
    return steps / (time.perf_counter() - t0)


def time_engine(spec: RunSpec, steps: int, warmup: int = 5) -> float:
    out = Path(tempfile.mkdtemp(prefix="gs-bench-"))
    try:
        spec = spec.with_overrides(run={"steps": steps + warmup})
        t0 = None
        for ev in train(spec, out / "run"):
            name = type(ev).__name__
            # Start the clock once the warm-up steps are done (the first Metrics at step >= warmup).
            if name == "Metrics" and ev.split == "train":
                if t0 is None and ev.step >= warmup:
                    t0, s0 = time.perf_counter(), ev.step
                elif t0 is not None:
                    # Stop the clock at the last step's metrics: the final checkpoint and
                    # grid happen once per run, not per step.
                    t1, s1 = time.perf_counter(), ev.step
            if name == "Finished":
                assert ev.status == "completed", ev.message
        return (s1 - s0) / (t1 - t0)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="vae,dcgan,ddpm")
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--threads", default="", help="comma-separated thread counts (default: 1 and all cores)")
    args = ap.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cpu_count()})

    rows = []
    for model_id in args.models.split(","):
        for threads in thread_counts:
            torch.set_num_threads(threads)
            loop = RunSpec.create(
                model_id,
                args.dataset,
                {"threads": threads, "log_every": 5, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0},
            )
            defaults = RunSpec.create(model_id, args.dataset, {"threads": threads})
            plain, engine, engine_def = [], [], []
            for _ in range(args.repeats):
                plain.append(time_plain(loop, args.steps))
                engine.append(time_engine(loop, args.steps))
                engine_def.append(time_engine(defaults, args.steps))
            row = {
                "model": model_id,
                "threads": threads,
                "batch_size": loop.run.batch_size,
                "plain_steps_per_s": statistics.median(plain),
                "engine_steps_per_s": statistics.median(engine),
                "engine_defaults_steps_per_s": statistics.median(engine_def),
            }
            row["ratio"] = row["engine_steps_per_s"] / row["plain_steps_per_s"]
            row["ratio_defaults"] = row["engine_defaults_steps_per_s"] / row["plain_steps_per_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)

    # Earlier rows of other (model, threads) pairs stay, so one model can be re-measured alone.
    rows = save_results(RESULTS, rows, ("model", "threads"), steps=args.steps, repeats=args.repeats)
    print("\n| model | threads | plain step/s | engine step/s | ratio | engine with previews/evals/ckpts | ratio |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['threads']} | {r['plain_steps_per_s']:.2f} | {r['engine_steps_per_s']:.2f} | {r['ratio']:.3f} | "
            f"{r['engine_defaults_steps_per_s']:.2f} | {r['ratio_defaults']:.3f} |"
        )


if __name__ == "__main__":
    main()
