"""Weight averages of the likelihood models: Gated PixelCNN and the image flows sample and score with them.

Issue 21: samples and bits/dim come from an EMA of the weights (PixelCNN++'s
Polyak averaging), lent to the live network for the length of a ``with``
block. The checks: what the averaged model computes equals what a model
holding the shadow's weights computes; the live weights (and the optimiser's
hold on them) are back afterwards, also when a generation stops early or
raises; checkpoints from before the average load with it started from their
weights; the flows' learning-rate warm-up ramps and is saved.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA, average_of, fill_missing_average
from genstudio.models.autoregressive.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genstudio.models.flows.glow import Glow, GlowConfig
from genstudio.models.flows.realnvp import RealNVP, RealNVPConfig

IMAGE = DataInfo("image", (1, 8, 8), num_classes=3)


def gated(ema_decay: float = 0.9) -> GatedPixelCNN:
    torch.manual_seed(0)
    return GatedPixelCNN(GatedPixelCNNConfig(channels=6, layers=2, first_kernel=3, output_hidden=6, ema_decay=ema_decay), IMAGE)


def realnvp(ema_decay: float = 0.9, warmup_steps: int = 0) -> RealNVP:
    torch.manual_seed(0)
    return RealNVP(RealNVPConfig(channels=8, blocks=1, ema_decay=ema_decay, warmup_steps=warmup_steps), IMAGE)


def glow(ema_decay: float = 0.9) -> Glow:
    torch.manual_seed(0)
    return Glow(GlowConfig(channels=8, steps=2, levels=1, ema_decay=ema_decay), IMAGE)


def batch(n: int = 16, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.rand(n, *IMAGE.shape, generator=g), torch.randint(0, 3, (n,), generator=g))


def train(model: nn.Module, steps: int = 4) -> None:
    for k in range(steps):
        model.train_step(batch(seed=k))


def live_copy_holding_average(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose live weights are its average's: what sampling from the average must equal."""
    other = copy.deepcopy(model)
    names = model._averaged_names if hasattr(model, "_averaged_names") else ["flow"]
    with torch.no_grad():
        for p, q in zip(average_of(other, names).parameters(), other.ema.shadow.parameters()):
            p.copy_(q)
    return other


def params(model: nn.Module, names: list[str]) -> list[torch.Tensor]:
    return [p.detach().clone() for p in average_of(model, names).parameters()]


def test_the_averaged_view_reads_the_average_and_writes_nothing_of_the_live_model():
    host = nn.Sequential()
    host.net = nn.Linear(3, 2)
    host.head = nn.Linear(2, 1)
    ema = EMA(average_of(host, ["net"]), decay=0.5, warmup=False)
    with torch.no_grad():
        host.net.weight.add_(1.0)
    ema.update(average_of(host, ["net"]))
    live = host.net.weight.detach().clone()
    view = ema.averaged_view(host, ["net"])
    assert view.net is ema.shadow[0] and view.head is host.head  # only the averaged child is replaced
    assert torch.equal(view.net.weight, ema.shadow[0].weight) and not torch.equal(view.net.weight, live)
    assert host.net.weight is not view.net.weight and torch.equal(host.net.weight, live) and host._modules["net"] is not view.net
    with pytest.raises(ValueError, match="not the children"):
        ema.averaged_view(host, ["net", "head"])


def test_sampling_on_one_thread_never_changes_what_another_thread_computes():
    """The studio's Generation tab draws from the average on its worker while the Causal masks tab takes gradients of
    the live model on another thread: lending the averaged tensors in place made those gradients a random mix."""
    import threading

    model = gated()
    train(model)
    model.eval()  # as a panel holds its copy (ui/panels/model_source.py): dropout off on every thread
    x = batch(4, seed=5)
    inp = model.net_input(model.targets(x.x))
    reference = model.logits(inp, x.y).detach()
    stop = threading.Event()
    draws: list[torch.Tensor] = []

    def draw() -> None:
        while not stop.is_set():
            draws.append(model.sample(2, torch.Generator().manual_seed(3)))

    worker = threading.Thread(target=draw)
    worker.start()
    try:
        seen = [model.logits(inp, x.y).detach() for _ in range(30)]
    finally:
        stop.set()
        worker.join()
    assert draws and all(torch.equal(s, reference) for s in seen)
    assert all(torch.equal(d, draws[0]) for d in draws)  # and the draws all came from the same (averaged) weights


def test_gated_pixelcnn_samples_and_scores_with_the_average():
    model = gated()
    train(model)
    names = model._averaged_names
    before = params(model, names)
    x = batch(8, seed=9)
    other = live_copy_holding_average(model)
    # The averaged model equals a model that holds the average as its live weights.
    assert torch.allclose(model.log_prob(x.x, x.y), other.log_prob(x.x, x.y, use_ema=False))
    assert not torch.allclose(model.log_prob(x.x, x.y), model.log_prob(x.x, x.y, use_ema=False))
    s_avg = model.sample(6, torch.Generator().manual_seed(3))
    assert torch.equal(s_avg, other.sample(6, torch.Generator().manual_seed(3), use_ema=False))
    # A generation stopped after a few pixels leaves the live weights in place.
    steps = model.generate_steps(2, torch.Generator().manual_seed(1))
    next(steps), next(steps)
    for a, b in zip(before, params(model, names)):
        assert torch.equal(a, b)
    steps.close()
    # Training moves the live weights and the average, and trains the live ones only.
    avg_before = [p.clone() for p in model.ema.shadow.parameters()]
    train(model, 1)
    assert any(not torch.equal(a, b) for a, b in zip(before, params(model, names)))
    assert any(not torch.equal(a, b) for a, b in zip(avg_before, model.ema.shadow.parameters()))
    assert {id(p) for g in model.opt.param_groups for p in g["params"]}.isdisjoint(id(p) for p in model.ema.parameters())


def test_gated_pixelcnn_without_an_average_samples_its_live_weights():
    model = gated(ema_decay=0.0)
    train(model, 2)
    assert getattr(model, "ema", None) is None
    x = batch(4)
    assert torch.equal(model.log_prob(x.x, x.y), model.log_prob(x.x, x.y, use_ema=False))


@pytest.mark.parametrize("build", [realnvp, glow])
def test_flows_sample_and_score_with_the_average(build):
    model = build()
    train(model)
    before = params(model, ["flow"])
    x = batch(8, seed=9).x
    other = live_copy_holding_average(model)
    assert torch.allclose(model.log_prob(x), other.log_prob(x, use_ema=False), atol=1e-4)
    assert not torch.allclose(model.log_prob(x), model.log_prob(x, use_ema=False))
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    assert torch.allclose(model.sample(4, g()), other.sample(4, g(), use_ema=False), atol=1e-5)
    assert torch.allclose(model.encode(x), _raw_encode(other, x), atol=1e-4)
    assert model.invertibility_error(x) < 1e-3
    for a, b in zip(before, params(model, ["flow"])):
        assert torch.equal(a, b)


def _raw_encode(model, x):
    with torch.no_grad():
        return model.forward_with_logdet(x)[0]


@pytest.mark.parametrize("build", [gated, realnvp])
def test_a_checkpoint_from_before_the_average_starts_it_from_its_weights(build):
    old = build(ema_decay=0.0)
    train(old, 2)
    new = build()
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=True)
    assert not missing and not unexpected
    # The average starts from the live weights of what it averages (a flow's class prior with it, not its dequantiser).
    live = params(old, new._averaged_names)
    assert len(list(new.ema.shadow.parameters())) == len(live)
    for p, q in zip(new.ema.shadow.parameters(), live):
        assert torch.equal(p, q)
    assert int(new.ema.num_updates) == 0
    # A checkpoint that has the average keeps it.
    train(new, 2)
    again = build()
    again.load_state_dict(new.state_dict())
    for p, q in zip(again.ema.shadow.parameters(), new.ema.shadow.parameters()):
        assert torch.equal(p, q)


def test_fill_missing_average_maps_children_in_order():
    sd = {"a.w": torch.ones(1), "b.w": torch.zeros(1)}
    fill_missing_average(sd, "", "ema", ["b", "a"])
    assert torch.equal(sd["ema.shadow.0.w"], torch.zeros(1)) and torch.equal(sd["ema.shadow.1.w"], torch.ones(1))


def test_flow_learning_rate_warms_up_and_is_checkpointed():
    model = realnvp(warmup_steps=4)
    lrs = []
    for k in range(5):
        lrs.append(model.opt.param_groups[0]["lr"])
        model.train_step(batch(seed=k))
    base = model.config.lr
    assert lrs == pytest.approx([base * f for f in (0.25, 0.5, 0.75, 1.0, 1.0)])
    assert "warmup" in model.schedulers()
    assert realnvp(warmup_steps=0).schedulers() == {}
