"""Training → Hand to cluster…: the dialog shows, regenerates, copies and saves the cluster texts."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from PySide6.QtGui import QGuiApplication

from genstudio.cli import _spec_from_args, build_parser

SCREENSHOT = Path(__file__).resolve().parents[2] / "resources" / "screenshots" / "cluster-dialog.png"


def _menu_action(window, menu_title: str, text: str):
    for top in window.menuBar().actions():
        if top.text().replace("&", "") == menu_title:
            return next((a for a in top.menu().actions() if a.text() == text), None)
    return None


def test_hand_to_cluster_dialog(window, qtbot, tmp_path):
    window.model_panel.select("vae")
    window.dataset_panel.select("digits")
    window.model_panel.run_form.set_values({"steps": 1500, "batch_size": 32})
    action = _menu_action(window, "Training", "Hand to cluster…")
    assert action is not None and action is window.act_cluster
    action.trigger()
    d = window.last_dialog
    qtbot.waitUntil(d.isVisible, timeout=5_000)

    command = d.views["command"].toPlainText()
    assert command.startswith("torchrun --standalone --nproc-per-node 1 -m genstudio train --config vae-digits.toml")
    d.nodes.setValue(2)
    d.procs.setValue(4)
    d.gpus.setValue(4)
    d.device.setCurrentText("cuda")
    command = d.views["command"].toPlainText()
    assert "--nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint MASTER_HOST:29500" in command
    assert 'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node 4' in d.views["script"].toPlainText()
    assert "256 examples per step" in d.summary.text()  # 32 per process x 8 processes

    d.copy("script")
    assert QGuiApplication.clipboard().text() == d.texts["script"]

    # The saved config, read by the command the dialog shows, rebuilds the configured run.
    saved = d.save("config", tmp_path / "vae-digits.toml")
    argv = shlex.split(command.replace("vae-digits.toml", str(saved)))
    spec = _spec_from_args(build_parser().parse_args(argv[argv.index("-m") + 2 :]))
    assert spec.run.model == "vae" and spec.run.dataset == "digits" and spec.run.steps == 1500 and spec.run.batch_size == 32
    assert spec.run.device == "cuda"

    # The README's screenshot is refreshed only on request, so a test run leaves the checkout clean.
    shot = SCREENSHOT if os.environ.get("GENSTUDIO_WRITE_SCREENSHOTS") else tmp_path / "cluster-dialog.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    d.tabs.setCurrentIndex(1)
    assert d.grab().save(str(shot)) and shot.stat().st_size > 0

    # A plan that cannot work: the reason is shown and nothing can be copied.
    d.gpus.setValue(2)
    assert d.problem.isVisible() and "own GPU" in d.problem.text()
    assert not d.copy_buttons["command"].isEnabled() and d.views["command"].toPlainText() == ""
    d.close()
