"""The run's progress through its budget, told to the model before every step (learning-rate schedules follow it)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from genstudio.core.checkpoint_files import load_trainer_state
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.engine import train
from genstudio.core.registry import get_model_class
from genstudio.core.run_state import RunState
from genstudio.core.spec import RunSpec
from tests.old_runs import model_read_back
from tests.toy_models import ToyGaussian

from tests.core.test_engine import spec


def state(step: int, total: int, minutes: float, elapsed_s: float, distributed: bool = False) -> SimpleNamespace:
    return SimpleNamespace(step=step, total=total, rc=SimpleNamespace(max_minutes=minutes),
                           dctx=SimpleNamespace(active=distributed), elapsed=lambda: elapsed_s)


@pytest.mark.parametrize(
    ("step", "total", "minutes", "elapsed", "distributed", "expected"),
    [
        (50, 200, 0.0, 1e6, False, 0.25),  # no time limit: the steps alone
        (50, 200, 10.0, 300.0, False, 0.5),  # half the 10 minutes spent, a quarter of the steps: time comes first
        (150, 200, 10.0, 60.0, False, 0.75),  # the steps come first
        (10, 200, 1.0, 120.0, False, 1.0),  # past the limit (the last step before the stop): capped at 1
        (50, 200, 10.0, 300.0, True, 0.25),  # torchrun: the ranks' clocks differ, so the steps alone
    ],
)
def test_progress_is_the_larger_share_of_steps_and_minutes(step, total, minutes, elapsed, distributed, expected):
    assert RunState.progress(state(step, total, minutes, elapsed, distributed)) == pytest.approx(expected)


def test_the_engine_tells_the_model_its_progress_before_every_step(tmp_path, monkeypatch):
    seen: list[float] = []
    monkeypatch.setattr(ToyGaussian, "set_progress", lambda self, fraction: seen.append(fraction), raising=False)
    events = list(train(spec(steps=20), tmp_path / "run"))
    assert events[-1].status == "completed"
    assert seen == pytest.approx([k / 20 for k in range(20)])


def gated(schedule: str):
    cls = get_model_class("gated-pixelcnn")
    cfg = RunSpec.create("gated-pixelcnn", "digits", {"steps": 10}, {"lr_schedule": schedule, "lr": 2e-3}, data_kind="image").model
    return cls(cfg, DataInfo("image", (1, 8, 8), name="digits", num_classes=10))


def test_a_linear_schedule_falls_to_zero_over_the_budget_and_constant_keeps_the_rate():
    model = gated("linear")
    for fraction, lr in ((0.0, 2e-3), (0.25, 1.5e-3), (0.9, 2e-4), (1.0, 0.0)):
        model.set_progress(fraction)
        assert model.opt.param_groups[0]["lr"] == pytest.approx(lr)
    model = gated("constant")
    model.set_progress(0.9)
    assert model.opt.param_groups[0]["lr"] == pytest.approx(2e-3)


@pytest.mark.parametrize("model_id", ["realnvp", "glow"])
def test_a_flows_linear_fall_multiplies_its_warm_up(model_id):
    """Step k of 8 with a 4-step warm-up runs at lr * min(1, (k + 1) / 4) * (1 - k / 8): the warm-up ramps, the fall follows."""
    cls = get_model_class(model_id)
    cfg = RunSpec.create(model_id, "digits", {"steps": 8}, {"lr_schedule": "linear", "warmup_steps": 4, "channels": 4},
                         data_kind="image").model
    model = cls(cfg, DataInfo("image", (1, 8, 8), name="digits", num_classes=10))
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    used = []
    for k in range(8):
        model.set_progress(k / 8)
        used.append(model.opt.param_groups[0]["lr"])
        model.train_step(Batch(x, torch.arange(4)))
    assert used == pytest.approx([cfg.lr * min(1.0, (k + 1) / 4) * (1 - k / 8) for k in range(8)])
    constant = cls(RunSpec.create(model_id, "digits", {"steps": 8}, {"lr_schedule": "constant", "warmup_steps": 4, "channels": 4},
                                  data_kind="image").model,
                   DataInfo("image", (1, 8, 8), name="digits", num_classes=10))
    constant.set_progress(0.9)
    assert constant.opt.param_groups[0]["lr"] == pytest.approx(cfg.lr / 4)  # the warm-up's alone


def test_a_linear_run_checkpoints_the_rate_its_last_step_used(tmp_path):
    run = RunSpec.create("gated-pixelcnn", "digits", {"steps": 8, "batch_size": 8, "checkpoint_every": 0, "sample_every": 0,
                                                      "eval_every": 0, "preview_every_s": 0},
                         {"lr_schedule": "linear", "channels": 6, "layers": 2, "first_kernel": 3}, data_kind="image")
    events = list(train(run, tmp_path / "r"))
    assert events[-1].status == "completed", events[-1]
    state = load_trainer_state(tmp_path / "r" / "checkpoints" / "step_00000008.state.pt")
    # The last of 8 steps ran at progress 7/8, so at an eighth of the rate.
    assert [g["lr"] for g in state["optimizers"]["adam"]["param_groups"]] == pytest.approx([run.model.lr / 8])


@pytest.mark.parametrize("model_id", ["gated-pixelcnn", "glow", "realnvp"])
def test_a_run_written_before_the_schedule_existed_keeps_its_constant_rate(tmp_path, model_id):
    """Its config.toml names no schedule, and it trained at a constant rate: resumed, it keeps that rate, not today's linear fall."""
    assert RunSpec.create(model_id, "digits").model.lr_schedule == "linear"  # today's default
    for written, expected in ((None, "constant"), ("linear", "linear"), ("constant", "constant")):
        model = model_read_back(tmp_path / f"run-{written}", model_id, "lr_schedule", written)
        assert model.lr_schedule == expected
