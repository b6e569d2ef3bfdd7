"""A live run's progress comes from the tail of metrics.jsonl, not from meta.json (written only at checkpoints)."""

from __future__ import annotations

import json
import time

from genstudio.core.runs import RunFolder, last_progress
from genstudio.core.spec import RunSpec
from genstudio.metrics import compare as cmp


def running_run(root, name="live", logged_to=340, total=2000):
    """A run whose meta.json still says step 0 (no checkpoint yet) while metrics.jsonl is at ``logged_to``."""
    spec = RunSpec.create("toy", "digits", {"steps": total}, {}, {})
    meta = {"model": "toy", "dataset": "digits", "total_steps": total, "created": time.time()}
    run = RunFolder.create(root / name, spec, meta)
    run.update_meta(status="running", step=0, wall_time_s=0.0)
    run.append_metrics([{"step": s, "split": "train", "elapsed_s": s / 10, "loss": 1.0 / s} for s in range(10, logged_to + 1, 10)])
    run.append_metrics([{"step": logged_to, "split": "val", "elapsed_s": 999.0, "loss": 0.5}])  # not a training record
    return run


def test_last_progress_reads_the_last_training_record_and_skips_a_torn_line(tmp_path):
    run = running_run(tmp_path)
    assert last_progress(run.metrics_path) == (340, 34.0)
    with open(run.metrics_path, "a") as f:
        f.write(json.dumps({"step": 350, "split": "train", "elapsed_s": 35.0})[:-5])  # the writer is mid-line
    assert last_progress(run.metrics_path) == (340, 34.0)
    # Only the tail is read: a long file still answers from its end.
    assert last_progress(run.metrics_path, tail_bytes=200) == (340, 34.0)
    assert last_progress(tmp_path / "missing.jsonl") is None


def test_compare_rows_show_a_running_runs_step_and_wall_time_from_its_metrics(tmp_path):
    run = running_run(tmp_path / "runs")
    cache = cmp.RowCache()
    row = cache.row(run)
    assert (row.step, row.wall_time_s) == (340, 34.0)  # meta.json says 0 and 0:00
    assert cmp.display_text(row, cmp.Column("step", "steps", numeric=True)) == "340 / 2,000"
    assert cmp.display_text(row, cmp.Column("wall_time_s", "wall time", numeric=True)) == "0:34"
    # More records arrive: the cached row is read again.
    run.append_metrics([{"step": 500, "split": "train", "elapsed_s": 50.0, "loss": 0.1}])
    assert cache.row(run).step == 500


def test_a_finished_run_keeps_meta_jsons_numbers(tmp_path):
    run = running_run(tmp_path / "runs")
    run.update_meta(status="completed", step=2000, wall_time_s=600.0)
    row = cmp.RowCache().row(run)
    assert (row.step, row.wall_time_s) == (2000, 600.0)
