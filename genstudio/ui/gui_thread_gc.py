"""Python's cycle collector runs on the GUI thread only, once the studio runs work on other threads.

CPython collects reference cycles on whichever thread happens to allocate
past its threshold. Widgets and pyqtgraph items form such cycles (a PlotItem,
its ViewBox and the ViewBox's context menu, whose spin boxes, line edits and
list widget run timers), so a training step or a pool job could free them on
its own thread. Qt cannot stop a GUI-thread timer from there ("QBasicTimer::
stop: Failed. Possibly trying to stop from a different thread"), the timer
stays registered, and its next event reaches freed memory: the studio died of
SIGSEGV in ``QTimerInfoList::activateTimers`` a few minutes into a run.

The cure is pyqtgraph's (``pyqtgraph.util.garbage_collector``): switch the
automatic collection off and run it from a GUI-thread timer with the
interpreter's own thresholds, so cycles are still collected, generation by
generation, at most one interval late. :func:`ensure_installed` is called by
everything that starts Python work off the GUI thread (the training session,
the thread pool helpers, the panels' jobs), so no such work runs before it.
"""

from __future__ import annotations

import gc
import threading
import time

from PySide6.QtCore import QCoreApplication, QObject, QTimer

#: How often the GUI thread looks at the allocation counts (ms). A look costs a
#: microsecond; a young-generation collection a fraction of a millisecond.
INTERVAL_MS = 200


class GuiThreadCollector(QObject):
    """Collects cycles on the GUI thread's timer, with the thresholds ``gc`` itself would use."""

    def __init__(self, app: QCoreApplication, interval_ms: int = INTERVAL_MS):
        super().__init__(app)
        self.collections = [0, 0, 0]  # per generation, for tests and the curious
        self.longest_ms = 0.0  # the longest collection so far (the GUI thread waits for it; benchmarks report it)
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.check)
        gc.disable()
        self._timer.start()
        # The application outlives every window; when it goes, the interpreter collects as usual again.
        self.destroyed.connect(lambda *_: gc.enable())

    @property
    def threshold(self) -> tuple[int, int, int]:
        """gc's own thresholds (disabling automatic collection leaves them as they are)."""
        return gc.get_threshold()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds (gc's own rule, run here)."""
        if threading.current_thread() is not threading.main_thread():
            return  # only ever called by the timer or the test fixture, both on the GUI thread
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 <= t0:
            return
        generation = 2 if (c1 > t1 and c2 > t2) else 1 if c1 > t1 else 0
        start = time.perf_counter()
        gc.collect(generation)
        self.longest_ms = max(self.longest_ms, (time.perf_counter() - start) * 1000)
        self.collections[generation] += 1


def installed() -> GuiThreadCollector | None:
    """The running application's collector, or None before :func:`ensure_installed` ran."""
    app = QCoreApplication.instance()
    return getattr(app, "_genstudio_gc", None) if app is not None else None


def ensure_installed() -> GuiThreadCollector | None:
    """Install the collector on the running application (once); None when there is no application yet.

    Must be called on the GUI thread, before the work it guards starts.
    """
    app = QCoreApplication.instance()
    if app is None:
        return None
    collector = getattr(app, "_genstudio_gc", None)
    if collector is None and threading.current_thread() is threading.main_thread():  # its timer must live on the GUI thread
        collector = GuiThreadCollector(app)
        app._genstudio_gc = collector  # the Python attribute keeps the wrapper; the app is its Qt parent
    return collector
