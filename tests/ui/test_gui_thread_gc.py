"""Cycles that hold Qt objects are collected on the GUI thread, never by a training step or a pool job.

The studio crashed (SIGSEGV in QTimerInfoList::activateTimers) when a training
step on its own thread happened to run Python's cycle collector and freed a
discarded plot's context menu, whose widgets' timers only the GUI thread can
stop. See genstudio/ui/gui_thread_gc.py.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt

from genstudio.ui import gui_thread_gc


def _allocate_containers(n: int = 300_000) -> None:
    """Enough young containers to pass gc's thresholds many times over (every generation)."""
    for _ in range(n // 1000):
        junk = [[] for _ in range(1000)]
        del junk


def _leave_cyclic_garbage(n: int) -> None:
    for _ in range(n):
        loop: list = []
        loop.append(loop)


def test_a_cycle_with_a_qt_object_outlives_a_busy_worker_and_dies_on_the_gui_thread(qtbot):
    collector = gui_thread_gc.ensure_installed()
    assert collector is not None and collector is gui_thread_gc.installed()
    assert not gc.isenabled()
    where: list[int] = []
    victim = QObject()  # no parent: its Python wrapper owns it, so the cycle's collection deletes it
    victim.destroyed.connect(lambda *_: where.append(threading.get_ident()), Qt.ConnectionType.DirectConnection)
    victim.me = victim  # a reference cycle: only the cycle collector frees it
    del victim

    worker = threading.Thread(target=_allocate_containers, name="busy-worker")
    worker.start()
    worker.join()
    assert where == [], "the worker's allocations ran the cycle collector on the worker's thread"

    before = list(collector.collections)
    _leave_cyclic_garbage(2 * collector.threshold[0])  # what a panel leaves behind, past the young threshold
    qtbot.waitUntil(lambda: bool(where), timeout=10_000)  # the timer collects, on this thread
    assert where == [threading.get_ident()] and threading.current_thread() is threading.main_thread()
    assert sum(collector.collections) > sum(before)


def test_the_collector_keeps_gc_s_own_thresholds_and_generations(qtbot, monkeypatch):
    collector = gui_thread_gc.ensure_installed()
    t0, t1, t2 = collector.threshold
    calls: list[int] = []
    monkeypatch.setattr(gui_thread_gc.gc, "collect", lambda generation=2: calls.append(generation) or 0)
    for counts, expected in [((t0, 0, 0), []), ((t0 + 1, 0, 0), [0]), ((t0 + 1, t1 + 1, 0), [1]), ((t0 + 1, t1 + 1, t2 + 1), [2])]:
        calls.clear()
        monkeypatch.setattr(gui_thread_gc.gc, "get_count", lambda c=counts: c)
        collector.check()
        assert calls == expected, counts


def _start_training(qtbot, tmp_path: Path) -> None:
    from genstudio.core.spec import RunSpec
    from genstudio.ui.training_worker import TrainingSession

    s = TrainingSession(RunSpec.create("toy", "moons", {"steps": 2}), tmp_path / "run")
    with qtbot.waitSignal(s.ended, timeout=60_000):
        s.start()


def _start_pool_call(qtbot, tmp_path: Path) -> None:
    from genstudio.ui.tasks import BackgroundCall

    call = BackgroundCall()
    with qtbot.waitSignal(call.done, timeout=10_000):
        call.start(lambda: 1)


def _start_panel_job(qtbot, tmp_path: Path) -> None:
    from genstudio.ui.panels.jobs import PanelJob

    owner = QObject()
    job = PanelJob(owner)
    with qtbot.waitSignal(job.done, timeout=10_000):
        job.start(lambda state: 1)


@pytest.mark.parametrize("start", [_start_training, _start_pool_call, _start_panel_job], ids=["training", "pool-call", "panel-job"])
def test_every_way_to_run_python_off_the_gui_thread_installs_the_collector_first(qtbot, tmp_path, monkeypatch, start):
    calls: list[str] = []
    real = gui_thread_gc.ensure_installed
    monkeypatch.setattr(gui_thread_gc, "ensure_installed", lambda: calls.append(threading.current_thread().name) or real())
    start(qtbot, tmp_path)
    assert calls and set(calls) == {threading.main_thread().name}
