"""BackgroundCall: results come back on the UI thread, and a superseded call still running is told apart."""

from __future__ import annotations

import threading


def test_a_superseded_call_still_running_keeps_the_pool_busy_but_not_the_latest(qtbot):
    from genstudio.ui.tasks import BackgroundCall

    call = BackgroundCall()
    release = threading.Event()
    got: list[tuple[int, object]] = []
    call.done.connect(lambda ticket, result: got.append((ticket, result)))
    first = call.start(lambda: release.wait(30) and "old")
    assert call.latest_pending() and call.busy()
    second = call.start(lambda: "new")
    qtbot.waitUntil(lambda: (second, "new") in got, timeout=10_000)
    assert not call.latest_pending()  # what the caller waits for has come
    assert call.busy()  # the first call is still on the pool
    release.set()
    qtbot.waitUntil(lambda: not call.busy(), timeout=10_000)
    assert (first, "old") in got and not call.latest_pending()


def test_a_failed_latest_call_is_reported_and_no_longer_pending(qtbot):
    from genstudio.ui.tasks import BackgroundCall

    call = BackgroundCall()
    failed: list[int] = []
    call.failed.connect(lambda ticket, exc, tb: failed.append(ticket))
    ticket = call.start(lambda: 1 / 0)
    qtbot.waitUntil(lambda: failed == [ticket], timeout=10_000)
    assert not call.latest_pending() and not call.busy()
