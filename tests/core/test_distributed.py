"""Training under torchrun: sharded batches, averaged gradients, identical replicas, one run folder, resumable.

The end-to-end test starts ``torchrun --nproc-per-node 2 -m genstudio train``
(two gloo processes on the CPU) as a subprocess for a VAE, a GAN (two
optimisers, alternating D and G steps) and Glow (actnorm's data-dependent
initialisation), with GENSTUDIO_TEST_PARAM_CHECKSUMS set so every rank
records a checksum of its parameters and its own metrics after every step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genstudio.core import distributed
from genstudio.core.data_types import DataInfo
from genstudio.core.distributed import AgreedControl, SilentRun, parameter_checksum
from genstudio.core.events import RunControl
from genstudio.core.runs import RunFolder
from genstudio.data.dataset import DataError, Dataset

ROOT = Path(__file__).resolve().parents[2]


def _dataset(n: int) -> Dataset:
    return Dataset(torch.arange(n, dtype=torch.float32).unsqueeze(1), torch.full((n,), -1), DataInfo(name="ids", kind="points", shape=(1,)))


def _ids(batch) -> list[int]:
    return batch.x[:, 0].long().tolist()


def test_one_process_draws_the_batches_it_always_did():
    ds = _dataset(103)
    new = ds.batches(10, seed=3, start_step=5)
    # The formula before sharding existed: epoch permutation from (seed, epoch), full batches only.
    for step in range(5, 40):
        epoch, pos = divmod(step, 10)
        perm = torch.randperm(103, generator=torch.Generator().manual_seed(3 * 1_000_003 + epoch))
        assert _ids(next(new)) == perm[pos * 10 : (pos + 1) * 10].tolist()


def test_ranks_see_different_examples_and_together_cover_the_epoch():
    ds = _dataset(100)
    world, bs = 3, 8
    per_epoch = 100 // (bs * world)  # 4 steps: 96 of the 100 examples (the partial block is dropped)
    streams = [ds.batches(bs, seed=0, rank=r, world_size=world) for r in range(world)]
    seen = [[i for _ in range(per_epoch) for i in _ids(next(s))] for s in streams]
    flat = [i for ids in seen for i in ids]
    assert len(flat) == len(set(flat)) == per_epoch * bs * world  # disjoint across ranks, no repeats
    assert set(flat) <= set(range(100))
    # The next epoch reshuffles, identically for a rank resumed mid-way.
    resumed = ds.batches(bs, seed=0, start_step=per_epoch + 1, rank=1, world_size=world)
    next(streams[1])
    assert _ids(next(resumed)) == _ids(next(streams[1]))


def test_bad_shards_are_refused():
    with pytest.raises(ValueError, match="rank 2"):
        next(_dataset(10).batches(4, 0, rank=2, world_size=2))
    with pytest.raises(DataError, match="fewer than the 4 processes"):
        next(_dataset(3).batches(4, 0, rank=0, world_size=4))


def test_single_process_installs_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx, dev = distributed.setup(torch.device("cpu"))
    assert ctx is distributed.SINGLE and not ctx.active and ctx.is_main and dev == torch.device("cpu")
    from genstudio.core import model

    assert model.gradient_sync is None  # optimizer_step pays one None check, nothing more
    assert ctx.threads_per_process() == 0


def test_bad_torchrun_environment_is_a_clear_error(monkeypatch):
    from genstudio.core.config import ConfigError

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ConfigError, match="RANK=5"):
        distributed.setup(torch.device("cpu"))
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="not an integer"):
        distributed.setup(torch.device("cpu"))


def test_silent_run_writes_nothing(tmp_path):
    run = SilentRun(tmp_path / "r")
    run.append_metrics([{"step": 1}])
    run.update_meta(status="running")
    assert run.save_checkpoint(4, {"w": torch.zeros(2)}, {}) .name == "step_00000004.safetensors"
    assert run.latest_checkpoint() == 4 and not (tmp_path / "r").exists()


def test_a_failing_rank_records_the_failure_rank_0_cannot(tmp_path):
    # A NaN on one rank leaves rank 0 blocked in the next collective until torchrun kills it.
    real = RunFolder(tmp_path / "r")
    real.path.mkdir()
    real.write_meta({"status": "running", "step": 10})
    silent = SilentRun(real.path, rank=1)
    silent.update_meta(status="completed", step=20)  # normal ends are rank 0's to write
    assert real.meta == {"status": "running", "step": 10}
    silent.update_meta(status="diverged", step=12, message="loss is nan", diverged_term="loss")
    meta = real.meta
    assert meta["status"] == "diverged" and meta["failed_rank"] == 1 and meta["step"] == 12
    assert meta["message"] == "rank 1: loss is nan" and meta["diverged_term"] == "loss"
    SilentRun(real.path, rank=2).update_meta(status="failed", message="other")  # first report wins
    assert real.meta["message"] == "rank 1: loss is nan"


def test_agreed_control_stops_only_on_agreement():
    class OneRank:
        def agree_stop(self, stop, time_up):
            return stop, time_up

    inner = RunControl()
    c = AgreedControl(inner)
    inner.stop()
    assert not c.stopped  # asked locally, not yet agreed: keep stepping with the others
    assert c.agree(OneRank(), False) is False and c.stopped
    assert c.paused == inner.paused  # everything else is the wrapped control's


def _average_in_rank(rank: int, store_path: str, results) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", store=dist.FileStore(store_path, 2), rank=rank, world_size=2)
    try:
        p, q, r = (torch.nn.Parameter(torch.zeros(3)) for _ in range(3))
        p.grad = torch.full((3,), float(rank + 1))  # 1 on rank 0, 2 on rank 1
        if rank == 1:
            q.grad = torch.tensor([4.0, 6.0, 8.0])  # used on rank 1 only: counts as zero on rank 0
        opt = torch.optim.SGD([p, q, r], lr=1.0)
        distributed.average_gradients(opt)
        results.put((rank, p.grad.tolist(), None if q.grad is None else q.grad.tolist(), r.grad))
    finally:
        dist.destroy_process_group()


def test_average_gradients_follows_ddp_rules(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # no second torch import: a few hundred ms
    results = ctx.Queue()
    procs = [ctx.Process(target=_average_in_rank, args=(r, str(tmp_path / "store"), results)) for r in range(2)]
    for proc in procs:
        proc.start()
    got = sorted(results.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    for rank, p_grad, q_grad, r_grad in got:
        assert p_grad == [1.5, 1.5, 1.5]  # the mean over ranks
        assert q_grad == [2.0, 3.0, 4.0]  # (0 + g) / 2, on both ranks
        assert r_grad is None  # no gradient anywhere: the optimiser still skips it


# -- end to end: two processes ---------------------------------------------------------------------------

QUIET = ["--set", "sample_every=0", "--set", "preview_every_s=0", "--set", "eval_every=0", "--set", "log_every=1", "--set", "preview_n=4"]
CASES = {
    # model: (dataset, model settings from TINY in tests/models/test_contract.py, plus glow's small ones)
    "vae": ("digits", {"channels": 8, "hidden": 32}),
    "gan": ("moons", {"hidden": 32, "layers": 2}),
    "glow": ("moons", {"steps": 2, "hidden": 16, "hidden_layers": 1}),
}


#: What each torchrun rank runs: the CLI, as ``python -m genstudio`` does, then a check that no
#: thread the run started outlives it. gloo's threads still alive at interpreter exit once killed
#: a completed run with SIGABRT ("terminate called without an active exception"), rarely; this
#: check sees the cause on every run (a process group destroy_process_group could not free).
RANK_MAIN = """
import os, sys
from genstudio.cli import main
rc = main(sys.argv[1:])
tasks = "/proc/self/task"  # Linux: every OS thread, C++ ones included
left = sorted(open(f"{tasks}/{t}/comm").read().strip() for t in os.listdir(tasks) if int(t) != os.getpid()) if os.path.isdir(tasks) else []
if left:
    print(f"threads alive after main(): {left}", file=sys.stderr)
sys.exit(rc or (3 if left else 0))
"""


def _genstudio(args: list[str], nproc: int, env: dict) -> subprocess.CompletedProcess:
    if nproc > 1:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
        cmd = [*torchrun, "--no-python", sys.executable, "-c", RANK_MAIN, *args]
    else:
        cmd = [sys.executable, "-m", "genstudio", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=400)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
@pytest.mark.parametrize("model_id", list(CASES))
def test_two_processes_train_identical_replicas(model_id, tmp_path):
    dataset, settings = CASES[model_id]
    out = tmp_path / "run"
    sums = tmp_path / "checksums"
    env = {**os.environ, "OMP_NUM_THREADS": "1", distributed.CHECKSUM_ENV: str(sums)}
    env.pop("WORLD_SIZE", None)
    sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    args = ["train", "--model", model_id, "--dataset", dataset, "--steps", "4", "--batch-size", "16", "--device", "cpu", "--out", str(out), *QUIET, *sets]
    if dataset == "moons":
        args += ["--set", "n_points=512"]
    done = _genstudio(args, nproc=2, env=env)
    assert "threads alive after main()" not in done.stderr, done.stderr[-4000:]
    assert done.returncode == 0, done.stderr[-4000:]

    # One run folder, written by rank 0 alone.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checksums", "run"]
    meta = RunFolder(out).meta
    assert meta["status"] == "completed" and meta["step"] == 4 and meta["world_size"] == 2
    assert done.stderr.count("completed: completed 4 steps") == 1  # rank 0 reports, rank 1 is quiet

    # Identical parameters on both ranks after every step, and they did change.
    r0, r1 = _records(sums / "rank0.jsonl"), _records(sums / "rank1.jsonl")
    assert [r["step"] for r in r0] == [r["step"] for r in r1] == [1, 2, 3, 4]
    assert [r["params"] for r in r0] == [r["params"] for r in r1]
    assert len({r["params"] for r in r0}) == 4
    # Each rank trained on its own examples; the log holds their average.
    logged = [r for r in _records(out / "metrics.jsonl") if r["split"] == "train"]
    assert [r["step"] for r in logged] == [1, 2, 3, 4]
    for a, b, rec in zip(r0, r1, logged):
        assert a["values"] != b["values"]
        for k in a["values"]:
            assert rec[k] == pytest.approx((a["values"][k] + b["values"][k]) / 2, rel=1e-6, abs=1e-9)
    # The checkpoint holds exactly the replicas' weights.
    from genstudio.core.loading import load_run_model

    model, _, step = load_run_model(out, device="cpu")
    assert step == 4 and parameter_checksum(model) == r0[-1]["params"]

    if model_id != "vae":
        return  # one resume suffices (it is model-agnostic) and each process start costs seconds
    # Resume with one process: steps continue, metrics are appended, the run finishes.
    env.pop(distributed.CHECKSUM_ENV)
    more = _genstudio(["train", "--out", str(out), "--resume", "--steps", "6"], nproc=1, env=env)
    assert more.returncode == 0, more.stderr[-4000:]
    meta = RunFolder(out).meta
    assert meta["status"] == "completed" and meta["step"] == 6 and meta["world_size"] == 1
    assert [r["step"] for r in _records(out / "metrics.jsonl") if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert RunFolder(out).latest_checkpoint() == 6


# -- failures: what a rank left waiting in a collective learns ------------------------------------------


def test_the_first_reported_failure_is_the_one_peers_see():
    import torch.distributed as dist

    store = dist.HashStore()
    ranks = [distributed.DistContext(rank=r, world_size=3, store=store) for r in range(3)]
    assert ranks[0].first_failure() is None
    ranks[2].report_failure("diverged", "training diverged at step 5: ...", step=4, term="loss")
    ranks[1].report_failure("failed", "RuntimeError: later, and a consequence", step=4)
    first = ranks[0].first_failure()
    assert (first.rank, first.status, first.term) == (2, "diverged", "loss")
    assert ranks[2].first_failure().rank == 1  # a rank never reads its own report
    assert distributed.DistContext(rank=0, world_size=3).first_failure() is None  # no store, no report


def test_a_peers_report_becomes_this_ranks_error():
    from genstudio.core.model import NonFiniteError

    failed = distributed.FailureReport(rank=1, status="failed", message="RuntimeError: disk on fire", step=2).to_exception()
    assert isinstance(failed, distributed.RankFailed) and str(failed) == "rank 1 failed at step 3: RuntimeError: disk on fire"
    nan = distributed.FailureReport(rank=1, status="diverged", message="...", step=2, term="loss").to_exception()
    assert isinstance(nan, NonFiniteError) and (nan.term, nan.step) == ("loss", 3)  # the engine ends the run 'diverged'
    assert "on rank 1, 'loss' became non-finite" in str(nan)
    early = distributed.FailureReport(rank=0, status="failed", message="RunError: 'out' exists", step=-1).to_exception()
    assert str(early) == "rank 0 failed before training started: RunError: 'out' exists"


def test_a_broken_collective_names_the_rank_that_failed(monkeypatch):
    import torch.distributed as dist

    store = dist.HashStore()
    here = distributed.DistContext(rank=0, world_size=2, store=store)
    monkeypatch.setattr(distributed, "_context", here)

    def lost(*args, **kwargs):
        raise RuntimeError("[gloo] Connection closed by peer")

    with pytest.raises(RuntimeError, match="Connection closed"):  # nobody reported: gloo's error is the news
        distributed._collective(lost)
    assert here.peer_failure is None
    distributed.DistContext(rank=1, world_size=2, store=store).report_failure("failed", "ValueError: bad batch", step=6)
    with pytest.raises(distributed.RankFailed, match="rank 1 failed at step 7: ValueError: bad batch"):
        distributed._collective(lost)
    assert here.peer_failure.rank == 1  # so this rank does not report the failure as its own
    assert distributed._collective(lambda x: x + 1, 1) == 2
