"""The studio closed mid-run: the process ends, the training thread stops cleanly, the run folder is complete and resumable.

The first test runs the real studio in a child process (``genstudio`` itself,
with ``--train``), lets it train, and sends SIGTERM, which the studio handles
as a click on the window's close button. The others close an in-process
window at the finer moments: while a checkpoint is being written (the save
is held on a gate) and while the diffusion panel samples.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from genstudio.core import engine
from genstudio.core.runs import RunFolder

from tests.ui.conftest import errors, fast_points_run, settings, window  # noqa: F401  (the studio fixtures)

REPO = Path(__file__).resolve().parents[2]
GUARD_S = 60  # a generous guard against a hang, not a speed claim

# The child registers the test models (as tests/conftest.py does here), then runs the command line (`genstudio --train ...`).
STUDIO = "import sys; from tests.toy_models import register_toys; register_toys(); from genstudio.cli import main; sys.exit(main(sys.argv[1:]))"


def studio_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # the child's QSettings, not the user's
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
    )
    return env


def wait_for(predicate, timeout_s: float = GUARD_S, what: str = "", proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read() if getattr(proc, "stderr", None) else ""
            raise AssertionError(f"the process exited early ({proc.returncode}) while waiting for {what}: {err}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def only_run(root: Path) -> Path | None:
    runs = [p for p in root.glob("*") if (p / "meta.json").is_file()] if root.is_dir() else []
    return runs[0] if len(runs) == 1 else None


def metric_lines(run: Path) -> int:
    try:
        return (run / "metrics.jsonl").read_text().count("\n")
    except OSError:
        return 0


def assert_complete_and_resumable(run_dir: Path) -> int:
    """meta.json says stopped, the latest checkpoint is the last step and loads, and the engine continues it."""
    run = RunFolder(run_dir)
    meta = run.meta
    assert meta["status"] == "stopped", meta
    step = int(meta["step"])
    assert step > 0 and run.latest_checkpoint() == step
    loaded_step, weights, state = run.load_checkpoint()
    assert loaded_step == step and weights and state["step"] == step
    spec = run.spec().with_overrides(run={"steps": step + 5})
    events = list(engine.train(spec, run_dir, resume=True))
    assert events[0].start_step == step
    assert events[-1].status == "completed" and events[-1].step == step + 5, events[-1]
    return step


def test_sigterm_closes_a_training_studio_cleanly(tmp_path):
    runs = tmp_path / "runs"
    args = [
        "--runs", str(runs), "--dataset", "moons", "--model", "toy",
        "--set", "n_points=500", "--set", "steps=10000000", "--set", "batch_size=32", "--set", "log_every=1",
        "--set", "checkpoint_every=0", "--set", "sample_every=0", "--set", "eval_every=0", "--train",
    ]  # fmt: skip
    out, err = open(tmp_path / "stdout.txt", "w"), open(tmp_path / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, "-c", STUDIO, *args], cwd=REPO, env=studio_env(tmp_path), stdout=out, stderr=err)
    try:
        wait_for(lambda: only_run(runs) is not None and metric_lines(only_run(runs)) >= 20, what="training to log 20 steps", proc=proc)
        run_dir = only_run(runs)
        assert RunFolder(run_dir).meta["status"] == "running"
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=GUARD_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out.close()
        err.close()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert rc == 0, stderr
    assert "Destroyed while thread" not in stderr and "Traceback" not in stderr, stderr
    step = assert_complete_and_resumable(run_dir)
    assert step >= 20  # it stopped where it was, not at a checkpoint from before


def test_unknown_setting_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", STUDIO, "--runs", str(tmp_path / "runs"), "--model", "toy", "--set", "nope=1"],
        cwd=REPO, env=studio_env(tmp_path), capture_output=True, text=True, timeout=GUARD_S,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown setting 'nope'" in proc.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_close_while_a_checkpoint_is_written(window, qtbot, qtlog, monkeypatch):
    """Close lands while the training thread is inside save_checkpoint: the save completes, then the run stops."""
    entered, release = threading.Event(), threading.Event()
    original = RunFolder.save_checkpoint
    saves: list[int] = []

    def held_save(self, step, weights, state):
        if not saves:  # hold the first save (the one asked for below) until the window has been closed
            entered.set()
            assert release.wait(GUARD_S), "the test never released the save"
        saves.append(step)
        return original(self, step, weights, state)

    monkeypatch.setattr(RunFolder, "save_checkpoint", held_save)
    fast_points_run(window, qtbot)
    window.start_training()
    s = window.session
    qtbot.waitUntil(lambda: s.step >= 5, timeout=30_000)
    window.act_save.trigger()
    qtbot.waitUntil(entered.is_set, timeout=30_000)
    run_dir = window.shown_run
    window.close()
    assert window.session is not None and window.isVisible()  # it waits for the thread, it does not kill it
    release.set()
    qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert saves and len(saves) == 1  # the held save was the last: the stop came right after it
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]
    assert not list(RunFolder(run_dir).checkpoint_dir.glob(".*.tmp"))  # no half-written file left behind
    assert assert_complete_and_resumable(run_dir) == saves[0]


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    from genstudio.core.spec import RunSpec

    out = tmp_path_factory.mktemp("runs") / "ddpm-digits"
    run = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4, "steps": 3}
    spec = RunSpec.create("ddpm", "digits", run, {"base_channels": 8, "timesteps": 200, "attention": False})
    assert list(engine.train(spec, out))[-1].status == "completed"
    return out


def test_close_while_the_diffusion_panel_samples(window, qtbot, qtlog, ddpm_run):
    """Closing the window stops the panel's sampler between network evaluations; nothing keeps running in the pool."""
    from PySide6.QtCore import QThreadPool

    assert window.open_run(ddpm_run)
    panel = next(w for w in window.training_view.panel_widgets if type(w).__name__ == "DiffusionPanel")
    qtbot.waitUntil(lambda: panel.model is not None, timeout=30_000)
    calls: list[float] = []
    closed_at: list[int] = []

    def slow_eval(_module, _inputs):
        calls.append(time.monotonic())
        time.sleep(0.05)  # 200 steps x 50 ms: the chain would run for 10 s or more

    # Sampling runs the EMA copy of the denoiser (the raw one when there is none): slow down both.
    for net in {id(m): m for m in (panel.model.net, getattr(panel.model.ema, "shadow", None)) if m is not None}.values():
        net.register_forward_pre_hook(slow_eval)
    rev = panel.reverse
    rev.run_button.click()
    qtbot.waitUntil(lambda: len(calls) >= 3, timeout=30_000)
    assert rev.busy()
    window.close()
    closed_at.append(len(calls))
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert QThreadPool.globalInstance().waitForDone(GUARD_S * 1000)
    assert len(calls) <= closed_at[0] + 1  # at most the evaluation already running when the window closed
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]
    assert json.loads((ddpm_run / "meta.json").read_text())["status"] == "completed"  # an opened run is only read


@pytest.mark.parametrize("how", ["close", "quit"])
def test_close_while_compare_runs_evaluates(window, qtbot, tmp_path, how):
    """The window closes at once during an evaluation; the evaluation stops at its next batch and saves nothing.

    ``quit`` is the application quitting without a close event (the desktop
    session ending): ``aboutToQuit`` calls the window's shutdown.
    """
    from PySide6.QtCore import QThreadPool

    from tests.ui.test_compare_view import fake_run, stoppable_evaluator

    run = fake_run(tmp_path / "runs", "a", dataset="moons")
    dock = window.show_compare()
    view = dock.widget()
    seen, stopped = [], []
    view.evaluator = stoppable_evaluator(seen, stopped, bound_s=GUARD_S * 2)
    view.select_paths([str(run.path)])
    assert view.evaluate_selected() == 1
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=10_000)
    if how == "close":
        window.close()
        assert not window.isVisible()  # closing does not wait for the evaluation
    else:
        window.shutdown()
    assert QThreadPool.globalInstance().waitForDone(GUARD_S * 1000)  # nothing left running for the process to wait on
    assert stopped == seen
    assert not (run.path / "evals.jsonl").exists()


def test_close_the_moment_train_is_pressed(window, qtbot, qtlog):
    """Closed while the run is still being set up (data, model): it ends stopped at step 0, not left 'running'."""
    fast_points_run(window, qtbot)
    assert window.start_training()
    run_dir = window.shown_run
    window.close()
    qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)
    assert not [r for r in qtlog.records if "Destroyed while thread" in r.message]
    run = RunFolder(run_dir)
    meta = run.meta
    assert meta["status"] == "stopped" and run.latest_checkpoint() == meta["step"], meta


def test_a_refused_setting_leaves_no_background_work_running(qtbot, tmp_path, monkeypatch):
    # The window built before the bad --set was found had started loading its data on the thread
    # pool; returning with that work still running let the process die of SIGSEGV at exit
    # (seen once as exit -11 in the child-process test above). Nothing may outlive the refusal.
    from PySide6.QtCore import QThreadPool

    from genstudio.ui import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert app.main(["--runs", str(tmp_path / "runs"), "--model", "toy", "--set", "nope=1"]) == 2
    assert QThreadPool.globalInstance().activeThreadCount() == 0
