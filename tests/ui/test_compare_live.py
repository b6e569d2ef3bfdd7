"""Compare runs updates a running run's step and wall time live, from its metrics (meta.json says 0 until a checkpoint)."""

from __future__ import annotations

import time

from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec


def running_run(root, logged_to: int, total: int) -> RunFolder:
    """A run whose meta.json still says step 0 (no checkpoint yet) while metrics.jsonl is at ``logged_to``."""
    spec = RunSpec.create("toy", "digits", {"steps": total}, {}, {})
    run = RunFolder.create(root / "live", spec, {"model": "toy", "dataset": "digits", "total_steps": total, "created": time.time()})
    run.update_meta(status="running", step=0, wall_time_s=0.0)
    run.append_metrics([{"step": s, "split": "train", "elapsed_s": s / 10, "loss": 1.0 / s} for s in range(10, logged_to + 1, 10)])
    return run


def test_compare_runs_follows_a_running_runs_step_and_wall_time(qtbot, tmp_path):
    from genstudio.ui.compare.view import CompareView

    run = running_run(tmp_path / "runs", logged_to=340, total=2000)
    v = CompareView([tmp_path / "runs"], poll_ms=100)
    qtbot.addWidget(v)
    v.show()
    try:
        labels = [c.label for c in v.model.columns]
        steps_col, wall_col = labels.index("steps"), labels.index("wall time")
        assert v.proxy.index(0, steps_col).data() == "340 / 2,000"
        assert v.proxy.index(0, wall_col).data() == "0:34"
        run.append_metrics([{"step": 910, "split": "train", "elapsed_s": 91.0, "loss": 0.1}])
        qtbot.waitUntil(lambda: v.proxy.index(0, steps_col).data() == "910 / 2,000", timeout=10_000)
        assert v.proxy.index(0, wall_col).data() == "1:31"
    finally:
        v.shutdown()
        qtbot.waitUntil(lambda: not v.queue.busy(), timeout=60_000)
