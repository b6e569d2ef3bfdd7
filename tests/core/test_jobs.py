"""The hook protocol: a caller's job runs at its place in the loop, adds its curves, steers only through the state."""

from __future__ import annotations

import time

import pytest
import torch

from genstudio.core.config import ConfigError
from genstudio.core.engine import train
from genstudio.core.events import CheckpointSaved, Finished, Metrics, Notice, Preview, RunStarted
from genstudio.core.jobs import Job
from genstudio.core.loading import load_data
from genstudio.core.registry import register_dataset, unregister
from genstudio.core.run_state import Clock
from genstudio.core.runs import RunFolder
from tests.core.test_engine import spec, weights


class Recorder(Job):
    """Says when each hook runs; yields one Notice after each step that is a multiple of ``every``."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.calls: list[str] = []

    def metric_groups(self, spec):
        return {"Recorder": ["recorded"]}

    def start(self, state):
        self.calls.append(f"start@{state.step}")
        return ()

    def after_step(self, state):
        self.calls.append(f"step@{state.step}")
        if state.step % self.every == 0:
            yield Notice(f"recorder at {state.step}", level="info")

    def at_end(self, state):
        self.calls.append(f"end@{state.step}")
        return ()


def test_a_callers_job_runs_after_validation_and_before_the_preview(tmp_path):
    job = Recorder(every=10)
    events = list(train(spec(20), tmp_path / "run", jobs=[job]))
    assert job.calls == ["start@0", *[f"step@{i}" for i in range(1, 21)], "end@20"]
    first = next(i for i, e in enumerate(events) if isinstance(e, Metrics) and e.step == 10)
    last = next(i for i, e in enumerate(events) if isinstance(e, CheckpointSaved) and e.step == 10)
    kinds = [(type(e).__name__, getattr(e, "split", "")) for e in events[first : last + 1]]
    # Step 10: losses, validation, then the job, then the preview and the checkpoint (core/periodic.py's order).
    assert kinds == [("Metrics", "train"), ("Metrics", "val"), ("Notice", ""), ("Preview", ""), ("CheckpointSaved", "")], kinds
    assert [e.message for e in events if isinstance(e, Notice)] == ["recorder at 10", "recorder at 20"]
    # Its curves reach the run's metric groups, in the first event and in meta.json.
    assert events[0].metric_groups["Recorder"] == ["recorded"]
    assert RunFolder(tmp_path / "run").meta["metric_groups"]["Recorder"] == ["recorded"]


def test_a_job_that_stops_the_run_leaves_a_checkpoint_and_its_message(tmp_path):
    class StopAt(Job):
        def after_step(self, state):
            if state.step == 7:
                state.stop("enough at 7")
            return ()

    events = list(train(spec(20), tmp_path / "run", jobs=[StopAt()]))
    final = events[-1]
    assert isinstance(final, Finished) and (final.status, final.step, final.message) == ("stopped", 7, "enough at 7")
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [7]
    assert isinstance(events[-2], Preview) and events[-2].step == 7  # the final grid comes after the final checkpoint
    meta = RunFolder(tmp_path / "run").meta
    assert (meta["status"], meta["step"], meta["checkpoint_step"]) == ("stopped", 7, 7)


def test_a_job_that_fails_fails_the_run_with_its_traceback(tmp_path):
    class Broken(Job):
        def after_step(self, state):
            if state.step == 3:
                raise RuntimeError("job broke on purpose")
            return ()

    final = list(train(spec(20), tmp_path / "run", jobs=[Broken()]))[-1]
    assert final.status == "failed" and "job broke on purpose" in final.message and "test_jobs.py" in final.traceback
    assert RunFolder(tmp_path / "run").meta["status"] == "failed"


def test_jobs_that_only_watch_leave_training_exact(tmp_path):
    list(train(spec(20), tmp_path / "plain"))
    list(train(spec(20), tmp_path / "watched", jobs=[Recorder(every=1)]))
    a, b = weights(tmp_path / "plain"), weights(tmp_path / "watched")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_quality_every_without_a_quality_job_says_so(tmp_path):
    events = list(train(spec(4, quality_every=2), tmp_path / "run"))
    assert isinstance(events[0], RunStarted)
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "nothing measures sample quality" in notices[0] and "training_jobs" in notices[0]
    # With the quality job the run measures it and the warning is gone (tests/metrics/test_eval_runs.py measures the values).
    from genstudio.metrics.quality_job import training_jobs

    events = list(train(spec(4, quality_every=2, quality_n=32), tmp_path / "measured", jobs=training_jobs()))
    assert not any("nothing measures" in e.message for e in events if isinstance(e, Notice))
    assert [e.step for e in events if isinstance(e, Metrics) and "mmd2" in e.values] == [2, 4]


def test_the_clock_stands_still_while_paused():
    clock = Clock()
    time.sleep(0.02)
    clock.pause()
    frozen = clock.elapsed()
    assert frozen >= 0.02
    time.sleep(0.05)
    assert clock.elapsed() == frozen  # a pause, however long, is not training time
    clock.resume()
    time.sleep(0.02)
    assert clock.elapsed() >= frozen + 0.02  # and runs again


def test_a_loader_that_returns_no_dataset_is_a_clear_error():
    register_dataset("not-a-dataset", lambda options: [1, 2, 3])
    try:
        with pytest.raises(ConfigError, match="loader of dataset 'not-a-dataset' returned list, not a dataset"):
            load_data("not-a-dataset", spec(1).data)
    finally:
        unregister(dataset_id="not-a-dataset")
