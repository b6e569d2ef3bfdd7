"""The lab panels' Qt-free arithmetic (``genstudio/ui/panels/*_math.py``): each module imports with Qt
unimportable, and its helpers are checked headless."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

MATH_MODULES = [
    "genstudio.ui.panels.diffusion_math",
    "genstudio.ui.panels.diffusion_frames",
    "genstudio.ui.panels.diffusion_sweeps",
    "genstudio.ui.panels.autoregressive_math",
    "genstudio.ui.panels.latent_math",
    "genstudio.ui.panels.flow_math",
    "genstudio.ui.panels.gan_math",
    "genstudio.ui.panels.run_data",
    "genstudio.ui.examples",
    # The panels' load jobs run on worker threads and touch no widget: they import no Qt either.
    "genstudio.ui.panels.latent.prepare",
    "genstudio.ui.panels.flow.prepare",
    "genstudio.ui.panels.gan.prepare",
    "genstudio.ui.panels.autoregressive.prepare",
    "genstudio.ui.panels.diffusion.prepare",
]

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


def test_speed_slider_is_logarithmic_and_its_last_position_is_unlimited():
    from genstudio.ui.panels.autoregressive_math import MAX_SPEED, MIN_SPEED, SPEED_STEPS, speed_of

    assert speed_of(0) == pytest.approx(MIN_SPEED) and speed_of(SPEED_STEPS - 1) == pytest.approx(MAX_SPEED)
    assert speed_of(SPEED_STEPS) is None
    ratios = [speed_of(k + 1) / speed_of(k) for k in range(SPEED_STEPS - 2)]
    assert max(ratios) == pytest.approx(min(ratios))  # the same factor per notch


def test_grid_cell_inverts_cell_origin_and_padding_is_no_cell():
    from genstudio.ui.panels.autoregressive_math import cell_origin, grid_cell

    n, ncols, h, w = 7, 3, 4, 5
    for k in range(n):
        x0, y0 = cell_origin(k, ncols, h, w)
        assert grid_cell(x0, y0, n, ncols, h, w) == (k, 0, 0)
        assert grid_cell(x0 + w - 1, y0 + h - 1, n, ncols, h, w) == (k, h - 1, w - 1)
        assert grid_cell(x0 + w, y0, n, ncols, h, w) is None  # the 1-pixel gap after the cell
    assert grid_cell(*cell_origin(7, ncols, h, w), n, ncols, h, w) is None  # past the last example
    assert grid_cell(-1, 3, n, ncols, h, w) is None


def test_sample_columns_and_position_descriptions():
    from genstudio.ui.panels.autoregressive_math import describe_positions, sample_columns

    assert sample_columns(10) == 5 and sample_columns(1) == 1 and sample_columns(16) == 6

    from genstudio.ui.panels.autoregressive_math import fit_columns

    assert fit_columns(16, 28, 28, 360, 330) == 4  # a square view: 4 x 4 (6 x 3 drew each digit 30 % smaller)
    assert fit_columns(16, 28, 28, 1000, 120) == 16 and fit_columns(16, 28, 28, 120, 1000) == 1
    assert fit_columns(10, 28, 28, 0, 0) == sample_columns(10)  # no size yet
    assert describe_positions([], False, 1) == "—"
    assert describe_positions([(0, 3, 5)], False, 1) == "pixel (3, 5)"
    assert describe_positions([(0, 3, 5), (1, 3, 5), (2, 3, 5)], False, 3) == "pixel (3, 5) RGB"
    assert describe_positions([(0, 4, j) for j in range(8)], False, 1) == "row 4"
    assert describe_positions([(0, 0, t) for t in range(128, 136)], True, 1) == "t = 128..135"


def test_flow_view_extent_is_a_widened_square_around_the_data():
    from genstudio.ui.panels.flow_math import view_extent

    x0, x1, y0, y1 = view_extent(np.zeros((0, 2)), (0.0, 4.0, 0.0, 1.0), margin=0.25)
    assert x1 - x0 == pytest.approx(6.0) and y1 - y0 == pytest.approx(6.0)  # the long side, widened 25% each way
    assert (x0 + x1) / 2 == pytest.approx(2.0) and (y0 + y1) / 2 == pytest.approx(0.5)


def test_flow_timing_text():
    from genstudio.ui.panels.flow_math import fmt_time

    assert fmt_time(0.012, 40_000, "density of grid points") == "density of grid points 40,000: 12.0 ms (0.3 µs each)"
