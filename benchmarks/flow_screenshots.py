"""Screenshots of the Flow tab on real runs (for the README).

- ``--image-run``: an image flow (the README's is the default ``realnvp`` on
  ``mnist5k`` after 10 CPU minutes, kept by ``time_to_quality.py --out``):
  samples at temperatures 0 to 1, a validation digit's latent at each scale,
  exact bits/dim and the invertibility error. Writes ``flow-<dataset>.png``.
- ``--points-run``: a 2-D flow (the README's is ``realnvp`` on ``moons``,
  3,000 steps): the learned density, the warp with the slider at stage 5 and
  the log-det map of that stage. Writes ``flow-<dataset>.png``.

A run not given is trained here first, on one thread, for ``--image-steps``
or ``--points-steps`` steps.

    .venv/bin/python benchmarks/time_to_quality.py --runs realnvp:mnist5k --out /tmp/ttq
    .venv/bin/python benchmarks/flow_screenshots.py --image-run /tmp/ttq/realnvp-mnist5k [--points-run DIR] [--only image,points]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from latent_screenshots import context, grab, parse_with_parts, start_app, train_run, wait  # noqa: E402

PARTS = ("image", "points")


def shoot(app, run: Path, stage: int | None = None) -> None:
    """The Flow tab on ``run``; for a 2-D flow, the warp slider at ``stage`` with that stage's log-det map."""
    from genstudio.ui.panels.flow.panel import FlowPanel

    panel = FlowPanel(context(run))
    panel.resize(1300, 620)
    panel.show()
    wait(app, lambda: panel.view is not None, seconds=600)
    if stage is not None:
        panel.slider.setValue(min(stage, panel.slider.maximum()))
        panel.logdet_choice.setCurrentIndex(1)  # the log-det of the stage on the slider, not of the whole flow
    print(panel.readout.text())
    grab(app, panel, f"flow-{panel.context.data_info['name']}")
    panel.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--image-run", type=Path, help="a finished image-flow run folder (else realnvp on mnist5k is trained here)")
    ap.add_argument("--image-steps", type=int, default=300)
    ap.add_argument("--points-run", type=Path, help="a finished 2-D flow run folder (else realnvp on moons is trained here)")
    ap.add_argument("--points-steps", type=int, default=3000)
    ap.add_argument("--stage", type=int, default=5, help="the warp slider's stage in the 2-D shot")
    args, only = parse_with_parts(ap, PARTS)
    app = start_app()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if "image" in only:
            shoot(app, args.image_run or train_run(root, "realnvp", "mnist5k", args.image_steps, {}))
        if "points" in only:
            run = args.points_run or train_run(root, "realnvp", "moons", args.points_steps, {}, {"n_points": 2000})
            shoot(app, run, args.stage)
    return 0


if __name__ == "__main__":
    sys.exit(main())
