"""Make the README's diffusion-lab screenshots and GIFs with the app itself.

Opens the diffusion panel offscreen on two ``ddpm`` runs, drives it as a
user would, and saves what it shows, with the GIFs written by the panel's
own export code:

- moons (trained here in a few minutes when ``--moons-run`` is missing):
  the forward process, and the reverse process with DDIM 50 (particles,
  trajectories, the learned field) -> diffusion-moons-forward.png,
  diffusion-moons-reverse.png, diffusion-moons.gif;
- mnist5k (``--mnist-run``; trained for ``--mnist-minutes`` when missing,
  which on a CPU needs a while: 10-15 minutes give recognisable digits):
  the reverse chain with DDIM 50, x_t | eps_hat | x0_hat side by side, and
  DDPM 1000 against DDIM 50 from one seed -> diffusion-mnist5k-reverse.png,
  diffusion-mnist5k-compare.png, diffusion-mnist5k.gif.

    .venv/bin/python scripts/diffusion_assets.py [--only moons|mnist5k] [--out resources/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

QUIET = {"sample_every": 0, "preview_every_s": 0, "eval_every": 0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moons-run", default="runs/lab-ddpm-moons")
    ap.add_argument("--mnist-run", default="runs/lab-ddpm-mnist5k")
    ap.add_argument("--mnist-minutes", type=float, default=15.0)
    ap.add_argument("--compare-n", type=int, default=4, help="images in the DDPM 1000 / DDIM 50 comparison (DDPM 1000 is slow on a CPU)")
    ap.add_argument("--only", choices=("moons", "mnist5k"))
    ap.add_argument("--out", default="resources/screenshots")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    import genstudio.ui  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from genstudio.core.engine import train
    from genstudio.core.runs import RunFolder
    from genstudio.core.spec import RunSpec
    from genstudio.ui.panels import PanelContext
    from genstudio.ui.panels.diffusion.panel import DiffusionPanel

    app = QApplication.instance() or QApplication([])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def wait(cond, timeout=1800.0):
        t0 = time.perf_counter()
        while not cond():
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the panel did not get there in time")
            app.processEvents()
            time.sleep(0.01)

    def grab(panel, name: str) -> None:
        # pyqtgraph widens an axis for its tick labels only after a first paint: paint, settle, then grab.
        panel.repaint()
        for _ in range(3):
            app.processEvents()
        panel.grab().save(str(out / name))
        print(f"wrote {out / name}")

    def show_tab(panel, widget) -> None:
        """Bring ``widget``'s tab to the front: a tab page may be a scroll area holding it (Compare samplers)."""
        for i in range(panel.tabs.count()):
            page = panel.tabs.widget(i)
            if page is widget or page.isAncestorOf(widget):
                panel.tabs.setCurrentIndex(i)
                return
        raise LookupError(f"no tab of the panel holds {type(widget).__name__}")

    def open_panel(run: Path, size: tuple[int, int]) -> DiffusionPanel:
        panel = DiffusionPanel(PanelContext(run_dir=run, capabilities=["Denoiser"]))
        panel.resize(*size)
        panel.show()
        wait(lambda: panel.model is not None)
        return panel

    def sample(view, sampler: str, steps: int, n: int) -> None:
        view.sampler_combo.setCurrentText(sampler)
        view.steps_spin.setValue(steps)
        view.n_spin.setValue(n)
        view.chain = None
        t0 = time.perf_counter()
        view.run_sampler()
        wait(lambda: view.chain is not None)
        print(f"{sampler} {steps} steps, n {n}: {time.perf_counter() - t0:.1f} s")

    if args.only in (None, "moons"):
        run = Path(args.moons_run)
        if not RunFolder(run).exists():
            spec = RunSpec.create(
                "ddpm", "moons", {"steps": 6000, "batch_size": 256, "log_every": 500, **QUIET},
                {"timesteps": 200, "lr": 1e-3, "ema_decay": 0.999}, {"n_points": 8000},
            )  # fmt: skip
            print(f"training ddpm on moons: {list(train(spec, run))[-1].status}")
        panel = open_panel(run, (1400, 820))
        rev = panel.reverse
        show_tab(panel, rev)
        sample(rev, "ddim", 50, 600)
        rev.slider.setValue(rev.chain.num_frames - 1)  # the finished samples on the moons, with whole trajectories
        grab(panel, "diffusion-moons-reverse.png")
        rev.speed_combo.setCurrentText("10 fps")
        frames = rev.export_gif(out / "diffusion-moons.gif", stride=1)
        print(f"wrote {out / 'diffusion-moons.gif'} ({frames} frames)")
        show_tab(panel, panel.forward)
        panel.forward.slider.setValue(panel.model.schedule.num_timesteps // 5)
        grab(panel, "diffusion-moons-forward.png")
        panel.shutdown()

    if args.only in (None, "mnist5k"):
        run = Path(args.mnist_run)
        if not RunFolder(run).exists():
            spec = RunSpec.create("ddpm", "mnist5k", {"steps": 1_000_000, "batch_size": 32, "max_minutes": args.mnist_minutes, "checkpoint_every": 500, **QUIET})
            print(f"training ddpm on mnist5k for {args.mnist_minutes:g} min: {list(train(spec, run))[-1].message}")
        panel = open_panel(run, (1400, 900))
        rev = panel.reverse
        show_tab(panel, rev)
        # The GIF: 9 digits, every 2nd of the 50 DDIM steps, at 10 fps (about 1 MB).
        sample(rev, "ddim", 50, 9)
        rev.speed_combo.setCurrentText("10 fps")
        frames = rev.export_gif(out / "diffusion-mnist5k.gif", stride=2)
        print(f"wrote {out / 'diffusion-mnist5k.gif'} ({frames} frames, {(out / 'diffusion-mnist5k.gif').stat().st_size / 1e6:.2f} MB)")
        # The screenshot: 16 digits 60% of the way, x0_hat already a digit while x_t is still mostly noise.
        sample(rev, "ddim", 50, 16)
        rev.slider.setValue(int(round(0.6 * (rev.chain.num_frames - 1))))
        panel.resize(1400, 660)  # the three grids are square: a wide, low window wastes no space under them
        grab(panel, "diffusion-mnist5k-reverse.png")
        panel.resize(1400, 900)
        cmp = panel.compare
        show_tab(panel, cmp)
        cmp.a.n_spin.setValue(args.compare_n)
        t0 = time.perf_counter()
        cmp.run()
        wait(lambda: cmp.a.chain is not None and cmp.b.chain is not None)
        print(f"DDPM 1000 and DDIM 50, n {args.compare_n}: {time.perf_counter() - t0:.1f} s")
        cmp.slider.setValue(700)
        grab(panel, "diffusion-mnist5k-compare.png")
        panel.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
