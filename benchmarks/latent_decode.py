"""Decoding for a traversal-slider move in the latent explorer (target: under 30 ms at 28 x 28).

Two measurements, on one torch thread (what the studio leaves the UI on a
2-core machine while training uses the other):

1. ``model.decode`` of one latent, for every latent-lab model built fresh
   with its default config for 28 x 28 one-channel images with 10 classes
   (the weights do not change the cost), median / p95 over many calls.
2. The whole slider move in the panel, as the user sees it: a 1-step
   ``vae`` run on ``mnist5k`` with default settings is opened in the
   LatentExplorerPanel, and ``slider.setValue(v)`` plus a synchronous
   ``repaint()`` is timed for values in a shuffled order (decode, label
   update, image conversion and painting).

Writes benchmarks/results/latent_decode.json.

    .venv/bin/python benchmarks/latent_decode.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "latent_decode.json"
TARGET_MS = 30.0
MODELS = ("vae", "beta-vae", "cvae", "ae", "dae", "sparse-ae", "vq-vae", "gan", "cgan", "wgan-gp", "lsgan", "dcgan")


def stats(ms: list[float]) -> dict:
    a = np.array(ms)
    return {
        "calls": len(a),
        "ms_median": round(float(np.median(a)), 3),
        "ms_p95": round(float(np.percentile(a, 95)), 3),
        "ms_max": round(float(a.max()), 3),
    }


def time_model_decode(model_id: str, reps: int = 200) -> dict:
    from genstudio.core.capabilities import Conditional
    from genstudio.core.data_types import DataInfo
    from genstudio.core.registry import get_model_class

    info = DataInfo("image", (1, 28, 28), num_classes=10, name="mnist-shaped", class_names=tuple(str(i) for i in range(10)))
    cls = get_model_class(model_id)
    torch.manual_seed(0)
    model = cls(cls.config_class(), info).eval()
    z = model.prior_sample(1, torch.Generator().manual_seed(0))
    kw = {"labels": torch.tensor([3])} if isinstance(model, Conditional) else {}
    for _ in range(10):  # warm-up: first calls allocate
        model.decode(z, **kw)
    times = []
    for i in range(reps):
        zi = z + 0.01 * i
        t0 = time.perf_counter()
        model.decode(zi, **kw)
        times.append((time.perf_counter() - t0) * 1000)
    return {"model": model_id, "latent_dim": int(model.latent_dim), **stats(times)}


def time_panel_slider(reps: int = 3) -> dict:
    from PySide6.QtWidgets import QApplication

    from genstudio.core.engine import train
    from genstudio.core.runs import RunFolder
    from genstudio.core.spec import RunSpec
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.latent.panel import LatentExplorerPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "vae"
        spec = RunSpec.create(
            "vae", "mnist5k", {"steps": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
        )
        events = list(train(spec, run_dir))
        assert events[-1].status == "completed", events[-1].message
        torch.set_num_threads(1)  # train() configured threads for the CLI; the UI thread gets one
        meta = RunFolder(run_dir).meta
        panel = LatentExplorerPanel(PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {}))
        panel.resize(1100, 750)
        panel.show()
        panel.tabs.setCurrentWidget(panel.traversal_tab)
        deadline = time.time() + 120
        while panel.data is None and time.time() < deadline:
            app.processEvents()
            time.sleep(0.01)
        if panel.data is None:
            raise RuntimeError(f"the panel did not load the run: {panel.status.text()}")
        _, slider, _ = panel.traversal_tab.sliders[0]
        rng = np.random.default_rng(0)
        times = []
        for _ in range(reps):
            for v in rng.permutation(np.arange(0, 201, 4)):
                t0 = time.perf_counter()
                slider.setValue(int(v))
                panel.repaint()
                times.append((time.perf_counter() - t0) * 1000)
            app.processEvents()
        panel.shutdown()
        return {"model": "vae", "dataset": "mnist5k", "latent_dim": panel.data.latent_dim if panel.data else 16, **stats(times)}


def main() -> int:
    torch.set_num_threads(1)
    load_start = os.getloadavg()[0]
    decode = [time_model_decode(m) for m in MODELS]
    slider = time_panel_slider()
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        # Other work on the machine skews every number here: the load says how much.
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }
    worst = max(r["ms_p95"] for r in decode)
    out = {
        "machine": machine,
        "target_ms": TARGET_MS,
        "decode_one_latent": decode,
        "panel_slider_move": slider,
        "all_under_target": bool(worst < TARGET_MS and slider["ms_p95"] < TARGET_MS),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    for r in decode:
        print(f"{r['model']:>10}  decode median {r['ms_median']:.2f} ms  p95 {r['ms_p95']:.2f} ms")
    print(f"panel slider move (vae, mnist5k): median {slider['ms_median']:.2f} ms  p95 {slider['ms_p95']:.2f} ms")
    print(f"load average (1 min): {machine['load_average_1min']}")
    return 0 if out["all_under_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
