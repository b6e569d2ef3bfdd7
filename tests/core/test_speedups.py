"""Speed-up switches: what ``auto`` resolves to, and runs that use them stay correct."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genstudio.core import speedups
from genstudio.core.engine import load_run_model, train
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(1, 2, 3)


def test_auto_turns_channels_last_on_only_for_conv_models():
    cpu = torch.device("cpu")
    assert speedups.resolve("auto", "off", "off", Conv(), cpu).channels_last
    assert not speedups.resolve("auto", "off", "off", nn.Linear(2, 2), cpu).channels_last
    assert not speedups.resolve("on", "off", "off", nn.Linear(2, 2), cpu).channels_last  # nothing to lay out
    assert not speedups.resolve("off", "off", "off", Conv(), cpu).channels_last
    unet = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GroupNorm(2, 4))
    assert not speedups.resolve("auto", "off", "off", unet, cpu).channels_last  # measured slower
    assert speedups.resolve("on", "off", "off", unet, cpu).channels_last


def test_auto_autocast_follows_native_bf16(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(speedups, "cpu_has_native_bf16", lambda: False)
    assert speedups.resolve("off", "auto", "off", Conv(), cpu).autocast == "off"
    monkeypatch.setattr(speedups, "cpu_has_native_bf16", lambda: True)
    assert speedups.resolve("off", "auto", "off", Conv(), cpu).autocast == "bf16"
    assert speedups.resolve("off", "bf16", "off", Conv(), torch.device("mps")).autocast == "off"


def test_compile_is_off_unless_asked():
    assert not speedups.resolve("off", "off", "auto", Conv(), torch.device("cpu")).compile
    assert speedups.resolve("off", "off", "on", Conv(), torch.device("cpu")).compile


def test_channels_last_keeps_the_optimiser_parameters():
    m = Conv()
    before = [id(p) for p in m.parameters()]
    speedups.apply(m, speedups.Speedups(channels_last=True))
    assert [id(p) for p in m.parameters()] == before
    assert m.c.weight.is_contiguous(memory_format=torch.channels_last)


# Both switches set: "auto" would resolve differently on CPUs with and without native bf16.
@pytest.mark.parametrize("variant", [{"channels_last": "on", "autocast": "off"}, {"autocast": "bf16", "channels_last": "off"}])
def test_a_run_with_speedups_trains_saves_and_loads_in_plain_layout(tmp_path, variant):
    over = {"steps": 4, "batch_size": 16, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 2, **variant}
    spec = RunSpec.create("vae", "digits", over)
    out = tmp_path / "run"
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    meta = RunFolder(out).meta
    assert meta["speedups"]["channels_last"] == (variant.get("channels_last") == "on")
    assert meta["speedups"]["autocast"] == variant["autocast"]
    model, _, step = load_run_model(out, device="cpu")
    assert step == 4 and all(torch.isfinite(v).all() for v in model.state_dict().values())
