"""The lab panels' Qt-free arithmetic (``genstudio/ui/panels/*_math.py``): each module imports with Qt
unimportable, and its helpers are checked headless."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

MATH_MODULES = ["genstudio.ui.panels.diffusion_math", "genstudio.ui.panels.latent_math", "genstudio.ui.panels.diffusion_frames"]

BLOCK_QT = r"""
import importlib.abc, sys

class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockQt())
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print("OK")
"""


def test_the_math_modules_import_without_qt():
    r = subprocess.run([sys.executable, "-c", BLOCK_QT, *MATH_MODULES], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK"


def test_trajectory_polylines_break_between_particles():
    from genstudio.ui.panels.diffusion_math import trajectory_polylines

    path = np.arange(3 * 2 * 2, dtype=np.float32).reshape(3, 2, 2)  # 3 frames, 2 particles
    seg = trajectory_polylines(path)
    assert seg.shape == (2 * (3 + 1), 2)
    assert np.array_equal(seg[:3], path[:, 0]) and np.isnan(seg[3]).all()
    assert np.array_equal(seg[4:7], path[:, 1]) and np.isnan(seg[7]).all()


def test_view_range_keeps_the_data_box_and_ignores_non_finite_points():
    from genstudio.ui.panels.diffusion_math import view_range

    pts = np.array([[0.5, 0.5], [np.nan, 1.0], [0.2, np.inf]] * 5)
    assert view_range((-1.0, 1.0, -2.0, 2.0), pts) == ((-1.0, 1.0), (-2.0, 2.0))
    assert view_range(None, np.zeros((0, 2))) == ((-1.0, 1.0), (-1.0, 1.0))


def test_stationary_distribution_of_a_doubly_stochastic_chain_is_uniform():
    from genstudio.ui.panels.diffusion_math import stationary_distribution

    P = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5]])
    assert stationary_distribution(P) == pytest.approx(np.full(3, 1 / 3))
