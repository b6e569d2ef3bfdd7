"""Speed-up switches: what ``auto`` resolves to, and runs that use them stay correct."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genstudio.core import speedups
from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
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


def _run(tmp_path, name, **switches):
    over = {"steps": 4, "batch_size": 16, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 2, "log_every": 1, **switches}
    out = tmp_path / name
    events = list(train(RunSpec.create("vae", "digits", over), out))
    assert events[-1].status == "completed", events[-1].message
    run = RunFolder(out)
    losses = [r["loss"] for r in run.read_metrics()[0] if r["split"] == "train"]
    model, _, step = load_run_model(out, device="cpu")
    assert step == 4
    return run.meta, losses, model.state_dict()


# Both switches set: "auto" would resolve differently on CPUs with and without native bf16.
@pytest.mark.parametrize("variant", [{"channels_last": "on", "autocast": "off"}, {"autocast": "bf16", "channels_last": "off"}])
def test_a_run_with_speedups_trains_saves_and_loads_in_plain_layout(tmp_path, variant):
    meta, losses, weights = _run(tmp_path, "fast", **variant)
    assert meta["speedups"]["channels_last"] == (variant.get("channels_last") == "on")
    assert meta["speedups"]["autocast"] == variant["autocast"]
    _, plain_losses, plain = _run(tmp_path, "plain", channels_last="off", autocast="off")
    assert weights.keys() == plain.keys()
    for k, v in weights.items():
        # Saved in the plain layout and precision, whatever the run trained in.
        assert v.is_contiguous() and v.dtype == plain[k].dtype, (k, v.dtype, v.stride())
        assert torch.isfinite(v.float()).all(), k
    if variant["autocast"] == "off":
        # NHWC changes only the memory order: the same run to float rounding (measured 3e-6 apart).
        assert losses == pytest.approx(plain_losses, rel=1e-5)
        for k in plain:
            assert torch.allclose(weights[k].float(), plain[k].float(), atol=1e-4), k
    else:
        assert losses == pytest.approx(plain_losses, rel=0.02)  # bf16: the same loss, not the same bits
        assert losses != plain_losses  # and bf16 really was on


def test_apply_sets_the_forward_autocast_of_every_generative_model_inside():
    from genstudio.core.data_types import DataInfo
    from genstudio.core.model import GenerativeModel

    info = DataInfo(kind="points", shape=(2,), name="t")

    class Inner(GenerativeModel):
        data_kinds = ("points",)

    class Outer(GenerativeModel):
        data_kinds = ("points",)

        def __init__(self):
            super().__init__(None, info)
            self.inner = Inner(None, info)
            self.lin = nn.Linear(2, 2)

    m = Outer()
    with m.autocast(), m.inner.autocast():
        assert not torch.is_autocast_enabled("cpu")  # off until a run turns it on
    speedups.apply(m, speedups.resolve("off", "bf16", "off", m, torch.device("cpu")))
    for model in (m, m.inner):
        with model.autocast():
            assert torch.is_autocast_enabled("cpu") and m.lin(torch.zeros(1, 2)).dtype == torch.bfloat16
        assert not torch.is_autocast_enabled("cpu")
    speedups.apply(m, speedups.resolve("off", "off", "off", m, torch.device("cpu")))
    with m.autocast():
        assert not torch.is_autocast_enabled("cpu")
