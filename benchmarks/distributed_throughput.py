"""Training throughput of two torchrun processes against one process, with the loss each reaches.

Runs the README's command, ``torchrun --standalone --nproc-per-node 2 -m genstudio
train --model vae --dataset mnist5k --steps 300 --batch-size 64 --device cpu``,
and the same command as one plain process (``--set threads=N`` for each N in
``--single-threads``), alternating the sides for ``--repeats`` rounds. The batch
size is per process, so two processes see twice the examples per step.
Previews, evaluations and checkpoints are off: this measures training only.

For each run it records, from the run folder the command wrote:

- ``examples_per_s``: examples per second of training between the first logged
  step at or after ``--warmup`` and the last step, from ``metrics.jsonl``'s
  ``elapsed_s`` (the engine's own training clock: no start-up, no imports);
- ``examples_per_s_wall``: all examples over the command's whole wall time
  (Python and torch start-up, the process group and data loading included);
- ``loss_last``: the training loss logged at the last step (the mean of the
  last ``log_every`` = 10 steps; under torchrun also the mean over the ranks),
  and ``loss_last_100_steps``: the mean of the last 10 logged values, less noisy;
- ``other_cores_busy``: how many cores other processes kept busy on average
  while it ran (the machine's busy CPU time from /proc/stat minus this run's
  own), so a result taken on a shared machine says so.

Writes benchmarks/results/distributed_throughput.json with the machine.

Usage: nice -n 5 python benchmarks/distributed_throughput.py [--steps 300] [--batch-size 64]
       [--model vae] [--dataset mnist5k] [--single-threads 1,2] [--repeats 2] [--warmup 20]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_common import machine_info, save_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "distributed_throughput.json"
#: Training only: the periodic jobs rank 0 alone does would make the two sides do different work.
QUIET = {"sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "log_every": 10}


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores, every process)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command(args: argparse.Namespace, nproc: int, threads: int, out: Path) -> list[str]:
    train = ["train", "--model", args.model, "--dataset", args.dataset, "--steps", str(args.steps),
             "--batch-size", str(args.batch_size), "--device", "cpu", "--seed", "0", "--out", str(out)]
    sets = {**QUIET, **({"threads": threads} if nproc == 1 else {})}
    train += [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc), "-m", "genstudio", *train]
    return [sys.executable, "-m", "genstudio", *train]


def summarise(out: Path, nproc: int, batch_size: int, warmup: int) -> dict[str, Any]:
    """Examples/s and the final loss from the run folder's metrics."""
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train = [r for r in records if r.get("split") == "train"]
    start = next(r for r in train if r["step"] >= warmup)
    end = train[-1]
    per_step = batch_size * nproc
    meta = json.loads((out / "meta.json").read_text())
    return {
        "status": meta.get("status"),
        "steps": end["step"],
        "threads_per_process": meta.get("threads"),
        "speedups": meta.get("speedups"),
        "examples_per_s": (end["step"] - start["step"]) * per_step / (end["elapsed_s"] - start["elapsed_s"]),
        "timed_steps": [start["step"], end["step"]],
        "loss_last": end["loss"],
        "loss_last_100_steps": statistics.fmean(r["loss"] for r in train[-10:]),
    }


def run_once(args: argparse.Namespace, nproc: int, threads: int, root: Path) -> dict[str, Any]:
    out = root / f"p{nproc}-t{threads}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("WORLD_SIZE", None)
    busy0, own0, t0 = busy_cpu_seconds(), children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(command(args, nproc, threads, out), env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t0
    busy, own = busy_cpu_seconds() - busy0, children_cpu_seconds() - own0
    if done.returncode != 0:
        raise SystemExit(f"{nproc} process(es) failed with exit code {done.returncode}:\n{done.stderr[-3000:]}")
    row = {"processes": nproc, "batch_per_process": args.batch_size, "global_batch": args.batch_size * nproc,
           **summarise(out, nproc, args.batch_size, args.warmup)}
    row["wall_s"] = wall
    row["examples_per_s_wall"] = row["steps"] * row["global_batch"] / wall
    row["other_cores_busy"] = max(0.0, (busy - own) / wall)
    print(json.dumps(row), flush=True)
    return row


def median_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per configuration: medians of the repeats, the repeats kept."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["processes"], r["threads_per_process"]), []).append(r)
    out = []
    for (nproc, threads), rs in groups.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("examples_per_s", "examples_per_s_wall", "wall_s", "loss_last", "loss_last_100_steps", "other_cores_busy")}
        out.append({"processes": nproc, "threads_per_process": threads, "batch_per_process": rs[0]["batch_per_process"],
                    "global_batch": rs[0]["global_batch"], "steps": rs[0]["steps"], "speedups": rs[0]["speedups"],
                    **med, "repeats": rs})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="vae")
    ap.add_argument("--dataset", default="mnist5k")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64, help="per process")
    ap.add_argument("--single-threads", default="1,2", help="torch threads of the one-process runs, comma-separated")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=20, help="first step of the timed window")
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gs-dist-"))
    load_start = list(os.getloadavg())
    rows = []
    try:
        for _ in range(args.repeats):
            rows.append(run_once(args, 2, 1, root))  # torchrun's own default: one thread per process
            for threads in (int(t) for t in args.single_threads.split(",")):
                rows.append(run_once(args, 1, threads, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    rows = median_rows(rows)
    save_results(args.results, rows, machine_info=machine_info(), model=args.model, dataset=args.dataset,
                 steps=args.steps, warmup=args.warmup, nice=os.nice(0), load_average_at_start=load_start,
                 command=" ".join(["python", "benchmarks/distributed_throughput.py", *sys.argv[1:]]))
    for r in rows:
        print(f"{r['processes']} process(es) x {r['threads_per_process']} thread(s): {r['examples_per_s']:.0f} examples/s "
              f"({r['examples_per_s_wall']:.0f} over the wall time), loss at step {r['steps']} {r['loss_last']:.1f} "
              f"(last 100 steps {r['loss_last_100_steps']:.1f}); other processes kept {r['other_cores_busy']:.2f} cores busy")


if __name__ == "__main__":
    main()
