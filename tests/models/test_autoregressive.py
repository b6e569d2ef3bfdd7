"""Autoregressive models: causality by gradients, blind spots, generation, completion, caches, learning."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.capabilities import Autoregressive, Conditional, Likelihood
from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.autoregressive.common import input_gradient_map
from genstudio.models.autoregressive.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genstudio.models.autoregressive.made import MADE, MADEConfig
from genstudio.models.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig
from genstudio.models.autoregressive.pixelrnn import DiagonalBiLSTM, DiagonalBiLSTMConfig, RowLSTM, RowLSTMConfig
from genstudio.models.autoregressive.wavenet import WaveNet, WaveNetConfig, mu_law_decode, mu_law_encode, receptive_field


def tiny(name: str, shape=(1, 6, 6), output="bernoulli", classes=0):
    info = DataInfo("image", shape, num_classes=classes)
    if name == "made":
        return MADE(MADEConfig(hidden=40, layers=2, order="random", num_masks=2), info)
    if name == "made-natural":
        return MADE(MADEConfig(hidden=40, layers=1), info)
    if name == "pixelcnn":
        return PixelCNN(PixelCNNConfig(output=output, hidden=12, blocks=2, first_kernel=3, output_hidden=12), info)
    if name == "gated-pixelcnn":
        return GatedPixelCNN(GatedPixelCNNConfig(output=output, channels=12, layers=3, first_kernel=3, output_hidden=12), info)
    if name == "pixelrnn-row":
        return RowLSTM(RowLSTMConfig(output=output, hidden=12, layers=2, first_kernel=3, output_hidden=12), info)
    if name == "pixelrnn-diag":
        return DiagonalBiLSTM(DiagonalBiLSTMConfig(output=output, hidden=12, layers=1, first_kernel=3, output_hidden=12), info)
    raise KeyError(name)


IMAGE_MODELS = ["made", "made-natural", "pixelcnn", "gated-pixelcnn", "pixelrnn-row", "pixelrnn-diag"]


def order_rank(model) -> dict[tuple[int, int, int], int]:
    """Position -> its index in the model's generation order."""
    flat = [pos for step in model.generation_order() for pos in step]
    return {pos: r for r, pos in enumerate(flat)}


def summed_gradient(model, c, i, j, trials=3):
    """|d out / d in| summed over a few random inputs, so a unit that happens to be dead on one input does not hide a path."""
    g = torch.Generator().manual_seed(1)
    total = 0
    for _ in range(trials):
        inp = torch.rand(1, model.colours, model.height, model.width, generator=g) * 2 - 1
        total = total + input_gradient_map(model, c, i, j, inp)
    return total


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("colours", [1, 3])
def test_output_depends_only_on_earlier_positions(name, colours):
    """Output (c, i, j) has zero gradient w.r.t. every input not before it in the order, channels included,
    and a nonzero one w.r.t. the position just before it."""
    torch.manual_seed(0)
    model = tiny(name, (colours, 5, 5), output="bernoulli" if name.startswith("made") or colours == 1 else "softmax256")
    rank = order_rank(model)
    assert len(rank) == colours * 25
    by_rank = {r: pos for pos, r in rank.items()}
    for r in [0, 1, colours, 12, 37, len(rank) - 1]:
        if r >= len(rank):
            continue
        c, i, j = by_rank[r]
        grad = summed_gradient(model, c, i, j)
        for pos, r2 in rank.items():
            if r2 >= r:
                assert grad[pos] == 0, f"{name}: output {by_rank[r]} sees {pos}"
        if r > 0:
            assert grad[by_rank[r - 1]] > 0, f"{name}: output {by_rank[r]} misses the position just before it"


def test_pixelcnn_has_a_blind_spot_and_gated_pixelcnn_does_not():
    """(i-1, j+2) precedes (i, j) in raster order; a stack of 3x3 masked convolutions never reaches it
    (each layer climbs one row and moves at most one column right), the gated vertical stack does."""
    torch.manual_seed(0)
    info = DataInfo("image", (1, 8, 8))
    pcnn = PixelCNN(PixelCNNConfig(hidden=12, blocks=3, first_kernel=3), info)  # 5 masked layers
    gated = GatedPixelCNN(GatedPixelCNNConfig(channels=12, layers=3, first_kernel=3), info)
    i, j = 5, 3
    g_p = summed_gradient(pcnn, 0, i, j)[0]
    g_g = summed_gradient(gated, 0, i, j)[0]
    assert g_p[i - 1, j + 1] > 0 and g_p[i - 2, j + 2] > 0  # the field does reach up and right...
    assert g_p[i - 1, j + 2] == 0 and g_p[i - 1, j + 3] == 0  # ...but not there: the blind spot
    assert g_g[i - 1, j + 2] > 0 and g_g[i - 1, j + 3] > 0
    # The gated field covers every earlier pixel within its reach: no hole above the current row.
    assert (g_g[i - 2 : i, j - 3 : j + 4] > 0).all()


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_generation_steps_completion_and_likelihood(name):
    torch.manual_seed(0)
    model = tiny(name)
    assert isinstance(model, Autoregressive) and isinstance(model, Likelihood) and model.exact_likelihood
    steps = list(model.generate_steps(2, torch.Generator().manual_seed(0)))
    assert len(steps) == 36
    assert steps[-1].shape == (2, 1, 6, 6)
    final = model.sample(2, torch.Generator().manual_seed(0))
    assert torch.equal(final, steps[-1])
    # Completion keeps every unmasked value (grey levels included) and fills the rest with valid values.
    x = torch.rand(3, 1, 6, 6)
    mask = torch.ones(3, 1, 6, 6)
    mask[:, :, 3:, 2:] = 0
    out = model.complete(x, mask, torch.Generator().manual_seed(0))
    assert torch.equal(out[mask.expand_as(out) > 0], x[mask > 0])
    assert set(out[mask == 0].unique().tolist()) <= {0.0, 1.0}
    # log_prob is the sum of the per-position conditionals pixel_distribution reports.
    xb = (x > 0.5).float()
    lp = model.log_prob(xb)
    total = torch.zeros(3)
    for c, i, j in [pos for step in model.generation_order() for pos in step]:
        probs = model.pixel_distribution(xb, i, j, c)
        assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)
        total += torch.log(probs.gather(1, xb[:, c, i, j].long()[:, None])[:, 0])
    assert torch.allclose(lp, total, atol=1e-3)
    metrics = model.evaluate(Batch(x, -torch.ones(3, dtype=torch.long)))
    assert metrics["nll"] == pytest.approx(-lp.mean().item(), rel=1e-5)
    assert metrics["bpd"] == pytest.approx(metrics["nll"] / (36 * math.log(2)), rel=1e-5)


def test_softmax256_colour_generation_and_distribution():
    torch.manual_seed(0)
    model = tiny("pixelcnn", (3, 4, 4), output="softmax256")
    x = torch.rand(2, 3, 4, 4)
    probs = model.pixel_distribution(x, 1, 2, 1)
    assert probs.shape == (2, 256) and torch.allclose(probs.sum(-1), torch.ones(2), atol=1e-5)
    s = model.sample(2, torch.Generator().manual_seed(0))
    assert s.shape == (2, 3, 4, 4)
    assert torch.equal(s, torch.round(s * 255) / 255)  # 8-bit values
    # Per-example nats of 8-bit data: at most D log 256 for an untrained model, and positive.
    nll = -model.log_prob(x)
    assert (nll > 0).all()


@pytest.mark.parametrize("name", ["pixelcnn", "gated-pixelcnn", "pixelrnn-row"])
def test_cached_sampling_equals_naive(name):
    """The row caches compute the same logits as full passes,
    so one seed gives the same samples; completion goes through the same path."""
    torch.manual_seed(0)
    for shape, output in [((1, 10, 9), "bernoulli"), ((3, 5, 5), "softmax256")]:
        model = tiny(name, shape, output=output)
        fast = model.sample(3, torch.Generator().manual_seed(7), cached=True)
        slow = model.sample(3, torch.Generator().manual_seed(7), cached=False)
        assert torch.equal(fast, slow)
        # Completion skips known rows and pixels; the caches must still see them.
        x = torch.rand(2, *shape)
        mask = torch.ones(2, 1, *shape[1:])
        mask[:, :, 2:4] = 0
        mask[:, :, 1, 1:] = 0
        mask = mask.expand(2, *shape)
        runs = [list(model._generate(2, torch.Generator().manual_seed(1), known=x, mask=mask, cached=cached))[-1] for cached in (True, False)]
        assert torch.equal(*runs)


def test_gated_dropout_trains_noisy_and_samples_and_scores_the_whole_network():
    """Dropout (PixelCNN++ section 2.6) acts in training only: after a train step, sampling, its row cache and
    log_prob run in eval mode, so they are deterministic and the cache still equals full passes."""
    info = DataInfo("image", (1, 6, 6))
    x = (torch.rand(8, 1, 6, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    outs = {}
    for p in (0.0, 0.5):
        torch.manual_seed(0)
        model = GatedPixelCNN(GatedPixelCNNConfig(channels=12, layers=3, first_kernel=3, output_hidden=12, dropout=p), info)
        model.train()
        a, b = model.logits(x * 2 - 1), model.logits(x * 2 - 1)
        outs[p] = torch.equal(a, b)
        model.train_step(Batch(x, -torch.ones(8, dtype=torch.long)))
        fast = model.sample(3, torch.Generator().manual_seed(7), cached=True)
        slow = model.sample(3, torch.Generator().manual_seed(7), cached=False)
        assert torch.equal(fast, slow)
        assert torch.equal(model.log_prob(x), model.log_prob(x))
    assert outs == {0.0: True, 0.5: False}


def test_made_masks_and_order_resampling():
    torch.manual_seed(0)
    model = MADE(MADEConfig(hidden=30, layers=2, order="random", num_masks=3), DataInfo("image", (1, 4, 4)))
    masks = model.masks()
    assert [m.shape for m in masks] == [(30, 16), (30, 30), (16, 30), (16, 16)]
    # The product of the masks connects output d to input d' only if d' comes first (section 4).
    path = masks[2] @ masks[1] @ masks[0]
    rank = model.degrees[0][0]
    assert ((path > 0) <= (rank[:, None] > rank[None, :])).all()
    assert not torch.equal(model.order(0), model.order(1))
    x = (torch.rand(8, 1, 4, 4) > 0.5).float()
    batch = Batch(x, -torch.ones(8, dtype=torch.long))
    for _ in range(3):
        model.train_step(batch)
    assert int(model.steps_done) == 3
    metrics = model.evaluate(batch)
    assert math.isfinite(metrics["nll_ensemble"])


def test_gated_pixelcnn_class_conditioning():
    torch.manual_seed(0)
    model = tiny("gated-pixelcnn", (1, 5, 5), classes=3)
    assert isinstance(model, Conditional) and model.num_classes == 3
    assert not isinstance(tiny("gated-pixelcnn"), Conditional)
    x = torch.rand(4, 1, 5, 5)
    y = torch.tensor([0, 1, 2, -1])
    model.train_step(Batch(x, y))
    # The label changes the likelihood; -1 (no label) means the null class.
    assert not torch.allclose(model.log_prob(x, torch.tensor([0, 0, 0, 0])), model.log_prob(x, torch.tensor([1, 1, 1, 1])))
    s = model.sample_conditional(torch.tensor([0, 2]), torch.Generator().manual_seed(0), guidance_scale=2.0)
    assert s.shape == (2, 1, 5, 5)
    naive = model.sample_conditional(torch.tensor([0, 2]), torch.Generator().manual_seed(0), guidance_scale=2.0, cached=False)
    assert torch.equal(s, naive)


# -- WaveNet ----------------------------------------------------------------------
def tiny_wavenet(length=40):
    info = DataInfo("audio", (1, length), sample_rate=8000)
    return WaveNet(WaveNetConfig(residual_channels=8, skip_channels=8, dilation_layers=3, stacks=2, output_hidden=16), info)


def test_mu_law_round_trip():
    x = torch.linspace(-1, 1, 1001)
    q = mu_law_encode(x)
    assert q.min() == 0 and q.max() == 255
    assert (mu_law_decode(q) - x).abs().max() < 0.025  # half a bin: finest near 0, coarsest at +-1
    assert torch.equal(mu_law_encode(mu_law_decode(torch.arange(256))), torch.arange(256))


def test_wavenet_receptive_field_and_causality():
    model = tiny_wavenet(length=40)
    rf = model.receptive_field
    assert rf == receptive_field([1, 2, 4] * 2, 2, 2) == 2 + 2 * (1 + 2 + 4)
    t = 35
    g = torch.Generator().manual_seed(0)
    grad = 0
    for _ in range(3):
        inp = (torch.rand(1, 1, 40, generator=g) * 2 - 1).requires_grad_(True)
        out = model.logits(inp)[0, :, t].sum()
        grad = grad + torch.autograd.grad(out, inp)[0][0, 0].abs()
    seen = (grad > 0).nonzero().flatten().tolist()
    assert seen == list(range(t - rf, t))


def test_wavenet_cached_generation_equals_naive():
    torch.manual_seed(0)
    model = tiny_wavenet(length=30)
    fast = model.sample(3, torch.Generator().manual_seed(3), cached=True)
    slow = model.sample(3, torch.Generator().manual_seed(3), cached=False)
    assert fast.shape == (3, 1, 30) and fast.abs().max() <= 1
    assert torch.equal(fast, slow)
    steps = list(model.generate_steps(2, torch.Generator().manual_seed(0)))
    assert len(steps) == 30
    x = torch.rand(2, 1, 30) * 2 - 1
    mask = torch.ones(2, 1, 30)
    mask[:, :, 10:20] = 0
    out = model.complete(x, mask, torch.Generator().manual_seed(0))
    assert torch.equal(out[mask > 0], x[mask > 0])


# -- learning -----------------------------------------------------------------------
@pytest.mark.slow
def test_pixelcnn_learns_binarised_digits():
    """PixelCNN on binarised 8x8 digits: validation NLL from ~44 nats to below 22 nats in 300 steps
    (independent per-pixel Bernoulli marginals score 25.1 nats; about 15 s on one thread)."""
    from genstudio.data.dataset import load_dataset

    torch.manual_seed(0)
    ds = load_dataset("digits")
    train, val = ds.split(0.1, seed=0)
    model = PixelCNN(PixelCNNConfig(hidden=16, blocks=3, first_kernel=5, output_hidden=32, lr=3e-3), ds.info)
    vb = val.get(slice(None))
    start = model.evaluate(vb)["nll"]
    for step, batch in enumerate(train.batches(64, seed=0)):
        model.train_step(batch)
        if step + 1 == 300:
            break
    end = model.evaluate(vb)["nll"]
    assert start > 40
    assert end < 22.0, end


def test_a_gated_run_written_before_dropout_existed_resumes_without_it(tmp_path):
    """Its config.toml names no dropout, and it trained without: read back, it keeps 0, not today's 0.1."""
    from genstudio.core.spec import RunSpec
    from tests.old_runs import model_read_back

    assert RunSpec.create("gated-pixelcnn", "digits").model.dropout == 0.1  # today's default
    for written, expected in ((None, 0.0), (0.1, 0.1), (0.3, 0.3)):
        assert model_read_back(tmp_path / f"run-{written}", "gated-pixelcnn", "dropout", written).dropout == expected
