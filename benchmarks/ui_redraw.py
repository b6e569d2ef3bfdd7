"""Curve view redraw time with 100,000 points per curve (target: under 16 ms).

Three curves in one metric group (each a raw and a smoothed line), 100,000
points each. Measures the live case (10 new points appended, then
``redraw`` + a synchronous repaint of the plots) and the full case (smoothing
changed: every EMA recomputed). Median and p95 over repeats; merges into
benchmarks/results/ui.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "ui.json"
N = 100_000


def main() -> int:
    import genstudio.ui  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from genstudio.ui.curves_view import CurvesView

    app = QApplication.instance() or QApplication([])
    v = CurvesView()
    v.resize(900, 600)
    v.show()
    v.reset({"Losses": ["loss", "recon", "kl"]})
    rng = np.random.default_rng(0)
    steps = np.arange(1, N + 1, dtype=np.float64)
    for k, name in enumerate(("loss", "recon", "kl")):
        v.store.add(1, {name: 1.0})
        s = v.store.get(name)
        s.n = 0
        s.extend(steps, np.exp(-steps / 3e4) * (k + 1) + 0.05 * rng.standard_normal(N))
    v.redraw()
    v.graphics.repaint()
    app.processEvents()

    def timed(fn, reps):
        out = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1000)
        return np.array(out)

    step = [N]

    def live():
        for _ in range(10):
            step[0] += 1
            v.store.add(step[0], {"loss": 0.1, "recon": 0.2, "kl": 0.3})
        v.redraw()
        v.graphics.repaint()

    flip = [0]

    def full():
        flip[0] ^= 1
        v.smoothing.setValue(60 + flip[0])
        v.redraw()
        v.graphics.repaint()

    live_ms = timed(live, 40)
    if len(sys.argv) > 1:
        v.grab().save(sys.argv[1])  # look at what was timed
    full_ms = timed(full, 20)
    res = {
        "points_per_curve": N,
        "curves": 3,
        "live_append_redraw_ms_median": float(np.median(live_ms)),
        "live_append_redraw_ms_p95": float(np.percentile(live_ms, 95)),
        "smoothing_change_redraw_ms_median": float(np.median(full_ms)),
        "smoothing_change_redraw_ms_p95": float(np.percentile(full_ms, 95)),
        "target": "under 16 ms",
        "pass": bool(np.median(live_ms) < 16),
    }
    old = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    old["curve_redraw"] = res
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(old, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
