"""Run every benchmark, one after another, so they do not skew each other's timings.

Each script writes its own ``benchmarks/results/*.json``; ``benchmarks/report.py``
then renders the marked tables of README.md and ``benchmarks/RESULTS*.md`` from
them (this script runs it last), and the prose that quotes them is checked by
``tests/test_benchmark_numbers.py``. ``--only a,b`` runs a subset; ``--list``
names them.

Usage: python benchmarks/run_all.py [--only train_speed,speedups] [--list]
(``bash scripts/dev.sh bench`` runs this after setting up the environment.)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> arguments; ordered from the quick to the long ones.
BENCHMARKS: dict[str, list[str]] = {
    "ui_redraw": [],
    "latent_decode": [],
    "diffusion_scrub": [],
    "pixelcnn_sampling": [],
    "sampling_speed": [],
    "train_speed": ["--steps", "30", "--repeats", "2"],
    "speedups": ["--steps", "30", "--repeats", "2"],
    "ui_latency": ["--seconds", "60"],
    "distributed_throughput": [],
    "time_to_quality": [],
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated benchmark names")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    names = [n for n in BENCHMARKS if (HERE / f"{n}.py").is_file()]
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in names]
        if unknown:
            print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(names)}", file=sys.stderr)
            return 2
        names = wanted
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
    failed = []
    for name in names:
        print(f"== {name} ==", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(HERE / f"{name}.py"), *BENCHMARKS[name]], env=env)
        print(f"== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s ==", flush=True)
        if rc != 0:
            failed.append(name)
    # The tables follow the new numbers; prose that quotes them is named here when it no longer matches.
    if subprocess.call([sys.executable, str(HERE / "report.py")], env=env) != 0:
        failed.append("report (prose quoting a results file differs: see above)")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
