"""Fault injection under torchrun: one rank raises, or sees a NaN, while the other trains on.

Two gloo processes train the toy model (tests/toy_models.py) on the CPU;
``fault_rank`` makes ``fail_at`` / ``diverge_at`` act on one rank only. The
other rank is then blocked in a collective of the same step. Each case asserts
that nothing hangs (the subprocess is bounded, and hitting the bound fails the
test), that torchrun's exit code is non-zero, that ``meta.json`` ends
``failed`` or ``diverged`` (never ``running``) with a message that names the
rank where the run went wrong and its error (not gloo's "connection closed"
seen by the rank that was left waiting), and that the rank that failed said so
on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from genstudio.core.runs import RunFolder

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 240  # a hang guard only: a healthy case ends in seconds (plus torch's imports on a loaded machine)
#: ``torchrun --no-python`` runs this interpreter with the toy models registered, then the CLI.
TOY_CLI = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from tests.toy_models import register_toys; register_toys(); from genstudio.cli import main; sys.exit(main())"
QUIET = ["--set", "sample_every=0", "--set", "preview_every_s=0", "--set", "eval_every=0", "--set", "log_every=1", "--set", "checkpoint_every=2"]


def _torchrun_toy(out: Path, sets: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "--no-python", sys.executable, "-c", TOY_CLI]
    cmd += ["train", "--model", "toy", "--dataset", "moons", "--steps", "8", "--batch-size", "16", "--device", "cpu", "--out", str(out)]
    cmd += ["--set", "n_points=512", *QUIET, *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"torchrun did not end within {TIMEOUT_S} s: a rank hangs\n{(e.stderr or b'')[-3000:]!r}")


CASES = {
    # fault: (settings, status, words the message must hold)
    "raise": (["--set", "fail_at=3"], "failed", ["toy model failed on purpose"]),
    "nan": (["--set", "diverge_at=3"], "diverged", ["'loss'", "non-finite"]),
}


@pytest.mark.parametrize("rank", [1, 0])
@pytest.mark.parametrize("fault", list(CASES))
def test_one_rank_failing_stops_every_rank_and_names_itself(fault, rank, tmp_path):
    sets, status, words = CASES[fault]
    out = tmp_path / "run"
    done = _torchrun_toy(out, [*sets, "--set", f"fault_rank={rank}"])
    log = done.stderr[-6000:]
    assert done.returncode != 0, log

    meta = RunFolder(out).meta
    assert meta["status"] == status, (meta, log)
    assert meta["failed_rank"] == rank, (meta, log)
    assert f"rank {rank}" in meta["message"], (meta, log)
    for w in words:
        assert w in meta["message"], (meta, log)
    assert "Connection closed" not in meta["message"]  # the waiting rank's view is not the news
    assert meta["step"] == 2  # the fault hit step 3: two steps were done
    if status == "diverged":
        assert meta["diverged_term"] == "loss"
    # The last checkpoint before the fault is whole, so the run can be resumed.
    assert RunFolder(out).latest_checkpoint() == 2
    # The failing rank said what happened (rank 0 reports for itself; other ranks prefix their number).
    assert f"rank {rank}" in done.stderr, log
