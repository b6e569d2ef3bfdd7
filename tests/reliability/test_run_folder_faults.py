"""Faults of the run folder: a second writer, a full disk, a folder that grows, a set-up that fails.

Each case asserts that nothing is lost and that the run says what happened:
the second process is refused with the holder's pid (exit code 2 from the
command line, a RunError before the first event from the engine, so the
studio's StartFailed dialog shows it); a full disk leaves the previous
checkpoint loadable, no temporary file, and a Finished event naming the file;
retention keeps exactly the rule's checkpoints and never a pinned one; a
failure in the set-up after RunStarted ends the run ``failed``.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

import tests.core.test_engine  # noqa: F401  (registers the toy-points dataset)
from genstudio.cli import main
from genstudio.core import engine, run_lock
from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.events import CheckpointSaved, Finished, RunStarted
from genstudio.core.registry import register_model
from genstudio.core.runs import DiskFullError, RunError, RunFolder, retained_steps
from genstudio.core.spec import RunSpec
from tests.toy_models import ToyGaussian

ROOT = Path(__file__).resolve().parents[2]
QUIET = {"batch_size": 32, "log_every": 5, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "preview_n": 4}
# A child python that runs the CLI with the test toys registered.
CLI = (
    "import sys; sys.path.insert(0, %r); import tests.core.test_engine; from tests.toy_models import register_toys; register_toys();"
    "from genstudio.cli import main; sys.exit(main(sys.argv[1:]))" % str(ROOT)
)
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


class ToyValLoss(ToyGaussian):
    """The toy with a validation loss whose minimum is at a known step (for "keep the best")."""

    best_at = 14

    @torch.no_grad()
    def evaluate(self, batch):
        return {"loss": float(abs(self.steps_done - self.best_at)), "nll": float(-self.log_prob(batch.x).mean())}


register_model("toy-val", ToyValLoss)


def spec(steps=20, model="toy", model_over=None, **run):
    return RunSpec.create(model, "toy-points", {**QUIET, "steps": steps, "checkpoint_every": 5, **run}, model_over or {})


def tmp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` (a guard against hanging, not a speed claim)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# -- 1. the lock ---------------------------------------------------------------------


def start_cli_trainer(out: Path) -> subprocess.Popen:
    args = ["train", "--model", "toy", "--dataset", "toy-points", "--steps", "10000000", "--out", str(out),
            "--set", "checkpoint_every=10", "--set", "sample_every=0", "--set", "eval_every=0", "--set", "preview_every_s=0"]
    return subprocess.Popen([sys.executable, "-c", CLI, *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_second_cli_process_is_refused_and_a_killed_holder_frees_the_folder(tmp_path, capsys):
    """A real trainer process holds --out: a second CLI (here, in the test's process) exits 2 with one line naming it."""
    out = tmp_path / "run"
    first = start_cli_trainer(out)
    try:
        wait_for(lambda: RunFolder(out).exists() and RunFolder(out).latest_checkpoint() is not None, "the first trainer's first checkpoint")
        config_before = (out / "config.toml").read_bytes()
        for extra in ([], ["--resume"]):  # a new run into the folder, and a resume of it
            code = main(["train", "--model", "toy", "--dataset", "toy-points", "--steps", "5", "--out", str(out), *extra])
            lines = capsys.readouterr().err.strip().splitlines()
            assert code == 2 and len(lines) == 1, lines
            assert "in use" in lines[0] and f"pid {first.pid}" in lines[0] and "another folder" in lines[0], lines[0]
            assert first.poll() is None, "the refused process must not disturb the running one"
        assert (out / "config.toml").read_bytes() == config_before  # the refused resume rewrote nothing
        assert RunFolder(out).writer()["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    run = RunFolder(out)
    assert run.meta["status"] == "running"  # a crash cannot write its status...
    assert run.writer() is None  # ...but it holds no lock any more, so the folder reads as crashed
    last = run.newest_complete_checkpoint()  # where a resume starts (the kill may fall between a pair and latest.json)
    code = main(["train", "--resume", "--out", str(out), "--steps", str(last + 5)])
    assert code == 0, capsys.readouterr().err
    assert run.meta["status"] == "completed" and run.meta["step"] == last + 5
    assert run.writer() is None  # released at the end of the run


def hold_lock_in_child(run_dir: Path) -> subprocess.Popen:
    """A child process that takes the run lock, says so on stdout, and sleeps until killed."""
    code = (
        "import sys, time; sys.path.insert(0, %r); from genstudio.core import run_lock;"
        "lock = run_lock.acquire(%r); print('held', flush=True); time.sleep(600)" % (str(ROOT), str(run_dir))
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_engine_refuses_a_folder_another_process_holds(tmp_path):
    """New run and resume: RunError before the first event, naming the holder; the folder is left as it was."""
    done = tmp_path / "done"
    list(train(spec(10), done))
    before = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
    child = hold_lock_in_child(done)
    try:
        with pytest.raises(RunError, match=rf"in use by another genstudio process \(pid {child.pid} "):
            train(spec(20), done, resume=True)
        with pytest.raises(RunError, match=rf"pid {child.pid}"):
            train(spec(20), done)
        after = {p: p.read_bytes() for p in done.rglob("*") if p.is_file()}
        assert after.keys() == before.keys()
        assert all(after[p] == before[p] for p in before if p.name != run_lock.LOCK_NAME)  # the child rewrote its own lock
        # A new run into an empty folder someone holds (two new runs racing): refused too.
        fresh = tmp_path / "fresh"
        fresh.mkdir()
        racer = hold_lock_in_child(fresh)
        try:
            with pytest.raises(RunError, match=rf"pid {racer.pid}"):
                train(spec(20), fresh)
            assert [p.name for p in fresh.iterdir()] == [run_lock.LOCK_NAME]
        finally:
            racer.kill()
            racer.wait(timeout=60)
    finally:
        child.kill()
        child.wait(timeout=60)
    events = list(train(spec(20), done, resume=True))  # the holder is gone: the lock is free, no stale marker
    assert events[-1].status == "completed" and events[-1].step == 20


def test_studio_worker_reports_the_refusal_as_a_start_failure(tmp_path):
    """The studio's worker turns the engine's RunError into StartFailed(expected=True): a dialog, not a traceback."""
    pytest.importorskip("PySide6")
    from genstudio.core.events import RunControl
    from genstudio.ui.training_worker import EventBuffer, StartFailed, run_engine

    out = tmp_path / "run"
    list(train(spec(10), out))
    child = hold_lock_in_child(out)
    try:
        sink = EventBuffer()
        run_engine(spec(20), out, RunControl(), True, sink)
        events = sink.take()
        assert len(events) == 1 and isinstance(events[0], StartFailed), events
        assert events[0].expected and f"pid {child.pid}" in events[0].message
    finally:
        child.kill()
        child.wait(timeout=60)


def test_two_runs_in_one_process_and_every_way_out_releases_the_lock(tmp_path, monkeypatch):
    out = tmp_path / "run"
    events = train(spec(400, checkpoint_every=5), out)
    assert isinstance(next(events), RunStarted)
    assert RunFolder(out).writer()["pid"] == os.getpid()
    # Two runs in one studio: flock belongs to the open file, so the same process is refused too.
    with pytest.raises(RunError, match="in use"):
        train(spec(400), out, resume=True)
    for ev in events:
        if isinstance(ev, CheckpointSaved):
            break
    events.close()  # the window closed: the loop is dropped mid-run
    run = RunFolder(out)
    assert run.writer() is None
    assert run.meta["status"] == "stopped", run.meta  # never left "running"
    # A failing run, a diverging run, a completed run: released each time.
    for model_over, status in (({"fail_at": 3}, "failed"), ({"diverge_at": 3}, "diverged"), ({}, "completed")):
        folder = tmp_path / status
        assert list(train(spec(8, model_over=model_over), folder))[-1].status == status
        assert RunFolder(folder).writer() is None
    # Bad input found after the lock was taken (a resume whose data cannot load): released, then raised.
    def bad_data(*args, **kwargs):
        raise RunError("bad data, on purpose")

    monkeypatch.setattr(engine, "prepare", bad_data)
    with pytest.raises(RunError, match="on purpose"):
        train(spec(30), out, resume=True)
    assert run.writer() is None
    # A generator dropped before its first event frees the lock too (the studio may never start it).
    monkeypatch.undo()
    dropped = train(spec(30), out, resume=True)
    del dropped
    list(train(spec(30), out, resume=True))


def test_two_new_runs_racing_for_one_folder_exactly_one_wins(tmp_path):
    """Both pass the "is it empty" check, then race for the lock: one trains, the other is refused, ten times."""
    import threading

    for round_ in range(10):
        out = tmp_path / f"race{round_}"
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def start(i):
            barrier.wait(timeout=60)
            try:
                results[i] = train(spec(400), out)
            except RunError as e:
                results[i] = e

        threads = [threading.Thread(target=start, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        winners = [r for r in results if r is not None and not isinstance(r, RunError)]
        losers = [r for r in results if isinstance(r, RunError)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert "in use" in str(losers[0]) or "already exists" in str(losers[0]), losers[0]
        assert isinstance(next(winners[0]), RunStarted)
        winners[0].close()
        assert RunFolder(out).meta["status"] == "stopped" and RunFolder(out).writer() is None


# -- 2. a full disk ------------------------------------------------------------------------------


class DiskFiller:
    """Make writes fail with ENOSPC from a chosen file on (and, when ``sticky``, every write after it).

    The failure is injected where the kernel reports a full disk: at ``fsync``
    of the file being written (delayed allocation), or half-way through
    safetensors' write of the weights.
    """

    def __init__(self, monkeypatch, pattern: str, sticky: bool = False, in_save_file: bool = False):
        self.pattern, self.sticky, self.tripped = re.compile(pattern), sticky, False
        real_fsync = os.fsync

        def fsync(fd):
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
            if (self.tripped and self.sticky) or (not self.tripped and self.pattern.search(name)):
                self.tripped = True
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
        if in_save_file:
            from genstudio.core import runs

            real_save = runs.save_file

            def save_file(tensors, path, metadata=None):
                if not self.tripped and self.pattern.search(os.path.basename(path)):
                    self.tripped = True
                    with open(path, "wb") as f:
                        f.write(b"\x00" * 100)  # what fitted before the disk filled
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
                return real_save(tensors, path, metadata=metadata)

            monkeypatch.setattr(runs, "save_file", save_file)


# Temporary names: weights ".step_00000010.<rand>.tmp", state ".step_00000010.state.pt.<rand>.tmp",
# pointer ".latest.json.<rand>.tmp", meta ".meta.json.<rand>.tmp".
FAULTS = {
    "weights": (r"^\.step_00000010\.(?!state)", "step_00000010.safetensors", False),
    "weights-half-written": (r"^\.step_00000010\.(?!state)", "step_00000010.safetensors", True),
    "state": (r"^\.step_00000010\.state\.pt\.", "step_00000010.state.pt", False),
    "latest.json": (r"^\.latest\.json\.", "latest.json", False),
}


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the injection finds file names through /proc")
@pytest.mark.parametrize("where", list(FAULTS))
def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, where):
    pattern, named, in_save_file = FAULTS[where]
    out = tmp_path / "run"
    events = []
    gen = train(spec(20), out)  # checkpoints at 5, 10, 15, 20: the one at 10 meets a full disk
    for ev in gen:
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.step == 5:
            filler = DiskFiller(monkeypatch, pattern, in_save_file=in_save_file)
    assert filler.tripped
    final = events[-1]
    assert isinstance(final, Finished) and final.status == "failed" and final.step == 10, final
    assert final.message.startswith("disk full while writing ") and named in final.message and "resume" in final.message
    assert not final.traceback  # an expected condition, said in one line
    run = RunFolder(out)
    meta = run.meta
    assert meta["status"] == "failed" and meta["message"] == final.message
    assert run.latest_checkpoint() == 5 and run.checkpoints() == [5]  # no half pair at step 10
    step, weights, state = run.load_checkpoint(5)
    assert step == 5 and state["step"] == 5 and weights
    assert tmp_files(out) == []
    # Space again: the resume continues from step 5 and ends where an uninterrupted run does.
    monkeypatch.undo()
    assert list(train(spec(20), out, resume=True))[-1].status == "completed"
    list(train(spec(20), tmp_path / "straight"))
    a = run.load_checkpoint(20)[1]
    b = RunFolder(tmp_path / "straight").load_checkpoint(20)[1]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the injection finds file names through /proc")
def test_disk_full_for_meta_json_names_it(tmp_path, monkeypatch):
    """meta.json written after a checkpoint meets a full disk once: the run says so, and the checkpoint is kept."""
    out = tmp_path / "run"
    events = []
    for ev in train(spec(20), out):
        events.append(ev)
        if isinstance(ev, CheckpointSaved) and ev.step == 5:
            DiskFiller(monkeypatch, r"^\.meta\.json\.")
    final = events[-1]
    assert final.status == "failed" and "disk full while writing" in final.message and "meta.json" in final.message
    run = RunFolder(out)
    assert run.meta["status"] == "failed" and "meta.json" in run.meta["message"]
    assert run.latest_checkpoint() == 10  # the checkpoint itself was complete before meta.json failed
    run.load_checkpoint(10)
    assert tmp_files(out) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="the injection finds file names through /proc")
def test_disk_stays_full_and_even_meta_json_cannot_say_it(tmp_path, monkeypatch, capsys):
    """Every write fails from the checkpoint at step 10 on: the Finished event (and the CLI's last line) still says so."""
    out = tmp_path / "run"
    real_save = RunFolder.save_checkpoint

    def save(self, step, weights, state):
        if step == 10:
            DiskFiller(monkeypatch, r".", sticky=True)
        return real_save(self, step, weights, state)

    monkeypatch.setattr(RunFolder, "save_checkpoint", save)
    code = main(["train", "--model", "toy", "--dataset", "toy-points", "--steps", "20", "--out", str(out),
                 "--set", "checkpoint_every=5", "--set", "preview_every_s=0", "--set", "sample_every=0"])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("failed: disk full while writing ") and "step_00000010.safetensors" in last, last
    assert "meta.json" in last, last  # the final status could not be written either, and the line says so
    monkeypatch.undo()
    run = RunFolder(out)
    assert run.meta["status"] == "running" and run.writer() is None  # what a crash looks like: resumable
    assert run.latest_checkpoint() == 5 and run.load_checkpoint(5)[0] == 5
    assert tmp_files(out) == []


def test_disk_full_error_names_the_file():
    e = DiskFullError("/runs/x/checkpoints/step_00000010.safetensors")
    assert isinstance(e, RunError)
    assert str(e).startswith("disk full while writing '/runs/x/checkpoints/step_00000010.safetensors'")


# -- 3. retention ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(1, 100_000), min_size=1, max_size=200, unique=True),
    st.integers(0, 6),
    st.integers(0, 20_000),
    st.sets(st.integers(1, 100_000), max_size=3),
)
def test_retention_rule(steps, keep_last, keep_every, keep):
    kept = retained_steps(steps, keep_last, keep_every, keep)
    ordered = sorted(steps)
    assert kept <= set(steps)
    if keep_last == 0:
        assert kept == set(steps)
        return
    assert set(ordered[-keep_last:]) <= kept and (keep & set(steps)) <= kept
    # Bounded: the newest K, one per window of keep_every steps, and the extras; nothing else.
    windows = ordered[-1] // keep_every if keep_every else 0
    assert len(kept) <= keep_last + windows + len(keep)
    if keep_every:
        for w in range(1, windows + 1):
            in_window = [s for s in ordered if s >= w * keep_every]
            assert in_window[0] in kept  # the first checkpoint at or after each multiple survives
    # Stable: pruning again (after the first prune) deletes nothing more.
    assert retained_steps(sorted(kept), keep_last, keep_every, keep) == kept


def test_a_long_run_keeps_only_the_rules_checkpoints(tmp_path):
    """60 steps, a checkpoint every 2: only the last 3, the first after each 20 steps and the best remain."""
    out = tmp_path / "run"
    on_disk_max = 0
    for ev in train(spec(60, model="toy-val", checkpoint_every=2, eval_every=2, keep_last=3, keep_every=20), out):
        if isinstance(ev, CheckpointSaved):
            run = RunFolder(out)
            on_disk_max = max(on_disk_max, len(run.checkpoints()))
            latest = run.latest_checkpoint()
            assert latest == ev.step and run.load_checkpoint(latest)[0] == latest  # latest.json always valid
    run = RunFolder(out)
    assert run.checkpoints() == [14, 20, 40, 56, 58, 60]
    assert run.meta["best_checkpoint"] == {"step": 14, "metric": "loss", "value": 0.0}
    assert on_disk_max <= 3 + 3 + 1 + 1  # last 3, one per 20 steps, the best, the one just written
    names = {p.name for p in run.checkpoint_dir.iterdir()}
    assert not any(n.startswith("step_00000002.") or n.startswith("step_00000030.") for n in names)
    assert tmp_files(out) == []
    # A resumed run remembers its best.
    assert list(train(spec(70, model="toy-val", checkpoint_every=2, eval_every=2, keep_last=3, keep_every=20), out, resume=True))[-1].status == "completed"
    assert 14 in run.checkpoints() and run.checkpoints()[-3:] == [66, 68, 70]


def test_hundreds_of_saves_stay_bounded_and_latest_always_loads(tmp_path):
    """A long run in miniature: 150 saves; after each one the folder holds at most the rule's count."""
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    keep_last, keep_every = 3, 25
    weights = {"w": torch.zeros(4)}
    for step in range(1, 151):
        run.save_checkpoint(step, {"w": weights["w"] + step}, {"step": step})
        run.prune_checkpoints(keep_last, keep_every, {7})
        on_disk = run.checkpoints()
        assert len(on_disk) <= keep_last + step // keep_every + 1, on_disk
        loaded_step, loaded, state = run.load_checkpoint()
        assert loaded_step == step and state["step"] == step and float(loaded["w"][0]) == step
    assert run.checkpoints() == [7, 25, 50, 75, 100, 125, 148, 149, 150]
    assert sorted(p.name for p in run.checkpoint_dir.iterdir() if not p.name.startswith("step_")) == ["latest.json"]


def test_keep_last_zero_keeps_every_checkpoint_and_best_can_be_off(tmp_path):
    out = tmp_path / "all"
    list(train(spec(20, checkpoint_every=2, keep_last=0), out))
    assert RunFolder(out).checkpoints() == list(range(2, 21, 2))
    out = tmp_path / "nobest"
    list(train(spec(40, model="toy-val", checkpoint_every=2, eval_every=2, keep_last=2, keep_every=0, keep_best=False), out))
    assert RunFolder(out).checkpoints() == [38, 40] and "best_checkpoint" not in RunFolder(out).meta


def test_a_pinned_checkpoint_survives_retention(tmp_path):
    """A checkpoint a reader holds (an eval, a panel loading it) is skipped, and deleted once released."""
    out = tmp_path / "run"
    pin = None
    for ev in train(spec(30, checkpoint_every=2, keep_last=2, keep_every=0), out):
        if isinstance(ev, CheckpointSaved) and ev.step == 4:
            pin = RunFolder(out).pin(4)
            assert pin.__enter__() == 4
    run = RunFolder(out)
    assert run.checkpoints() == [4, 28, 30]
    run.load_checkpoint(4)  # whole, not half-deleted
    pin.__exit__(None, None, None)
    assert run.prune_checkpoints(2) == [4]
    assert run.checkpoints() == [28, 30] and not (run.checkpoint_dir / "step_00000004.lock").exists()


def test_a_checkpoint_pinned_by_another_process_survives(tmp_path):
    """The pin is a lock the kernel sees: a reader in another process (an eval) protects the checkpoint too."""
    out = tmp_path / "run"
    list(train(spec(10, checkpoint_every=2, keep_last=0), out))
    code = (
        "import sys, time; sys.path.insert(0, %r); from genstudio.core.runs import RunFolder;"
        "p = RunFolder(%r).pin(2); p.__enter__(); print('pinned', flush=True); time.sleep(600)" % (str(ROOT), str(out))
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "pinned"
        run = RunFolder(out)
        assert sorted(run.prune_checkpoints(1)) == [4, 6, 8]
        assert run.checkpoints() == [2, 10]
    finally:
        child.kill()
        child.wait(timeout=60)
    assert RunFolder(out).prune_checkpoints(1) == [2]


def test_load_run_model_pins_while_it_reads(tmp_path, monkeypatch):
    out = tmp_path / "run"
    list(train(spec(10, checkpoint_every=2, keep_last=0), out))
    run = RunFolder(out)
    seen = []
    real_load = RunFolder.load_checkpoint

    def load(self, step=None, with_state=True):
        seen.append(sorted(run.prune_checkpoints(1)))  # retention runs while the file is read
        return real_load(self, step, with_state)

    monkeypatch.setattr(RunFolder, "load_checkpoint", load)
    _, _, step = load_run_model(out, 4, device="cpu")
    assert step == 4 and seen == [[2, 6, 8]]


# -- 4. the set-up after RunStarted ----------------------------------------------------------------


def _boom(*args, **kwargs):
    raise RuntimeError("set-up failed on purpose")


@pytest.mark.parametrize("where", ["batches", "speedups", "validation", "alarms"])
def test_a_failing_setup_after_run_started_ends_the_run_failed(tmp_path, monkeypatch, where):
    from genstudio.core import periodic, speedups
    from genstudio.data.dataset import Dataset

    target = {
        "batches": (Dataset, "batches"),
        "speedups": (speedups, "batch_transform"),
        "validation": (Dataset, "get"),
        "alarms": (periodic, "AlarmMonitor"),
    }[where]
    out = tmp_path / "run"
    events = train(spec(20, eval_every=5), out)
    assert isinstance(next(events), RunStarted)
    monkeypatch.setattr(*target, _boom)  # after RunStarted: the set-up runs when the loop resumes
    rest = list(events)
    monkeypatch.undo()
    assert len(rest) == 1 and isinstance(rest[0], Finished), rest
    assert rest[0].status == "failed" and "set-up failed on purpose" in rest[0].message and rest[0].traceback
    run = RunFolder(out)
    assert run.meta["status"] == "failed" and "on purpose" in run.meta["message"]
    assert run.writer() is None


def test_a_run_from_before_retention_keeps_every_checkpoint(tmp_path):
    """Resuming a run whose config.toml predates keep_last must not start deleting its checkpoints."""
    import tomllib

    import tomli_w

    out = tmp_path / "old"
    list(train(spec(4, model="toy", checkpoint_every=1, keep_last=2), out))
    run = RunFolder(out)
    assert run.spec().run.keep_last == 2  # written by this version: the file's own value
    old = tomllib.loads(run.config_path.read_text())
    for key in ("keep_last", "keep_every", "keep_best"):
        old["run"].pop(key)
    run.config_path.write_text(tomli_w.dumps(old))
    assert run.spec().run.keep_last == 0  # keep every checkpoint, as that run always did
