"""Fault injection, counted: each fault of issue 18 injected N times into real training processes.

    python benchmarks/reliability.py [--n 10] [--only kill-train,disk-full] [--seed 0]

For every fault, a ``genstudio train`` process (the command line's own
``main``, in a process of its own) trains a small VAE on ``moons`` and the
fault is injected at a seeded random point:

- ``kill-train``: SIGKILL from outside after a random delay;
- ``kill-save``: SIGKILL inside a checkpoint write, at a random phase of it
  (temporary weights written, cut half-way, renamed; state written, renamed;
  pointer written, renamed), sent by the process to itself from a wrapper
  installed in that process only;
- ``disk-full``: ``OSError(ENOSPC)`` from the weights or the state write of
  a random checkpoint (the run must end ``failed`` naming the file);
- ``second-process``: while a run trains, a second ``train`` into the same
  ``--out`` and a ``train --resume`` of it are started (both must be refused);
- ``corrupt-checkpoint``: the run is killed after a random step, then its
  newest checkpoint is cut in half, emptied or deleted.

Then the run is resumed (``train --resume``) to the end and compared with one
uninterrupted run of the same settings: a run is *lost* when the resume
fails or does not complete; it *resumed equal* when every metric of every
step and every final weight equal the uninterrupted run's. Results go to
``results/reliability.json`` with the machine; ``markdown_table`` renders the
table in RESULTS.md (``python benchmarks/report.py``). Importing this module
runs nothing.
"""

from __future__ import annotations

import argparse
import errno
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from genstudio.testing.faults import SAVE_PHASES, die, kill_inside_checkpoint_write

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "reliability.json"
STEPS, EVERY = 60, 10
TRAIN = [
    "train", "--model", "vae", "--dataset", "moons", "--steps", str(STEPS), "--seed", "1",
    "--set", "hidden=32", "--set", "latent_dim=2", "--set", "n_points=2000", "--set", "batch_size=64",
    "--set", f"checkpoint_every={EVERY}", "--set", "log_every=1", "--set", "eval_every=20", "--set", "eval_batches=1",
    "--set", "sample_every=0", "--set", "preview_every_s=0", "--set", "preview_n=4", "--set", "threads=1",
    "--set", "keep_last=0",  # every checkpoint stays, so "the newest complete one" is known exactly
]  # fmt: skip
FAULTS = ("kill-train", "kill-save", "disk-full", "second-process", "corrupt-checkpoint")
TIMEOUT_S = 300  # a guard against a hung child
PRELOAD = ["__main__", "torch", "torch._dynamo", "torch._inductor", "PIL.Image", "PIL.PngImagePlugin", "safetensors.torch",
           "sklearn.datasets", "genstudio.cli", "genstudio.core.engine", "genstudio.data.dataset"]  # fmt: skip


# -- inside the child process ------------------------------------------------------------------


def _install(plan: dict[str, Any]) -> None:
    """Install this child's fault: wrappers around the run folder's writes, in this process only."""
    import genstudio.core.runs as runs

    kind = plan.get("fault")
    if kind == "kill-save":
        kill_inside_checkpoint_write(plan["step"], plan["phase"])
    elif kind == "disk-full":
        stem = f"step_{plan['step']:08d}"
        if plan["file"] == "weights":
            real_save = runs.save_file

            def save_file(tensors, path, metadata=None):
                if stem in Path(path).name:
                    Path(path).write_bytes(b"\0" * 100)  # a part written before the disk filled
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                real_save(tensors, path, metadata=metadata)

            runs.save_file = save_file
        else:
            real_atomic = runs.atomic_write_bytes

            def atomic_write_bytes(path, data):
                if Path(path).name == f"{stem}.state.pt":
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                real_atomic(path, data)

            runs.atomic_write_bytes = atomic_write_bytes
    elif kind in ("kill-after-step", "slow"):
        real_append = runs.RunFolder.append_metrics

        def append_metrics(self, records):
            real_append(self, records)
            if kind == "slow":  # a longer run, same numbers: the second process surely meets it training
                time.sleep(plan["sleep_s"])
            elif records and records[0].get("step") == plan["step"] and records[0].get("split") == "train":
                die()

        runs.RunFolder.append_metrics = append_metrics


def child(argv: list[str], plan: dict[str, Any], log: str) -> None:
    """A training process: the command line's main with ``plan``'s fault installed; output to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    _install(plan)
    from genstudio.cli import main as cli_main

    sys.exit(cli_main(argv))


# -- the parent side -----------------------------------------------------------------------------


class Runner:
    """Starts training processes from one forkserver that has imported torch and genstudio once."""

    def __init__(self, workdir: Path):
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.workdir = workdir

    def start(self, argv: list[str], plan: dict[str, Any], log: Path):
        p = self.ctx.Process(target=child, args=(argv, plan, str(log)), daemon=True)
        p.start()
        return p

    @staticmethod
    def finish(p) -> int:
        p.join(TIMEOUT_S)
        if p.is_alive():
            p.kill()
            p.join()
            return -999
        return p.exitcode

    def run(self, argv: list[str], plan: dict[str, Any], log: Path) -> int:
        return self.finish(self.start(argv, plan, log))


def wait_running(out: Path, p, timeout: float = TIMEOUT_S) -> bool:
    from genstudio.core.runs import RunFolder

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.is_alive():
        try:
            if RunFolder(out).meta.get("status") == "running":
                return True
        except Exception:  # noqa: BLE001 - not written yet
            pass
        time.sleep(0.005)
    return False


def outcome(out: Path) -> dict[str, Any]:
    """What a finished run left: status, step, metrics without wall-clock, final weights."""
    from safetensors.torch import load_file

    from genstudio.core.runs import RunFolder

    run = RunFolder(out)
    try:
        meta = run.meta
        records = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in run.read_metrics()[0]]
        wpath = run.checkpoint_dir / f"step_{STEPS:08d}.safetensors"
        weights = load_file(str(wpath)) if wpath.is_file() else None
    except Exception as e:  # noqa: BLE001 - a run folder this broken counts as lost
        return {"status": f"unreadable: {e}", "step": None, "records": None, "weights": None}
    return {"status": meta.get("status"), "step": meta.get("step"), "records": records, "weights": weights}


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    if a["records"] != b["records"] or a["weights"] is None or b["weights"] is None or a["weights"].keys() != b["weights"].keys():
        return False
    return all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


def inject(runner: Runner, fault: str, rng: random.Random, out: Path, ref: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """Injection number ``index`` of ``fault`` into a run in ``out``; returns what happened (see the module docstring).

    Kills inside a save go through the seven phases in turn (``index``), at a random checkpoint.
    """
    log = out.parent / f"{out.name}.log"
    argv = [*TRAIN, "--out", str(out)]
    detail: dict[str, Any] = {}
    ok_fault = True  # the fault did what it should (killed, refused, reported)
    if fault == "kill-train":
        # A run that finishes before its kill (the machine's load varies) is started again in a
        # fresh folder with a shorter delay: every injection counted is a kill that landed.
        span = ref["train_s"]
        for attempt in range(1, 6):
            if out.exists():
                shutil.rmtree(out)
            delay = rng.uniform(0.0, 0.9) * span
            p = runner.start(argv, {}, log)
            wait_running(out, p)
            time.sleep(delay)
            p.kill()
            code = runner.finish(p)
            if code == -signal.SIGKILL:
                break
            span /= 2
        ok_fault = code == -signal.SIGKILL
        detail = {"delay_s": round(delay, 3), "exit": code, "attempts": attempt}
    elif fault == "kill-save":
        plan = {"fault": fault, "step": EVERY * rng.randint(1, STEPS // EVERY), "phase": SAVE_PHASES[index % len(SAVE_PHASES)]}
        code = runner.run(argv, plan, log)
        ok_fault = code == -signal.SIGKILL
        detail = {"step": plan["step"], "phase": plan["phase"], "exit": code}
    elif fault == "disk-full":
        plan = {"fault": fault, "step": EVERY * rng.randint(1, STEPS // EVERY), "file": rng.choice(("weights", "state"))}
        code = runner.run(argv, plan, log)
        from genstudio.core.runs import RunFolder

        meta = RunFolder(out).meta
        ok_fault = code == 1 and meta.get("status") == "failed" and "disk full" in meta.get("message", "")
        detail = {"step": plan["step"], "file": plan["file"], "exit": code, "status": meta.get("status")}
    elif fault == "second-process":
        p = runner.start(argv, {"fault": "slow", "sleep_s": 0.05}, log)  # 3 s more over 60 steps
        wait_running(out, p)
        time.sleep(rng.uniform(0.0, 1.0))
        alive = p.is_alive()
        codes = [runner.run(argv, {}, out.parent / f"{out.name}.second.log"),
                 runner.run(["train", "--resume", "--out", str(out)], {}, out.parent / f"{out.name}.second.log")]  # fmt: skip
        first = runner.finish(p)
        ok_fault = alive and codes == [2, 2] and first == 0
        detail = {"second_exits": codes, "first_exit": first, "first_was_training": alive}
    elif fault == "corrupt-checkpoint":
        from genstudio.core.runs import RunFolder

        step = rng.randint(EVERY + 1, STEPS - 1)
        code = runner.run(argv, {"fault": "kill-after-step", "step": step}, log)
        run = RunFolder(out)
        newest = run.newest_complete_checkpoint()
        how = rng.choice(("truncated", "zero-byte", "deleted"))
        if newest is not None:
            w = run.checkpoint_dir / f"step_{newest:08d}.safetensors"
            if how == "deleted":
                w.unlink()
            else:
                w.write_bytes(w.read_bytes()[: w.stat().st_size // 2] if how == "truncated" else b"")
        ok_fault = code == -signal.SIGKILL and newest is not None
        detail = {"killed_after_step": step, "corrupted_step": newest, "how": how, "exit": code}
    else:
        raise ValueError(f"unknown fault '{fault}'; choose from {', '.join(FAULTS)}")
    if fault != "second-process":
        detail["resume_exit"] = runner.run(["train", "--resume", "--out", str(out)], {}, log)
    got = outcome(out)
    lost = not (got["status"] == "completed" and got["step"] == STEPS)
    return {"fault_behaved": ok_fault, "lost": lost, "equal": (not lost) and same(got, ref), **detail}


def measure(n: int, faults: list[str], seed: int) -> list[dict[str, Any]]:
    from bench_common import machine_line

    with tempfile.TemporaryDirectory(prefix="genstudio-reliability-") as tmp:
        runner = Runner(Path(tmp))
        ref_out = Path(tmp) / "reference"
        t0 = time.monotonic()
        p = runner.start([*TRAIN, "--out", str(ref_out)], {}, Path(tmp) / "reference.log")
        wait_running(ref_out, p)
        t1 = time.monotonic()
        if runner.finish(p) != 0:
            raise SystemExit(f"the uninterrupted run failed:\n{(Path(tmp) / 'reference.log').read_text()}")
        ref = outcome(ref_out)
        ref["train_s"] = time.monotonic() - t1
        print(f"reference run: start {t1 - t0:.1f} s, training {ref['train_s']:.1f} s", file=sys.stderr)
        rows = []
        for fault in faults:
            rng = random.Random(f"{seed}-{fault}")
            cases = []
            for i in range(n):
                cases.append(inject(runner, fault, rng, Path(tmp) / f"{fault}-{i}", ref, i))
                print(f"{fault} {i + 1}/{n}: {cases[-1]}", file=sys.stderr)
            rows.append({
                "fault": fault, "injected": n,
                "fault_behaved": sum(c["fault_behaved"] for c in cases),
                "lost": sum(c["lost"] for c in cases),
                "resumed_equal": sum(c["equal"] for c in cases),
                "model": "vae on moons", "steps": STEPS, "checkpoint_every": EVERY,
                "machine": machine_line(), "date": time.strftime("%Y-%m-%d"), "cases": cases,
            })  # fmt: skip
    return rows


WHAT = {
    "kill-train": "SIGKILL while training (random moment)",
    "kill-save": "SIGKILL inside a checkpoint write (random phase)",
    "disk-full": "disk full (ENOSPC) while saving a checkpoint",
    "second-process": "a second process on the same run folder",
    "corrupt-checkpoint": "newest checkpoint cut short, emptied or deleted",
}
BEHAVED = {
    "kill-train": "killed mid-run",
    "kill-save": "killed at that phase, each of 7 in turn",
    "disk-full": "run ended failed, naming the file",
    "second-process": "both refused (exit 2), first run completed",
    "corrupt-checkpoint": "killed, newest checkpoint broken",
}


def markdown_table(data: dict[str, Any]) -> str:
    """The RESULTS.md table (benchmarks/report.py calls this)."""
    rows = sorted(data.get("rows", []), key=lambda r: FAULTS.index(r["fault"]) if r["fault"] in FAULTS else len(FAULTS))
    header = ["fault", "times injected", "fault as intended", "runs lost (goal 0)", "resumed equal to uninterrupted"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append(f"| {WHAT.get(r['fault'], r['fault'])} | {r['injected']} | {r['fault_behaved']} ({BEHAVED.get(r['fault'], '')}) | {r['lost']} | {r['resumed_equal']} |")
    machines = sorted({r["machine"] for r in rows})
    head = (
        f"Machine: {'; '.join(machines)}; {data.get('date', '')}. {rows[0]['model'] if rows else ''}, {rows[0]['steps'] if rows else ''} steps, "
        f"a checkpoint every {rows[0]['checkpoint_every'] if rows else ''}; \"equal\": every metric of every step and every final weight "
        "equal to one uninterrupted run (a second process is not resumed: its first run is compared).\n\n"
    )
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10, help="injections per fault")
    p.add_argument("--only", help=f"comma-separated faults (default all: {', '.join(FAULTS)})")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    faults = args.only.split(",") if args.only else list(FAULTS)
    unknown = set(faults) - set(FAULTS)
    if unknown:
        p.error(f"unknown fault(s) {sorted(unknown)}; choose from {', '.join(FAULTS)}")
    sys.path.insert(0, str(HERE))
    from bench_common import machine_info, save_results

    rows = measure(args.n, faults, args.seed)
    save_results(RESULTS, rows, key=("fault",), machine_info=machine_info(), n=args.n, seed=args.seed)
    print(markdown_table(json.loads(RESULTS.read_text())))


if __name__ == "__main__":
    main()
