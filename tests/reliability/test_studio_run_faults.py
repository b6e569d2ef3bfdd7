"""Run failures the engine reports, as the studio shows them: a full disk, and a run folder another process holds.

The engine's side (core/runs.py, core/run_lock.py) is tested in
tests/reliability/test_run_folder_faults.py; here the question is whether the
user sees it: a dialog with a plain title, the banner, the run's status, and
a second process (studio or command line) refused with the holder named.
"""

from __future__ import annotations

import errno
import signal
import subprocess
import sys
import time

from genstudio.core import runs as runs_module
from genstudio.core.engine import train
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec

from tests.reliability.test_studio_close import GUARD_S, REPO, studio_env, wait_for
from tests.ui.conftest import errors, fast_points_run, settings, window  # noqa: F401  (the studio fixtures)

CLI = "import sys; from tests.toy_models import register_toys; register_toys(); from genstudio.cli import main; sys.exit(main(sys.argv[1:]))"


def test_disk_full_at_a_checkpoint_is_shown_and_the_run_resumes_after(window, qtbot, errors, monkeypatch):
    real_save = runs_module.save_file
    saves = []

    def full_disk(tensors, filename, metadata=None):
        saves.append(filename)
        if len(saves) >= 2:  # the first checkpoint fits, the second finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device", filename)
        return real_save(tensors, filename, metadata=metadata)

    monkeypatch.setattr(runs_module, "save_file", full_disk)
    fast_points_run(window, qtbot)
    window.model_panel.run_form.set_values({"checkpoint_every": 10})
    window.start_training()
    with qtbot.waitSignal(window.session.finished, timeout=GUARD_S * 1000) as fin:
        pass
    f = fin.args[0]
    assert f.status == "failed" and f.step == 20 and "disk full" in f.message, f
    qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
    run = RunFolder(window.shown_run)
    assert errors and errors[0][0] == "Disk full" and "disk full" in errors[0][1] and "Traceback" not in errors[0][2]
    assert "disk full" in window.training_view.banner.text()
    meta = run.meta
    assert meta["status"] == "failed" and "disk full" in meta["message"]
    assert run.newest_complete_checkpoint() == 10  # the checkpoint before is intact
    window.runs_browser.refresh()
    assert window.runs_browser.table.item(0, 4).text() == "failed" and "disk full" in window.runs_browser.table.item(0, 4).toolTip()

    monkeypatch.setattr(runs_module, "save_file", real_save)  # space freed
    window.open_run(run.path)
    assert window.act_resume_run.isEnabled()
    assert window.resume_shown_run(steps=30)
    qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
    meta = run.meta
    assert meta["status"] == "completed" and meta["step"] == 30 and meta["resumed_from"] == 10, meta


def _cli(args: list[str], tmp_path, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=REPO, env=studio_env(tmp_path), text=True, **kw)


def test_studio_refuses_a_run_folder_the_command_line_is_training(window, qtbot, errors, tmp_path):
    out = tmp_path / "runs" / "shared"
    spec = RunSpec.create("toy", "moons", {"steps": 10, "log_every": 1, "sample_every": 0, "checkpoint_every": 0, "eval_every": 0}, {}, {"n_points": 300})
    assert list(train(spec, out))[-1].status == "completed"
    assert window.open_run(out) and window.act_resume_run.isEnabled()

    cli = _cli(["train", "--out", str(out), "--resume", "--steps", "10000000"], tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: RunFolder(out).meta.get("status") == "running", what="the command line to resume the run", proc=cli)
        assert window.resume_shown_run(steps=20)  # the window still shows it finished; the engine has the last word
        qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
        assert errors, "the second writer was not refused"
        title, message, details = errors[0]
        assert title == "Run folder in use" and f"pid {cli.pid}" in message and details == ""
        assert "in use" in window.training_view.banner.text()
        assert cli.poll() is None and RunFolder(out).meta["status"] == "running"  # the first run goes on untouched
    finally:
        cli.send_signal(signal.SIGINT)  # its clean stop: a checkpoint, status stopped
        try:
            cli.wait(timeout=GUARD_S)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    assert RunFolder(out).meta["status"] == "stopped"


def test_command_line_refuses_a_run_folder_the_studio_is_training(window, qtbot, tmp_path):
    fast_points_run(window, qtbot)
    window.start_training()
    s = window.session
    qtbot.waitUntil(lambda: s.step >= 5, timeout=GUARD_S * 1000)
    out = window.shown_run
    cli = _cli(["train", "--out", str(out), "--resume"], tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Keep the studio's event loop turning while the other process tries.
    deadline = time.monotonic() + GUARD_S
    while cli.poll() is None and time.monotonic() < deadline:
        qtbot.wait(100)
    stdout, stderr = cli.communicate(timeout=GUARD_S)
    assert cli.returncode == 2, (stdout, stderr)
    assert stderr.strip().count("\n") == 0 and "in use by" in stderr and "Traceback" not in stderr, stderr
    step = s.step
    qtbot.waitUntil(lambda: s.step > step + 5, timeout=GUARD_S * 1000)  # the studio's run was not disturbed
    assert RunFolder(out).meta["status"] == "running"
    window.stop_training()
    qtbot.waitUntil(lambda: window.session is None, timeout=GUARD_S * 1000)
    assert RunFolder(out).meta["status"] == "stopped"
