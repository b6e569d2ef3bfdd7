"""The panels' shared checkpoint loader: one load at a time, the newest request wins, failures become status text."""

from __future__ import annotations

import threading

from PySide6.QtWidgets import QWidget

from genstudio.core.runs import RunError
from genstudio.ui.panels.live import CheckpointLoader, load_failure_text


def test_requests_during_a_load_collapse_into_one_more_load(qtbot):
    owner = QWidget()
    loader = CheckpointLoader(owner, "the test panel")
    got, busy = [], []
    loader.loaded.connect(got.append)
    loader.busy.connect(busy.append)
    gate = threading.Event()
    calls = []

    def slow(tag):
        def fn():
            calls.append(tag)
            gate.wait(5)
            return tag
        return fn

    loader.load(slow("first"))
    loader.load(slow("second"))  # superseded before it ever starts
    loader.load(slow("third"))
    gate.set()
    qtbot.waitUntil(lambda: got == ["first", "third"], timeout=5000)
    assert calls == ["first", "third"] and busy == [True, True, False]


def test_failures_are_reported_as_status_text(qtbot):
    owner = QWidget()
    loader = CheckpointLoader(owner, "the test panel")
    texts = []
    loader.failed.connect(lambda text, tb: texts.append((text, "Traceback" in tb)))

    def no_checkpoint():
        raise RunError("'runs/x' has no checkpoint yet")

    loader.load(no_checkpoint)
    qtbot.waitUntil(lambda: len(texts) == 1, timeout=5000)
    assert texts[0] == ("Waiting for the first checkpoint of this run; the test panel loads it when it is saved.", True)
    assert load_failure_text(ValueError("bad shape"), "x") == "Could not load the model: ValueError: bad shape"


def test_a_closed_loader_delivers_nothing(qtbot):
    owner = QWidget()
    loader = CheckpointLoader(owner, "the test panel")
    got = []
    loader.loaded.connect(got.append)
    gate = threading.Event()
    loader.load(lambda: gate.wait(5) and "late")
    loader.close()
    gate.set()
    qtbot.wait(200)
    loader.load(lambda: "after close")
    qtbot.wait(200)
    assert got == []
