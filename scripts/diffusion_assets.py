"""Make the README's diffusion-lab screenshot and GIF with the app itself.

Trains ``ddpm`` on ``moons`` (or reuses the run folder), opens the diffusion
panel offscreen, runs the DDPM sampler for a fixed seed, and saves what the
panel shows (the Reverse process tab, mid-chain) and the chain's GIF as
exported by the panel's own button code.

    .venv/bin/python scripts/diffusion_assets.py [--steps 3000] [--out resources/screenshots]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--run", default="runs/readme-ddpm-moons")
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
    from genstudio.ui.panels.diffusion_panel import DiffusionPanel

    run = Path(args.run)
    if not RunFolder(run).exists():
        spec = RunSpec.create(
            "ddpm",
            "moons",
            {"steps": args.steps, "batch_size": 256, "log_every": 100, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0},
            {"timesteps": 200, "lr": 2e-3, "ema_decay": 0.995},
            {"n_points": 8000},
        )
        t0 = time.perf_counter()
        final = list(train(spec, run))[-1]
        print(f"trained {final.status} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    app = QApplication.instance() or QApplication([])
    panel = DiffusionPanel(PanelContext(run_dir=run, capabilities=["Denoiser"]))
    panel.resize(1400, 820)
    panel.show()

    def wait(cond, timeout=300.0):
        t0 = time.perf_counter()
        while not cond():
            if time.perf_counter() - t0 > timeout:
                raise TimeoutError("the panel did not get there in time")
            app.processEvents()
            time.sleep(0.01)

    wait(lambda: panel.model is not None)
    rev = panel.reverse
    panel.tabs.setCurrentWidget(rev)
    rev.sampler_combo.setCurrentText("ddpm")
    rev.steps_spin.setValue(panel.model.schedule.num_timesteps)
    rev.n_spin.setValue(600)
    rev.run_sampler()
    wait(lambda: rev.chain is not None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rev.slider.setValue(int(rev.chain.num_frames * 0.8))
    app.processEvents()
    panel.grab().save(str(out / "diffusion-moons-reverse.png"))
    frames = rev.export_gif(out / "diffusion-moons.gif", stride=4)
    panel.tabs.setCurrentWidget(panel.forward)
    panel.forward.slider.setValue(panel.model.schedule.num_timesteps // 5)
    app.processEvents()
    panel.grab().save(str(out / "diffusion-moons-forward.png"))
    print(f"wrote {out}/diffusion-moons-reverse.png, diffusion-moons-forward.png and diffusion-moons.gif ({frames} frames)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
