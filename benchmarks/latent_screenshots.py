"""Screenshots of the latent lab's panels on real runs (for the README).

Opens each panel offscreen on a run folder and grabs it, doing what a user
would do first:

- ``vae`` with a 2-D latent on ``mnist5k``: the explorer's map (digits laid
  out by class, with a click half-way between the two clusters farthest
  apart), the traversal sliders after dragging one, the manifold grid and an
  interpolation between two digits of different classes;
- ``cgan`` on ``mnist5k``: the explorer's class sweep (class x latent grid,
  one latent per column);
- ``gan`` on ``8gaussians``: the GAN view (D heatmap, G's gradient arrows,
  mode counter);
- the same ``gan`` in the GAN view's drawing mode: a ring of hand-drawn
  points, the sandbox trained on them for a few hundred steps;
- ``dcgan`` on ``mnist5k``: the GAN view on images (D(x) and D(G(z))
  histograms, the D and G loss curves, the most and least real samples),
  after a few sandbox steps.

Pass run folders trained with the CLI (``--vae-run`` etc.); a run not given
is trained here first on one thread for the given number of steps.
Writes resources/screenshots/latent-*.png and gan-*.png.

    .venv/bin/genstudio train --model vae --dataset mnist5k --set latent_dim=2 --steps 1000 --out /tmp/lat/vae2d
    .venv/bin/python benchmarks/latent_screenshots.py --vae-run /tmp/lat/vae2d [--cgan-run ...] [--only vae,cgan,gan,drawn,dcgan]
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
RUN = {"sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 16, "threads": 1, "log_every": 20}
PARTS = ("vae", "cgan", "gan", "drawn", "dcgan")


def train_run(root: Path, model: str, dataset: str, steps: int, over: dict, data: dict | None = None) -> Path:
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    out = root / model
    t0 = time.perf_counter()
    events = list(train(RunSpec.create(model, dataset, {**RUN, "steps": steps}, over, data or {}), out))
    print(f"{model} on {dataset}: {events[-1].status} after {steps} steps in {time.perf_counter() - t0:.0f} s")
    return out


def wait(app, cond, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if not cond():
        raise RuntimeError("the panel did not finish loading in time")


def context(run_dir: Path):
    from genstudio.core.capabilities import capabilities_of
    from genstudio.core.loading import load_run_model
    from genstudio.core.runs import RunFolder
    from genstudio.ui.panels import PanelContext

    meta = RunFolder(run_dir).meta
    # Runs written before a model gained a capability list the old set in meta.json; ask the model.
    caps = capabilities_of(load_run_model(run_dir, device="cpu")[0])
    return PanelContext(run_dir, caps, meta["metric_groups"], meta["data_info"], {})


def grab(app, widget, name: str) -> None:
    for _ in range(10):
        app.processEvents()
        time.sleep(0.02)
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    print(f"wrote {path}")


def shoot_vae(app, run: Path) -> None:
    from genstudio.ui.panels.latent.panel import LatentExplorerPanel

    panel = LatentExplorerPanel(context(run))
    panel.resize(1200, 760)
    panel.show()
    wait(app, lambda: panel.data is not None)
    d = panel.data
    c = {k: d.projection.coords[d.labels == k].mean(0) for k in range(10)}
    a, b = max(((a, b) for a in range(10) for b in range(a + 1, 10)), key=lambda ab: np.linalg.norm(c[ab[0]] - c[ab[1]]))
    # The emptiest spot on the middle third of the segment joining the two centres: a click there decodes
    # a blend, not the example under the mouse.
    candidates = [c[a] + t * (c[b] - c[a]) for t in np.linspace(1 / 3, 2 / 3, 21)]
    mid = max(candidates, key=lambda p: np.linalg.norm(d.projection.coords - p, axis=1).min())
    panel.map_tab.click_at(float(mid[0]), float(mid[1]))
    # Hover over one example so "Under the mouse" is not empty.
    i = int(np.flatnonzero(d.labels == a)[0])
    vb = panel.map_tab.plot.getPlotItem().vb
    panel.map_tab._scene_moved(vb.mapViewToScene(pg_point(*d.projection.coords[i])))
    print(f"clicked between the clusters of {a} and {b} at ({mid[0]:.2f}, {mid[1]:.2f}); {panel.map_tab.click_label.text()}")
    grab(app, panel, "latent-map")
    panel.tabs.setCurrentWidget(panel.traversal_tab)
    app.processEvents()
    _, slider, _ = panel.traversal_tab.sliders[0]
    slider.setValue(int(slider.maximum() * 0.8))  # a drag of the first slider
    print(panel.traversal_tab.timing.text())
    grab(app, panel, "latent-traversals")
    panel.tabs.setCurrentWidget(panel.manifold_tab)
    grab(app, panel, "latent-manifold")
    panel.tabs.setCurrentWidget(panel.interp_tab)
    grab(app, panel, "latent-interpolation")
    panel.shutdown()


def pg_point(x: float, y: float):
    from PySide6.QtCore import QPointF

    return QPointF(float(x), float(y))


def shoot_cgan(app, run: Path) -> None:
    from genstudio.ui.panels.latent.panel import LatentExplorerPanel

    panel = LatentExplorerPanel(context(run))
    panel.resize(1200, 760)
    panel.show()
    wait(app, lambda: panel.data is not None)
    panel.tabs.setCurrentWidget(panel.class_tab)
    grab(app, panel, "latent-classes")
    panel.shutdown()


def shoot_gan(app, run: Path) -> None:
    from genstudio.ui.panels.gan.panel import GanViewPanel

    view = GanViewPanel(context(run))
    view.resize(1200, 700)
    view.show()
    wait(app, lambda: view.data is not None)
    print(view.modes_text)
    grab(app, view, "gan-8gaussians")
    view.shutdown()


def shoot_drawn(app, run: Path, steps: int) -> None:
    """Draw a ring and a dot with the mouse tool's spray, train the sandbox on them, watch the heatmap."""
    from genstudio.ui.panels.gan.panel import GanViewPanel

    view = GanViewPanel(context(run))
    view.resize(1200, 700)
    view.show()
    wait(app, lambda: view.data is not None)
    view.draw_box.setChecked(True)
    x0, x1, y0, y1 = view.extent
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, 0.3 * min(x1 - x0, y1 - y0)
    for t in np.linspace(0, 2 * np.pi, 24, endpoint=False):
        view.add_drawn_points(cx + r * np.cos(t), cy + r * np.sin(t), n=8)
    view.add_drawn_points(cx, cy, n=40)
    t0 = time.perf_counter()
    for _ in range(steps // 10):
        view.step("both", 10)
        app.processEvents()
    wait(app, view.idle)  # the sandbox steps on its own thread
    print(f"drawn data: {sum(len(p) for p in view.drawn)} points, {view.sandbox_steps} sandbox steps in {time.perf_counter() - t0:.0f} s")
    grab(app, view, "gan-drawn")
    view.shutdown()


def shoot_dcgan(app, run: Path, steps: int) -> None:
    from genstudio.ui.panels.gan.panel import GanViewPanel

    view = GanViewPanel(context(run))
    view.resize(1300, 760)
    view.show()
    wait(app, lambda: view.data is not None)
    t0 = time.perf_counter()
    for _ in range(steps):
        view.step("both")
    wait(app, view.idle)  # the sandbox steps on its own thread
    print(f"dcgan: {steps} sandbox steps (with redraws) in {time.perf_counter() - t0:.1f} s; D means {view.image_view.means}")
    grab(app, view, "gan-dcgan")
    view.shutdown()


def parse_with_parts(ap: argparse.ArgumentParser, parts: tuple[str, ...]) -> tuple[argparse.Namespace, set[str]]:
    """Adds ``--only`` (a subset of ``parts``, default all), parses, and returns the arguments and the parts chosen."""
    ap.add_argument("--only", default=",".join(parts), help=f"comma-separated subset of {parts}")
    args = ap.parse_args()
    chosen = set(args.only.split(","))
    if not chosen <= set(parts):
        ap.error(f"--only takes names from {parts}")
    return args, chosen


def start_app():
    """The offscreen QApplication the shots are taken in; one torch thread, the output folder made."""
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    import genstudio.ui  # noqa: F401

    return QApplication.instance() or QApplication([])


def main() -> int:
    ap = argparse.ArgumentParser()
    for part, steps in (("vae", 1500), ("cgan", 3000), ("gan", 3000), ("dcgan", 2000)):
        ap.add_argument(f"--{part}-run", type=Path, help=f"a finished {part} run folder (else one is trained here)")
        ap.add_argument(f"--{part}-steps", type=int, default=steps)
    ap.add_argument("--drawn-steps", type=int, default=300, help="sandbox steps on the drawn points")
    ap.add_argument("--dcgan-sandbox-steps", type=int, default=5)
    args, only = parse_with_parts(ap, PARTS)
    app = start_app()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)

        def run_for(part: str, model: str, dataset: str, over: dict, data: dict | None = None) -> Path:
            given = getattr(args, f"{part}_run")
            return given if given is not None else train_run(root, model, dataset, getattr(args, f"{part}_steps"), over, data)

        if "vae" in only:
            shoot_vae(app, run_for("vae", "vae", "mnist5k", {"latent_dim": 2}))
        if "cgan" in only:
            shoot_cgan(app, run_for("cgan", "cgan", "mnist5k", {}))
        if only & {"gan", "drawn"}:
            gan = run_for("gan", "gan", "8gaussians", {}, {"n_points": 8000})
            if "gan" in only:
                shoot_gan(app, gan)
            if "drawn" in only:
                shoot_drawn(app, gan, args.drawn_steps)
        if "dcgan" in only:
            shoot_dcgan(app, run_for("dcgan", "dcgan", "mnist5k", {}), args.dcgan_sandbox_steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
