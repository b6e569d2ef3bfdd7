"""Corrupt run folders in the studio: the runs browser, the window and Compare runs list them, show what they can, and say what is wrong.

Each folder is a real run (the toy model on moons, two checkpoints) with one
fault: a torn last line in metrics.jsonl, a truncated or zero-byte latest
checkpoint, latest.json naming a file that is not there, a config.toml that
names a model nobody registered. pytest-qt turns an exception raised in any
slot or event handler into a test failure, so "no traceback" is checked too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from genstudio.core import engine
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec

from tests.ui.conftest import errors, settings, window  # noqa: F401  (the studio fixtures)

STEPS = 20


def break_torn_metrics(run: RunFolder) -> None:
    with open(run.metrics_path, "a") as f:
        f.write('{"step": 21, "split": "train", "lo')  # the writer was killed mid-line


def _latest_weights(run: RunFolder) -> Path:
    return run.checkpoint_dir / f"step_{run.latest_checkpoint():08d}.safetensors"


def break_truncated_checkpoint(run: RunFolder) -> None:
    p = _latest_weights(run)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def break_empty_checkpoint(run: RunFolder) -> None:
    _latest_weights(run).write_bytes(b"")


def break_latest_pointer(run: RunFolder) -> None:
    (run.checkpoint_dir / "latest.json").write_text('{"step": 999, "weights": "step_00000999.safetensors", "state": "step_00000999.state.pt"}')


def break_unknown_model(run: RunFolder) -> None:
    text = run.config_path.read_text()
    run.config_path.write_text(text.replace('model = "toy"', 'model = "no-such-model"'))
    assert "no-such-model" in run.config_path.read_text()


FAULTS = {
    "torn-metrics": (break_torn_metrics, "last line of metrics.jsonl is incomplete"),
    "truncated-checkpoint": (break_truncated_checkpoint, "step_00000020.safetensors"),
    "empty-checkpoint": (break_empty_checkpoint, "step_00000020.safetensors"),
    "missing-latest": (break_latest_pointer, "step_00000999"),
    "unknown-model": (break_unknown_model, "no-such-model"),
}


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "toy-moons"
    spec = RunSpec.create("toy", "moons", {"steps": STEPS, "log_every": 1, "sample_every": 10, "checkpoint_every": 10, "eval_every": 0}, {}, {"n_points": 300})
    assert list(engine.train(spec, out))[-1].status == "completed"
    return out


@pytest.fixture
def broken_runs(tmp_path, good_run) -> Path:
    root = tmp_path / "runs"
    for name, (breaker, _) in FAULTS.items():
        shutil.copytree(good_run, root / name)
        breaker(RunFolder(root / name))
    return root


@pytest.mark.parametrize("fault", list(FAULTS))
def test_window_opens_a_corrupt_run_and_says_what_is_wrong(window, qtbot, errors, broken_runs, fault):
    path = broken_runs / fault
    window.runs_browser.set_root(broken_runs)
    assert window.runs_browser.table.rowCount() == len(FAULTS)  # every folder is listed
    assert window.open_run(path)
    store = window.training_view.curves.store
    assert store.get("loss").steps[-1] == STEPS  # the curves are shown (a torn last line is left out)
    assert window.training_view.samples.frames  # and the sample grids
    expect = FAULTS[fault][1]
    banner = window.training_view.banner
    assert banner.isVisible() and expect in banner.text(), banner.text()
    row = [r for r in range(window.runs_browser.table.rowCount()) if window.runs_browser.table.item(r, 7).text() == fault][0]
    tip = window.runs_browser.table.item(row, 4).toolTip()
    assert expect in tip, tip
    # Panels that load the checkpoint say why they cannot, in place; nothing pops up or raises.
    qtbot.wait(300)
    assert not errors


def test_compare_view_lists_corrupt_runs_and_evaluation_errors_stay_in_the_row(qtbot, broken_runs):
    from PySide6.QtCore import Qt

    from genstudio.ui.compare.view import CompareView

    v = CompareView([broken_runs], poll_ms=100)
    qtbot.addWidget(v)
    v.show()
    try:
        assert v.model.rowCount() == len(FAULTS)
        ev = v.model.eval_column
        said = {Path(v.model.index(i, ev).data(Qt.ItemDataRole.UserRole)).name: v.model.index(i, ev).data(Qt.ItemDataRole.ToolTipRole) or "" for i in range(v.model.rowCount())}
        for fault, (_, expect) in FAULTS.items():
            assert expect in said[fault], (fault, said[fault])  # said before anyone evaluates
        v.select_paths([str(r.path) for r in v.model.rows])
        assert len(v.selected_rows()) == len(FAULTS)
        qtbot.wait(300)  # grids and curves drawn for every selected run
        assert len(v.grids.views) == len(FAULTS)
        v.n_spin.setValue(100)
        assert v.evaluate_selected() == len(FAULTS)
        qtbot.waitUntil(lambda: not v.queue.busy(), timeout=120_000)
        ev = v.model.eval_column  # the evaluation added metric columns
        texts = {Path(v.model.index(i, ev).data(Qt.ItemDataRole.UserRole)).name: v.model.index(i, ev).data() for i in range(v.model.rowCount())}
        for fault, (_, expect) in FAULTS.items():
            if fault == "torn-metrics":
                assert texts[fault].startswith("damaged:") and (broken_runs / fault / "evals.jsonl").is_file(), texts[fault]  # evaluated fine
            else:
                assert texts[fault].startswith("error:") and "Traceback" not in texts[fault], texts[fault]
    finally:
        v.shutdown()
        qtbot.waitUntil(lambda: not v.queue.busy(), timeout=60_000)


def test_a_killed_run_is_shown_interrupted_and_resumes_from_its_newest_complete_checkpoint(window, qtbot, errors, tmp_path, good_run):
    """meta.json left 'running' by a killed process, its last checkpoint cut short: the studio says so and resumes it."""
    path = tmp_path / "runs" / "killed"
    shutil.copytree(good_run, path)
    run = RunFolder(path)
    run.update_meta(status="running")  # what a SIGKILL leaves behind
    break_truncated_checkpoint(run)
    window.runs_browser.set_root(tmp_path / "runs")
    assert window.runs_browser.table.item(0, 4).text() == "interrupted"
    assert window.open_run(path)
    assert window.follower is None  # nobody writes it: nothing to follow
    text = window.training_view.banner.text()
    assert "interrupted" in text and "cut short" in text and "step 10" in text, text
    assert window.act_resume_run.isEnabled()
    assert window.resume_shown_run(steps=STEPS + 10)
    qtbot.waitUntil(lambda: window.session is None, timeout=60_000)
    meta = RunFolder(path).meta
    assert meta["status"] == "completed" and meta["step"] == STEPS + 10 and meta["resumed_from"] == 10, meta
    assert not errors
