"""The status bar before and during a run."""

from __future__ import annotations

import torch

from genstudio.core import device as devmod
from genstudio.ui.status_bar import StudioStatusBar, format_duration


def test_before_a_run_it_shows_the_threads_a_run_would_use_not_the_process_count(qtbot, monkeypatch):
    monkeypatch.setattr(devmod, "default_threads", lambda gui: 1 if gui else 2)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        bar = StudioStatusBar()
        qtbot.addWidget(bar)
        assert bar.threads.text() == "threads: 1"
        bar.set_device("cpu", 3)  # a run reports what it set
        assert (bar.device.text(), bar.threads.text()) == ("device: cpu", "threads: 3")
    finally:
        torch.set_num_threads(torch_threads)


def test_progress_and_durations_read_as_a_user_expects(qtbot):
    bar = StudioStatusBar()
    qtbot.addWidget(bar)
    assert (bar.step.text(), bar.rate.text(), bar.eta.text()) == ("step: –", "– steps/s", "ETA –")
    bar.set_progress(1234, 5000, 2.5, 3725)
    assert (bar.step.text(), bar.rate.text(), bar.eta.text()) == ("step: 1,234 / 5,000", "2.5 steps/s", "ETA 1:02:05")
    assert format_duration(59.6) == "1:00" and format_duration(float("nan")) == "–"
