"""DDPM training methods on mnist5k at compute-matched step budgets (issue 21, the diffusion row).

A shared 2-core machine makes wall-clock budgets meaningless, so each method
gets the steps that cost what the baseline's budget costs: the baseline
(the defaults this file was started with) trains ``--budget`` steps (2,341:
what it made in 10 idle minutes, 1 torch thread, bf16 autocast), a method
whose step costs r times the baseline's trains ``budget / r``. r is measured
in ONE process, the methods' steps interleaved in short rounds, so a load
change hits every method alike and the ratio survives it (``--timing``).

Every run is exactly what a user runs: ``genstudio train --steps N --set ...``
(1 torch thread, periodic previews, evaluations and mid-run checkpoints off:
they cost time, not quality), then ``genstudio eval RUN --n 500 --sampler
ddim --steps 50`` (the project's classifier features), or the method's own
sampler for sampler rows.

Usage:
    python benchmarks/ddpm_methods.py --timing [--methods a,b]          # step-cost ratios -> results file
    python benchmarks/ddpm_methods.py --fraction 0.25 --methods a,b    # screen at a quarter budget
    python benchmarks/ddpm_methods.py --fraction 1 --methods a --seeds 0,1
    python benchmarks/ddpm_methods.py --list

Results: benchmarks/results/ddpm_methods.json (rows keyed by method, fraction
and seed; earlier rows kept), rendered into RESULTS.md by report.py.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench_common import save_results

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "ddpm_methods.json"
BUDGET = 2341  # the old defaults' steps in 10 idle CPU minutes (RESULTS.md, time to quality)
#: One torch thread for the eval too (``genstudio eval`` takes torch's default, all cores, which on a
#: loaded machine spends its time in thread spin-waits).
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}

#: Settings that every run of this benchmark pins, so that the methods differ
#: only in their own settings: the defaults the benchmark started from (the
#: "baseline") are written out, not taken from the current defaults.
BASELINE = {
    "prediction": "eps", "schedule": "linear", "loss_weighting": "uniform",
    "base_channels": 16, "channel_mults": [1, 2, 4], "num_res_blocks": 1, "attention": True,
    "dropout": 0.0, "lr": 1e-3, "warmup_steps": 100, "ema_decay": 0.999,
}
#: Run settings that only cost time (off), and the thread count of the issue.
RUN_SETTINGS = {
    "threads": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0,
    "checkpoint_every": 0, "checkpoint_every_minutes": 0,
}

#: name -> (what the method is, model overrides on top of BASELINE, run overrides, eval sampler and steps).
METHODS: dict[str, dict] = {
    "baseline": {"what": "defaults before issue 21: eps, linear, 16 ch [1,2,4], lr 1e-3"},
    "min-snr": {"what": "min-SNR-5 loss weighting (Hang et al. 2023)", "model": {"loss_weighting": "min-snr"}},
    "v-cosine": {"what": "v-prediction with the cosine schedule", "model": {"prediction": "v", "schedule": "cosine"}},
    "v-cosine-min-snr": {"what": "v-prediction, cosine, min-SNR-5", "model": {"prediction": "v", "schedule": "cosine", "loss_weighting": "min-snr"}},
    "cosine": {"what": "cosine schedule (eps)", "model": {"schedule": "cosine"}},
    "lr2e-3": {"what": "lr 2e-3, warm-up 200", "model": {"lr": 2e-3, "warmup_steps": 200}},
    "lr3e-3": {"what": "lr 3e-3, warm-up 300", "model": {"lr": 3e-3, "warmup_steps": 300}},
    "lr5e-4": {"what": "lr 5e-4", "model": {"lr": 5e-4}},
    "ema0.995": {"what": "EMA decay 0.995 (warm-up as in core.ema)", "model": {"ema_decay": 0.995}},
    "ema0.99": {"what": "EMA decay 0.99", "model": {"ema_decay": 0.99}},
    "no-ema": {"what": "sample the raw weights (EMA off)", "eval_raw": True},
    "w24": {"what": "U-Net 24 ch [1,2,4]", "model": {"base_channels": 24}},
    "w32-122": {"what": "U-Net 32 ch [1,2,2]", "model": {"base_channels": 32, "channel_mults": [1, 2, 2]}},
    "w16-2blocks": {"what": "U-Net 16 ch [1,2,4], 2 res blocks", "model": {"num_res_blocks": 2}},
    "w16-12": {"what": "U-Net 16 ch [1,2] (two levels)", "model": {"channel_mults": [1, 2]}},
    "w16-124-noattn": {"what": "U-Net 16 ch [1,2,4], no attention", "model": {"attention": False}},
    "w8-248": {"what": "U-Net 8 ch [2,4,8]: cheap full resolution, wide low levels", "model": {"base_channels": 8, "channel_mults": [2, 4, 8]}},
    "bs32": {"what": "batch 32 (cheaper steps, more of them)", "run": {"batch_size": 32}},
    "bs128": {"what": "batch 128", "run": {"batch_size": 128}},
    "channels-last": {"what": "channels-last memory layout", "run": {"channels_last": "on"}},
    "fp32": {"what": "no bf16 autocast", "run": {"autocast": "off"}},
    "ddim100": {"what": "sampler DDIM 100 steps (baseline weights)", "eval": ("ddim", 100), "same_as": "baseline"},
    "ddim25": {"what": "sampler DDIM 25 steps (baseline weights)", "eval": ("ddim", 25), "same_as": "baseline"},
    "dpm2m50": {"what": "sampler DPM-Solver++(2M) 50 steps (baseline weights)", "eval": ("dpm++2m", 50), "same_as": "baseline"},
    "dpm2m25": {"what": "sampler DPM-Solver++(2M) 25 steps (baseline weights)", "eval": ("dpm++2m", 25), "same_as": "baseline"},
    "vcm-dpm2m20": {"what": "sampler DPM-Solver++(2M) 20 steps (v-cosine-min-snr weights)", "eval": ("dpm++2m", 20),
                    "same_as": "v-cosine-min-snr", "model": {"prediction": "v", "schedule": "cosine", "loss_weighting": "min-snr"}},
    "vcm-ddim20": {"what": "sampler DDIM 20 steps (v-cosine-min-snr weights)", "eval": ("ddim", 20),
                   "same_as": "v-cosine-min-snr", "model": {"prediction": "v", "schedule": "cosine", "loss_weighting": "min-snr"}},
    "ddpm1000": {"what": "sampler DDPM ancestral 1000 steps (baseline weights)", "eval": ("ddpm", 1000), "same_as": "baseline"},
}


def _sets(d: dict) -> list[str]:
    out = []
    for k, v in d.items():
        out += ["--set", f"{k}={json.dumps(v) if not isinstance(v, str) else v}"]
    return out


def method_settings(name: str) -> tuple[dict, dict]:
    """(model settings, run settings) of a method on top of the baseline."""
    m = METHODS[name]
    return {**BASELINE, **m.get("model", {})}, {**RUN_SETTINGS, **m.get("run", {})}


# -- step cost ------------------------------------------------------------------------------------
def time_ratios(names: list[str], rounds: int = 4, steps_per_round: int = 4) -> dict[str, float]:
    """Seconds per training step of each method over the baseline's, interleaved in one process."""
    from genstudio.core import speedups as speedmod
    from genstudio.core.data_types import Batch
    from genstudio.core.loading import build_model, run_speedups
    from genstudio.core.spec import RunSpec
    from genstudio.data.dataset import load_dataset

    torch.set_num_threads(1)
    names = ["baseline"] + [n for n in names if n != "baseline"]
    steppers = {}
    for name in names:
        model_set, run_set = method_settings(name)
        spec = RunSpec.create("ddpm", "mnist5k", run_overrides=run_set, model_overrides=model_set)
        ds = load_dataset("mnist5k", spec.data)
        model = build_model(spec, ds.info, torch.device("cpu"))
        sp = run_speedups(spec, model, torch.device("cpu"))
        speedmod.apply(model, sp)
        to_layout = speedmod.batch_transform(sp)
        bs = spec.run.batch_size
        x = ds.as_float(ds.x[torch.randperm(len(ds))[:bs]])
        batch = to_layout(Batch(x, None))
        for _ in range(3):  # warm-up: allocator, autocast caches
            model.train_step(batch)
        steppers[name] = (model, batch)
    spent = {n: 0.0 for n in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            model, batch = steppers[name]
            t0 = time.perf_counter()
            for _ in range(steps_per_round):
                model.train_step(batch)
            spent[name] += time.perf_counter() - t0
    base = spent["baseline"]
    return {n: spent[n] / base for n in names} | {"_baseline_s_per_step": base / (rounds * steps_per_round)}


#: Settings that leave the network, the batch and the step's work unchanged (the loss weight adds a
#: few operations on one number per example): their step costs the baseline's, r = 1 unless measured.
SAME_COST = {"schedule", "prediction", "lr", "warmup_steps", "ema_decay", "loss_weighting", "snr_gamma"}


def cost_ratio(name: str, ratios: dict[str, float]) -> float:
    """r of a method: 1 where it does the baseline's work per step (a measured r is noise around 1 there), else measured."""
    m = METHODS[name]
    if m.get("same_as") or (not m.get("run") and set(m.get("model", {})) <= SAME_COST):
        return 1.0  # sampler-only rows train the baseline; the others do the baseline's work per step
    if name in ratios:
        return ratios[name]
    raise SystemExit(f"no step-cost ratio for '{name}': run --timing --methods {name} first")


# -- one run ----------------------------------------------------------------------------------------
def train_and_eval(name: str, steps: int, seed: int, work: Path, n: int) -> dict:
    m = METHODS[name]
    model_set, run_set = method_settings(name)
    out = work / f"{m.get('same_as', name)}-{steps}-s{seed}"
    genstudio = [sys.executable, "-m", "genstudio"]
    t0 = time.time()
    if not (out / "meta.json").is_file() or not list((out / "checkpoints").glob("*")):
        shutil.rmtree(out, ignore_errors=True)
        cmd = genstudio + ["train", "--model", "ddpm", "--dataset", "mnist5k", "--steps", str(steps), "--seed", str(seed), "--out", str(out)]
        subprocess.run(cmd + _sets(run_set) + _sets(model_set), check=True, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL)
    t1 = time.time()
    sampler, sampler_steps = m.get("eval", ("ddim", 50))
    cmd = genstudio + ["eval", str(out), "--n", str(n), "--sampler", sampler, "--steps", str(sampler_steps), "--no-save"]
    if m.get("eval_raw"):
        result = eval_raw(out, n, sampler, sampler_steps)
    else:
        result = json.loads(subprocess.run(cmd, check=True, cwd=ROOT, env=ENV, capture_output=True, text=True).stdout)
    return {"train_s": round(t1 - t0, 1), "eval_s": round(time.time() - t1, 1), "fid": result["fid"], "kid": result.get("kid"),
            "precision": result.get("precision"), "recall": result.get("recall"), "bpd": result.get("bpd"),
            "fid_floor": result.get("fid_floor"), "features": result.get("features"),
            "sampler": f"{sampler} {sampler_steps}", "run": str(out.relative_to(ROOT) if out.is_relative_to(ROOT) else out)}


def eval_raw(out: Path, n: int, sampler: str, steps: int) -> dict:
    """``genstudio eval`` of the raw (not averaged) weights: the EMA's shadow replaced by the network before scoring."""
    code = (
        "import json, sys, torch\n"
        "from genstudio.metrics import evaluate as ev\n"
        "orig = ev.load_run_model\n"
        "def raw(*a, **k):\n"
        "    model, spec, step = orig(*a, **k)\n"
        "    model.ema.shadow.load_state_dict(model.net.state_dict())\n"
        "    return model, spec, step\n"
        "ev.load_run_model = raw\n"
        f"print(json.dumps(ev.evaluate_run({str(out)!r}, n={n}, sampler={sampler!r}, steps={steps}, save=False)))\n"
    )
    return json.loads(subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=ENV, capture_output=True, text=True).stdout.splitlines()[-1])


def load_rows() -> tuple[list[dict], dict]:
    if RESULTS.is_file():
        data = json.loads(RESULTS.read_text())
        return data.get("rows", []), data.get("ratios", {})
    return [], {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default="baseline", help="comma-separated method names (--list)")
    ap.add_argument("--timing", action="store_true", help="measure step-cost ratios against the baseline")
    ap.add_argument("--fraction", type=float, default=0.25, help="fraction of the budget (0.25: screening, 1: confirmation)")
    ap.add_argument("--budget", type=int, default=BUDGET, help="the baseline's steps for the full budget")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--work", default=str(ROOT / "runs" / "ddpm_methods"), help="folder for the run folders")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--verdict", action="append", default=[], metavar="METHOD=TEXT",
                    help="record the decision on a method (e.g. 'min-snr=kept'), shown in RESULTS.md")
    args = ap.parse_args()
    if args.list:
        for name, m in METHODS.items():
            print(f"{name:18s} {m['what']}")
        return
    names = [s.strip() for s in args.methods.split(",") if s.strip()]
    for name in names:
        if name not in METHODS:
            raise SystemExit(f"unknown method '{name}'; --list shows them")
    rows, ratios = load_rows()
    verdicts = json.loads(RESULTS.read_text()).get("verdicts", {}) if RESULTS.is_file() else {}
    if args.verdict:
        for item in args.verdict:
            name, sep, text = item.partition("=")
            if not sep or name not in METHODS:
                raise SystemExit(f"--verdict needs METHOD=TEXT with a known method, got {item!r}")
            verdicts[name] = text
        save_results(RESULTS, rows, budget=args.budget, ratios=ratios, verdicts=verdicts)
        return
    if args.timing:
        measured = time_ratios([n for n in names if not METHODS[n].get("same_as")])
        print(json.dumps(measured, indent=1))
        ratios.update({k: round(v, 4) for k, v in measured.items()})
        save_results(RESULTS, rows, budget=args.budget, ratios=ratios, verdicts=verdicts)
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    new = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in names:
            r = cost_ratio(name, ratios)
            steps = max(1, round(args.budget * args.fraction / r))
            row = {"method": name, "what": METHODS[name]["what"], "fraction": args.fraction, "seed": seed, "ratio": round(r, 3),
                   "measured_ratio": ratios.get(name), "steps": steps}
            row.update(train_and_eval(name, steps, seed, work, args.n))
            print(json.dumps(row), flush=True)
            new.append(row)
            rows = [x for x in rows if (x["method"], x["fraction"], x["seed"]) != (name, args.fraction, seed)] + [row]
            save_results(RESULTS, rows, budget=args.budget, ratios=ratios, verdicts=verdicts)


if __name__ == "__main__":
    main()
