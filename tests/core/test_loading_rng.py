"""Loading a run's model leaves the global random generator alone.

A panel loads checkpoints on a worker thread while a run trains on another, and both threads draw from
torch's one global generator: the build's seed_everything used to reset it to the loaded run's seed,
so the training run drew again the random numbers it had drawn at its start.
"""

from __future__ import annotations

import torch

from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.spec import RunSpec

QUIET = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0}


def test_load_run_model_neither_reseeds_nor_moves_the_global_generator(tmp_path):
    spec = RunSpec.create("gan", "moons", {**QUIET, "steps": 2, "seed": 7}, {}, {"n_points": 200})
    events = list(train(spec, tmp_path / "run", jobs=[]))
    assert events[-1].status == "completed", events[-1].message
    torch.manual_seed(12345)
    torch.rand(3)  # somewhere in the middle of a stream, not at a seed
    before = torch.get_rng_state()
    model, _, step = load_run_model(tmp_path / "run", device="cpu")
    assert step == 2
    assert torch.equal(torch.get_rng_state(), before)
