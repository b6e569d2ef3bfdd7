"""The runs browser follows a run that a separate `genstudio train` process is writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _status(out: Path) -> str | None:
    try:
        return json.loads((out / "meta.json").read_text()).get("status")
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def test_follows_a_genstudio_train_process(window, qtbot, tmp_path):
    out = tmp_path / "runs" / "gan-live"
    cmd = [
        sys.executable, "-m", "genstudio", "train", "--model", "gan", "--dataset", "moons", "--steps", "1000000",
        "--out", str(out), "--device", "cpu", "--batch-size", "64",
        "--set", "hidden=32", "--set", "layers=2", "--set", "n_points=512", "--set", "log_every=5",
        "--set", "sample_every=200", "--set", "preview_every_s=0", "--set", "eval_every=0", "--set", "checkpoint_every=0",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while _status(out) != "running":
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the training process did not start within 120 s"
            qtbot.wait(200)

        window.runs_browser.refresh()
        t = window.runs_browser.table
        row = next(r for r in range(t.rowCount()) if t.item(r, 7).text().endswith("gan-live"))
        assert t.item(row, 4).text() == "running"
        window.runs_browser._open_row(row)
        assert window.shown_run == out and window.follower is not None
        store = window.training_view.curves.store
        qtbot.waitUntil(lambda: "d_loss" in store.names() and store.get("d_loss").n >= 1, timeout=60_000)
        first = store.get("d_loss").n
        qtbot.waitUntil(lambda: store.get("d_loss").n >= first + 5, timeout=60_000)  # it keeps updating
        qtbot.waitUntil(lambda: len(window.training_view.samples.frames) >= 1, timeout=90_000)  # grids arrive too

        proc.send_signal(signal.SIGINT)  # Ctrl+C: the process stops cleanly with a checkpoint
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
        qtbot.waitUntil(lambda: window.follower is None, timeout=10_000)
        assert "stopped" in window.training_view.title.full_text()  # the label may be elided; its full text is the tooltip
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
        qtbot.waitUntil(lambda: store.get("d_loss").n == len(records), timeout=10_000)  # every record shown once
        window.runs_browser.refresh()
        assert window.runs_browser.table.item(row, 4).text() == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
