"""SIGKILL a training process at seeded random points, in training and inside checkpoint writes, then resume.

Each seed kills one ``genstudio train`` process (the real command line,
``genstudio.cli.main``, in a process of its own) at one point:

- inside a checkpoint write, at one of its seven phases (the weights' temporary
  file written, cut half-way, renamed; the state's temporary file written,
  renamed; the pointer's temporary file written, renamed), by a SIGKILL the
  child sends itself from a wrapper around ``save_file`` / ``os.replace``
  installed in that child only (product code carries no hook);
- in the middle of training: right after an optimiser step, or half-way
  through writing a line of ``metrics.jsonl``;
- from outside, after a seeded random delay (wherever it lands).

Then ``train --resume`` runs to the end, and the test checks what a user
relies on: the resume starts from the newest complete checkpoint (known
exactly for the self-inflicted kills), no temporary file is taken for a
checkpoint, and the run's metrics (every step) and final weights equal an
uninterrupted run's, as the engine promises (core/engine.py docstring).

Processes are forked from a forkserver that imported torch and genstudio
once, so a seed costs a fraction of a second instead of two interpreter
starts; one uninterrupted reference run serves every seed.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genstudio.core.runs import RunFolder
from genstudio.testing.faults import COMPLETE_FROM, SAVE_PHASES, die, kill_inside_checkpoint_write

STEPS, EVERY = 60, 10
TRAIN = [
    "train", "--model", "toy", "--dataset", "toy-points", "--steps", str(STEPS), "--seed", "3",
    "--set", f"checkpoint_every={EVERY}", "--set", "log_every=1", "--set", "eval_every=10", "--set", "sample_every=25",
    "--set", "preview_every_s=0", "--set", "preview_n=4", "--set", "threads=1",
]  # fmt: skip
SEEDS = range(20)
TIMEOUT_S = 120  # a guard against a hung child, not a speed claim


def kill_plan(seed: int) -> dict:
    """Where seed ``seed`` kills the run: ten inside checkpoint writes (every phase), five in training, five from outside."""
    rng = random.Random(seed)
    if seed < 10:
        return {"kind": "save", "phase": SAVE_PHASES[seed % len(SAVE_PHASES)], "step": EVERY * rng.randint(1, STEPS // EVERY)}
    if seed < 15:
        return {"kind": rng.choice(("step", "metrics-torn")), "step": rng.randint(1, STEPS - 1)}
    return {"kind": "timed", "fraction": rng.uniform(0.0, 0.9)}


def expected_resume_step(plan: dict) -> int | None:
    """The newest complete checkpoint a self-inflicted kill leaves (None: before the first one)."""
    if plan["kind"] == "save":
        k = plan["step"] if SAVE_PHASES.index(plan["phase"]) >= COMPLETE_FROM else plan["step"] - EVERY
    else:  # killed right after step s, or while logging it: both before step s's own checkpoint
        k = ((plan["step"] - 1) // EVERY) * EVERY
    return k or None


# -- the child process ------------------------------------------------------------------


def _install_kill(plan: dict) -> None:
    """Make this process SIGKILL itself at ``plan``'s point (wrappers installed in this child only)."""
    import genstudio.core.runs as runs

    kind = plan.get("kind")
    if kind == "save":
        kill_inside_checkpoint_write(plan["step"], plan["phase"])
    elif kind == "step":
        from tests.toy_models import ToyGaussian

        real_step = ToyGaussian.train_step

        def train_step(self, batch):
            out = real_step(self, batch)
            if self.steps_done == plan["step"]:
                die()
            return out

        ToyGaussian.train_step = train_step
    elif kind == "metrics-torn":
        real_append = runs.RunFolder.append_metrics

        def append_metrics(self, records):
            if records and records[0].get("step") == plan["step"] and records[0].get("split") == "train":
                line = (json.dumps(records[0]) + "\n").encode()
                with open(self.metrics_path, "ab") as f:
                    f.write(line[: len(line) // 2])
                    f.flush()
                die()
            real_append(self, records)

        runs.RunFolder.append_metrics = append_metrics


def run_child(argv: list[str], plan: dict, log: str, skip_rng_restore: bool = False) -> None:
    """Body of a child process: the real command line, with the kill plan installed; stderr to ``log``."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(fd, 2)
    os.dup2(fd, 1)
    import tests.core.test_engine  # noqa: F401  (registers the toy-points dataset)
    from tests.toy_models import register_toys

    register_toys()
    _install_kill(plan)
    if skip_rng_restore:  # a deliberately broken resume, to show the comparison would catch one
        import genstudio.core.device as devmod

        devmod.set_rng_state = lambda state: None
    from genstudio.cli import main

    sys.exit(main(argv))


# -- the parent side ------------------------------------------------------------------------


#: What a training process imports, loaded once in the forkserver (torch._dynamo comes with the first
#: optimiser step, and brings sympy and triton: seconds per process otherwise).
PRELOAD = ["torch", "torch._dynamo", "torch._inductor", "PIL.Image", "PIL.PngImagePlugin", "safetensors.torch", "tqdm",
           "genstudio.cli", "genstudio.core.engine", "genstudio.data.dataset", "tests.core.test_engine", __name__]


@pytest.fixture(scope="module")
def ctx():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def start(ctx, argv: list[str], plan: dict, log: Path, **kw):
    p = ctx.Process(target=run_child, args=(argv, plan, str(log)), kwargs=kw, daemon=True)
    p.start()
    return p


def finish(p, log: Path) -> int:
    p.join(TIMEOUT_S)
    if p.is_alive():
        p.kill()
        p.join()
        pytest.fail(f"child still running after {TIMEOUT_S} s; its log:\n{log.read_text()}")
    return p.exitcode


def wait_running(run: RunFolder, p) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and p.is_alive():
        try:
            if run.meta.get("status") == "running":
                return
        except Exception:  # noqa: BLE001 - not written yet
            pass
        time.sleep(0.005)


def comparable(records: list[dict]) -> list[dict]:
    """Metrics without their wall-clock field, the one thing a resume may change."""
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]


def final_weights(run: RunFolder) -> dict[str, torch.Tensor]:
    return load_file(str(run.checkpoint_dir / f"step_{STEPS:08d}.safetensors"))


@pytest.fixture(scope="module")
def reference(ctx, tmp_path_factory):
    """One uninterrupted run: its metrics, final weights and training time (to place the timed kills)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    log = out.parent / "log.txt"
    t0 = time.monotonic()
    p = start(ctx, [*TRAIN, "--out", str(out)], {}, log)
    wait_running(RunFolder(out), p)
    t1 = time.monotonic()
    assert finish(p, log) == 0, log.read_text()
    run = RunFolder(out)
    records = comparable(run.read_metrics()[0])
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(1, STEPS + 1))
    return {"records": records, "weights": final_weights(run), "train_s": time.monotonic() - t1, "startup_s": t1 - t0}


def kill_and_resume(ctx, out: Path, plan: dict, reference: dict, **resume_kw) -> dict:
    log = out.parent / f"{out.name}.log"
    run = RunFolder(out)
    p = start(ctx, [*TRAIN, "--out", str(out)], plan, log)
    if plan["kind"] == "timed":
        wait_running(run, p)
        time.sleep(plan["fraction"] * reference["train_s"])
        p.kill()
    code = finish(p, log)
    assert run.exists(), log.read_text()
    return {"code": code, "log": log, "run": run, "resume": lambda: finish(start(ctx, ["train", "--resume", "--out", str(out)], {}, log, **resume_kw), log)}


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}-{kill_plan(s)['kind']}-{kill_plan(s).get('phase', '')}".rstrip("-"))
def test_sigkill_then_resume_equals_uninterrupted(ctx, reference, tmp_path, seed):
    plan = kill_plan(seed)
    killed = kill_and_resume(ctx, tmp_path / "run", plan, reference)
    run, log = killed["run"], killed["log"]
    if plan["kind"] == "timed":
        assert killed["code"] in (-signal.SIGKILL, 0), log.read_text()  # 0: the run finished before the kill
    else:
        assert killed["code"] == -signal.SIGKILL, f"the kill at {plan} never fired (did save_checkpoint change?)\n{log.read_text()}"

    # Nothing half-written is taken for a checkpoint.
    ckpt_files = {p.name for p in run.checkpoint_dir.iterdir()}
    temps = {n for n in ckpt_files if n.startswith(".")}
    assert all(f"step_{s:08d}.safetensors" in ckpt_files for s in run.checkpoints())
    if plan.get("phase") in ("weights-tmp", "weights-torn"):
        assert temps and plan["step"] not in run.checkpoints(), (temps, run.checkpoints())
    newest = run.newest_complete_checkpoint()
    if plan["kind"] != "timed":
        assert newest == expected_resume_step(plan), (plan, newest, sorted(ckpt_files))
    if newest is not None:
        step, weights, state = run.load_checkpoint(newest)
        assert step == newest == state["step"] and weights

    assert killed["resume"]() == 0, log.read_text()
    assert re.findall(r"steps from step (\d+)", log.read_text())[-1] == str(newest or 0)  # the resume's start line
    meta = run.meta
    assert meta["status"] == "completed" and meta["step"] == STEPS
    assert not [p.name for p in run.checkpoint_dir.iterdir() if p.name.endswith(".tmp")]  # the resume removed what the kill left
    assert comparable(run.read_metrics()[0]) == reference["records"]
    got = final_weights(run)
    assert got.keys() == reference["weights"].keys()
    for k, v in reference["weights"].items():
        assert torch.equal(got[k], v), k


def test_comparison_catches_an_inexact_resume(ctx, reference, tmp_path):
    """The same check on a resume that forgets the RNG state: the metrics must differ (the net has no hole here)."""
    killed = kill_and_resume(ctx, tmp_path / "run", {"kind": "step", "step": 25}, reference, skip_rng_restore=True)
    assert killed["code"] == -signal.SIGKILL
    assert killed["resume"]() == 0, killed["log"].read_text()
    records = comparable(killed["run"].read_metrics()[0])
    assert [r["step"] for r in records] == [r["step"] for r in reference["records"]]
    assert records != reference["records"]
