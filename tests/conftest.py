"""Test setup: offscreen Qt before any Qt import, small thread counts, temp caches."""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("GENSTUDIO_CACHE", os.path.join(os.path.dirname(__file__), "..", ".cache", "genstudio-test"))

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.toy_models import register_toys  # noqa: E402

register_toys()


@pytest.fixture(autouse=True)
def _deterministic_threads():
    # Two cores in CI: one torch thread keeps tests from fighting each other and pytest-qt's loop.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def _collect_cycles_between_tests():
    # Once a Qt test has started work off the GUI thread, cycles are collected only by the GUI thread's
    # timer (genstudio/ui/gui_thread_gc.py); a test that never spins the event loop gets its look here.
    yield
    module = sys.modules.get("genstudio.ui.gui_thread_gc")
    collector = module.installed() if module is not None else None
    if collector is not None:
        collector.check()
