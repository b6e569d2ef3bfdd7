"""The lab panels' background-job helper: the newest run wins, a stopped run is dropped, progress and
failures reach the UI thread, and the Run button and message line follow the run."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from genstudio.ui.panels.jobs import JobState, PanelJob


def make_job(qtbot, **kw):
    owner = QWidget()
    qtbot.addWidget(owner)
    button, message = QPushButton(owner), QLabel(owner)
    job = PanelJob(owner, button, message, **kw)
    done, failed, progress = [], [], []
    job.done.connect(done.append)
    job.failed.connect(lambda exc, tb: failed.append((exc, tb)))
    job.progress.connect(progress.append)
    job.owner = owner  # the widget must outlive the test's use of the job
    return job, button, message, done, failed, progress


def test_a_run_reports_progress_then_its_result_and_frees_the_button(qtbot):
    job, button, message, done, failed, progress = make_job(qtbot)
    gate = threading.Event()

    def work(state: JobState) -> str:
        state.report((1, 2))
        gate.wait(5)
        return "result"

    job.start(work, "working…")
    assert job.busy() and not button.isEnabled() and message.text() == "working…"
    qtbot.waitUntil(lambda: progress == [(1, 2)], timeout=5000)
    gate.set()
    qtbot.waitUntil(lambda: done == ["result"], timeout=5000)
    assert not job.busy() and button.isEnabled() and failed == []


def test_the_newest_run_wins_and_the_superseded_one_is_asked_to_stop(qtbot):
    job, _, _, done, _, _ = make_job(qtbot)
    gate = threading.Event()
    first = job.start(lambda state: gate.wait(5) and "first")
    job.start(lambda state: "second")
    assert first.stop_requested()
    qtbot.waitUntil(lambda: done == ["second"], timeout=5000)
    gate.set()
    qtbot.wait(200)
    assert done == ["second"]


def test_a_cancelled_run_delivers_nothing_and_can_stop_at_its_next_check(qtbot):
    job, button, _, done, failed, progress = make_job(qtbot)
    checks = []

    def work(state: JobState) -> str:
        for k in range(500):
            if state.stop_requested():
                checks.append(k)
                raise RuntimeError("stopped")
            state.report(k)
            threading.Event().wait(0.01)
        return "ran to the end"

    state = job.start(work)
    qtbot.waitUntil(lambda: len(progress) > 0, timeout=5000)
    job.cancel()
    assert button.isEnabled() and not job.busy()
    qtbot.waitUntil(lambda: len(checks) == 1, timeout=5000)
    qtbot.wait(100)
    assert state.stop_requested() and done == [] and failed == []


def test_a_failure_is_shown_in_the_message_line_with_its_traceback(qtbot):
    job, button, message, done, failed, _ = make_job(qtbot, failure="sweep failed: {exc}")

    def work(state: JobState) -> None:
        raise ValueError("scales must be 0 or more")

    job.start(work, "sampling…")
    qtbot.waitUntil(lambda: len(failed) == 1, timeout=5000)
    assert message.text() == "sweep failed: scales must be 0 or more" and button.isEnabled()
    assert isinstance(failed[0][0], ValueError) and "Traceback" in failed[0][1]


def test_a_dedicated_thread_runs_the_work_and_the_last_frame_arrives_before_the_result(qtbot):
    job, _, _, done, _, progress = make_job(qtbot)
    names, order = [], []
    job.progress.connect(lambda v: order.append(("frame", v)))
    job.done.connect(lambda v: order.append(("done", v)))

    def work(state: JobState) -> int:
        names.append(threading.current_thread().name)
        state.report("last frame")
        return 7

    job.start(work, thread_name="genstudio-test-job")
    qtbot.waitUntil(lambda: done == [7], timeout=5000)
    assert names == ["genstudio-test-job"] and order == [("frame", "last frame"), ("done", 7)]
