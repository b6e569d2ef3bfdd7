"""Screenshots of the latent lab's panels on runs trained here (for the README).

Trains three small runs on one thread, then opens each panel offscreen and
grabs it:

- ``vae`` with a 2-D latent on ``mnist5k``: the explorer's map (digits laid
  out by class, with a click between two clusters), traversals, manifold grid;
- ``cgan`` on ``mnist5k``: the explorer's class sweep;
- ``gan`` on ``8gaussians``: the GAN view (D heatmap, G's gradient arrows).

Writes resources/screenshots/latent-*.png and prints what each run reached.

    .venv/bin/python benchmarks/latent_screenshots.py [--vae-steps 1500 --cgan-steps 3000 --gan-steps 3000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "resources" / "screenshots"
RUN = {"sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 16, "threads": 1}


def train_run(root: Path, model: str, dataset: str, steps: int, over: dict, data: dict | None = None) -> Path:
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    out = root / model
    t0 = time.perf_counter()
    events = list(train(RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {}), out))
    print(f"{model} on {dataset}: {events[-1].status} after {steps} steps in {time.perf_counter() - t0:.0f} s")
    return out


def wait(app, cond, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)


def context(run_dir: Path):
    from genstudio.core.runs import RunFolder
    from genstudio.ui.panels import PanelContext

    meta = RunFolder(run_dir).meta
    return PanelContext(run_dir, meta["capabilities"], meta["metric_groups"], meta["data_info"], {})


def grab(app, widget, name: str) -> None:
    for _ in range(5):
        app.processEvents()
    path = OUT / f"latent-{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae-steps", type=int, default=1500)
    ap.add_argument("--cgan-steps", type=int, default=3000)
    ap.add_argument("--gan-steps", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    import genstudio.ui  # noqa: F401
    from genstudio.ui.panels.gan_view import GanViewPanel
    from genstudio.ui.panels.latent_explorer import LatentExplorerPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        vae = train_run(root, "vae", "mnist5k", args.vae_steps, {"latent_dim": 2})
        panel = LatentExplorerPanel(context(vae))
        panel.resize(1200, 760)
        panel.show()
        wait(app, lambda: panel.data is not None)
        d = panel.data
        c = {k: d.projection.coords[d.labels == k].mean(0) for k in range(10)}
        pair = min(((a, b) for a in range(10) for b in range(a + 1, 10)), key=lambda ab: -np.linalg.norm(c[ab[0]] - c[ab[1]]))
        mid = (c[pair[0]] + c[pair[1]]) / 2
        panel.map_tab.click_at(float(mid[0]), float(mid[1]))
        print(f"clicked between the clusters of {pair[0]} and {pair[1]} at ({mid[0]:.2f}, {mid[1]:.2f})")
        grab(app, panel, "map")
        panel.tabs.setCurrentWidget(panel.traversal_tab)
        grab(app, panel, "traversals")
        panel.tabs.setCurrentWidget(panel.manifold_tab)
        grab(app, panel, "manifold")
        panel.shutdown()

        cgan = train_run(root, "cgan", "mnist5k", args.cgan_steps, {})
        panel = LatentExplorerPanel(context(cgan))
        panel.resize(1200, 760)
        panel.show()
        wait(app, lambda: panel.data is not None)
        panel.tabs.setCurrentWidget(panel.class_tab)
        grab(app, panel, "classes")
        panel.shutdown()

        gan = train_run(root, "gan", "8gaussians", args.gan_steps, {}, {"n_points": 8000})
        view = GanViewPanel(context(gan))
        view.resize(1200, 700)
        view.show()
        wait(app, lambda: view.data is not None)
        print(view.modes_text)
        grab(app, view, "gan-view")
        view.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
