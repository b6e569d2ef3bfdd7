"""PixelCNN++: causality of the shifted streams by gradients (no blind spot), the mixture's likelihood, sampling, Polyak averaging, learning."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.capabilities import Autoregressive, Likelihood
from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.autoregressive import pixelcnn_pp as ppp
from genstudio.models.autoregressive.common import input_gradient_map
from genstudio.models.autoregressive.pixelcnn_pp import PixelCNNPP, PixelCNNPPConfig


def tiny(shape=(1, 8, 8), **over) -> PixelCNNPP:
    torch.manual_seed(0)
    cfg = {"filters": 8, "resnets": 1, "scales": 3, "mixtures": 3, "dropout": 0.0, **over}
    return PixelCNNPP(PixelCNNPPConfig(**cfg), DataInfo("image", shape))


def order(model) -> list[tuple[int, int, int]]:
    return [pos for step in model.generation_order() for pos in step]


def summed_gradient(model, c, i, j, trials=3) -> torch.Tensor:
    """|d log p(x_(c,i,j) = every level | x) / d x| (C x H x W) summed over random inputs: no path hides behind a dead unit."""
    g = torch.Generator().manual_seed(1)
    total = 0
    for _ in range(trials):
        inp = torch.rand(1, model.colours, model.height, model.width, generator=g) * 2 - 1
        total = total + input_gradient_map(model, c, i, j, inp)
    return total


def causality_faults(model, targets, up: int = 3, side: int = 6) -> list[str]:
    """Where output (c, i, j) sees a position at or after it, or misses an earlier pixel near it (a blind spot).

    Near: the ``up`` rows above within ``side`` columns either way, and the current row up to ``side`` columns to
    the left; the wedge PixelCNN cannot see, up and to the right, lies inside it. (The receptive field is larger,
    but not the whole past: far to the left on the nearest rows lies beyond the down-right stream's reach.)
    """
    flat = order(model)
    rank = {pos: r for r, pos in enumerate(flat)}
    faults = []
    for r in targets:
        target = flat[r]
        _, ti, tj = target
        grad = summed_gradient(model, *target)
        for pos, r2 in rank.items():
            _, i, j = pos
            seen = bool(grad[pos] > 0)
            if r2 >= r and seen:
                faults.append(f"output {target} sees {pos}")
            near = ti - up <= i and abs(j - tj) <= side
            if r2 < r and not seen and near:
                faults.append(f"output {target} misses {pos}")
    return faults


def test_on_28x28_each_output_sees_its_neighbourhood_of_the_past_and_nothing_else():
    """Zero gradient to every input at or after the position in raster order, and a nonzero one to every earlier
    pixel near it: the down and down-right streams leave no blind spot (PixelCNN misses (i - 1, j + 2) and beyond)."""
    model = tiny((1, 28, 28))
    targets = [1, 27, 28, 29, 28 * 5 + 13, 28 * 14 + 27, 28 * 20 + 14, 28 * 28 - 1]
    assert causality_faults(model, targets) == []
    # and the row above is seen to its right end, whatever the distance
    grad = summed_gradient(model, 0, 20, 3)
    assert (grad[0, 19] > 0).all() and (grad[0, :19] > 0).all()


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 8, 8), (1, 7, 9)])
def test_small_and_colour_images_are_causal_without_a_blind_spot(shape):
    """The same on small images, colour included (R -> G -> B inside a pixel: G sees R of its own pixel through the
    mixture's coupling, eq. 3)."""
    model = tiny(shape, scales=3 if min(shape[1:]) >= 8 else 2)
    n = len(order(model))
    c = shape[0]
    targets = sorted({1, c, c + 1, shape[2] * c - 1, (shape[2] + 2) * c + c - 1, n // 2, n - 1})
    assert causality_faults(model, targets) == []


def test_the_causality_check_catches_a_stream_that_sees_its_own_row(monkeypatch):
    # Broken variant: the vertical stream's first convolution no longer shifted down a row, so u at row i sees
    # row i itself, the pixels to the right of the target included.
    monkeypatch.setattr(ppp, "down_shift", lambda x: x)
    model = tiny()
    faults = causality_faults(model, [9, 20])
    assert any("sees" in f for f in faults)


def test_the_causality_check_catches_a_blind_spot(monkeypatch):
    # Broken variant: the ul stream alone, as if the u stream did not feed it (a PixelCNN-style wedge).
    model = tiny()
    for blocks in list(model.polyak.shadow.up_ul) + list(model.polyak.shadow.down_ul):
        for block in blocks:
            block.aux = None
    model.polyak.shadow.u_init.conv.weight.data.zero_()
    model.polyak.shadow.ul_init_up.conv.weight.data.zero_()
    model.polyak.shadow.ul_init_up.conv.bias.data.zero_()
    faults = causality_faults(model, [8 * 3 + 3])
    assert any("misses" in f for f in faults) and not any("sees" in f for f in faults)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 4, 4)])
def test_log_prob_is_the_chain_of_256_bin_conditionals(shape):
    model = tiny(shape, scales=2)
    assert isinstance(model, Autoregressive) and isinstance(model, Likelihood) and model.exact_likelihood
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, *shape), generator=g).float() / 255
    x[0] = 0.0  # all black: every value in the left tail bin
    x[1] = 1.0  # all white: the right tail bin
    lp = model.log_prob(x)
    assert torch.isfinite(lp).all()
    # teacher-forced 256-bin table, normalised per position, gathered at the true values
    t = model.targets(x)
    table = model.logits(model.net_input(t))
    assert torch.allclose(torch.logsumexp(table, 2), torch.zeros(()), atol=1e-4)
    assert torch.allclose(lp, -model.nll_per_example(table, t), rtol=1e-4)
    # and position by position, as generation and the panel see it
    total = torch.zeros(3)
    for c, i, j in order(model):
        probs = model.pixel_distribution(x, i, j, c)
        assert torch.allclose(probs.sum(-1), torch.ones(3), atol=1e-5)
        total += torch.log(probs.gather(1, t[:, c, i, j, None])[:, 0])
    assert torch.allclose(lp, total, rtol=1e-4)
    metrics = model.evaluate(Batch(x, -torch.ones(3, dtype=torch.long)))
    assert metrics["bpd"] == pytest.approx(-lp.mean().item() / (math.prod(shape) * math.log(2)), rel=1e-5)


def test_mixture_at_shows_components_that_add_up_to_the_distribution():
    model = tiny((3, 4, 4), scales=2)
    x = torch.rand(2, 3, 4, 4)
    for c in range(3):
        m = model.mixture_at(x, c, 2, 1)
        assert m["weights"].shape == (2, 3) and m["components"].shape == (2, 3, 256)
        assert torch.allclose(m["weights"].sum(-1), torch.ones(2), atol=1e-5)
        assert torch.allclose(m["components"].sum(-1), torch.ones(2, 3), atol=1e-5)
        assert torch.allclose(m["probs"], model.pixel_distribution(x, 2, 1, c), atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 4, 5), (1, 7, 9)])
def test_row_cropped_sampling_equals_full_passes(shape):
    model = tiny(shape, scales=2)
    fast = model.sample(2, torch.Generator().manual_seed(3), cached=True)
    slow = model.sample(2, torch.Generator().manual_seed(3), cached=False)
    assert torch.equal(fast, slow)
    assert torch.equal(fast, torch.round(fast * 255) / 255)
    x = torch.rand(2, *shape)
    mask = torch.ones(2, 1, *shape[1:])
    mask[:, :, 3:] = 0
    done = model.complete(x, mask, torch.Generator().manual_seed(0))
    assert torch.equal(done[:, :, :3], x[:, :, :3])


def test_polyak_average_is_used_for_evaluation_and_sampling():
    model = tiny(ema_decay=0.9)
    from genstudio.data.dataset import load_dataset

    batch = load_dataset("digits").get(slice(0, 32))
    for _ in range(3):
        model.train_step(batch)
    raw = dict(model.net.named_parameters())
    avg = dict(model.polyak.shadow.named_parameters())
    assert any(not torch.equal(raw[k], avg[k]) for k in raw)
    with_avg = model.log_prob(batch.x)
    model.use_ema = False
    with_raw = model.log_prob(batch.x)
    model.use_ema = True
    assert not torch.allclose(with_avg, with_raw)
    a = model.sample(2, torch.Generator().manual_seed(0))
    b = model.sample(2, torch.Generator().manual_seed(0), use_ema=False)
    assert not torch.equal(a, b) and model.use_ema
    # Drawing with the raw weights writes nothing shared: another thread's likelihood stays the averaged one.
    import threading

    seen: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: [seen.append(model.log_prob(batch.x)) for _ in range(5)])
    worker.start()
    model.sample(2, torch.Generator().manual_seed(0), use_ema=False)
    worker.join()
    assert all(torch.equal(s, with_avg) for s in seen)
    # no average at all: evaluation uses the raw weights
    plain = tiny(ema_decay=0.0)
    assert plain.polyak is None and plain._active_net() is plain.net


def test_too_small_an_image_for_the_scales_is_refused():
    from genstudio.core.model import DataMismatchError

    with pytest.raises(DataMismatchError, match="too small: lower scales"):
        PixelCNNPP(PixelCNNPPConfig(scales=4), DataInfo("image", (1, 6, 6)))


@pytest.mark.slow
def test_pixelcnn_pp_learns_8bit_digits():
    """8x8 digits (17 grey levels stored as 8-bit): validation bits/dim of the Polyak-averaged weights from 4.9
    (untrained; a uniform model scores 8) to 3.51 in 300 steps (measured; 3.9 after 50), about 30 s on one thread."""
    from genstudio.data.dataset import load_dataset

    torch.manual_seed(0)
    ds = load_dataset("digits")
    train, val = ds.split(0.1, seed=0)
    model = PixelCNNPP(PixelCNNPPConfig(filters=16, mixtures=5, scales=2, dropout=0.0, lr=3e-3, ema_decay=0.99), ds.info)
    vb = val.get(slice(None))
    start = model.evaluate(vb)["bpd"]
    for step, batch in enumerate(train.batches(64, seed=0)):
        model.train_step(batch)
        if step + 1 == 300:
            break
    end = model.evaluate(vb)["bpd"]
    assert start > 4.5
    assert end < 3.65, end


def test_eval_reports_exact_bits_per_dim_of_8bit_data(tmp_path):
    """``genstudio eval`` (and the compare view, which reads its keys) labels the number an exact likelihood of 8-bit
    images and computes it with the Polyak-averaged weights."""
    from genstudio.core.engine import train
    from genstudio.core.loading import load_run_model
    from genstudio.core.spec import RunSpec
    from genstudio.metrics.evaluate import evaluate_run

    run = {"batch_size": 16, "steps": 3, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0,
           "checkpoint_every": 0, "preview_n": 4}
    events = list(train(RunSpec.create("pixelcnn++", "digits", run, {"filters": 8, "mixtures": 3, "scales": 2}), tmp_path / "r"))
    assert events[-1].status == "completed", events[-1].message
    out = evaluate_run(tmp_path / "r", n=8, device="cpu", save=False)
    assert out["likelihood"] == "exact" and out["likelihood_data"] == "8-bit"
    model, _, _ = load_run_model(tmp_path / "r", device="cpu")
    assert model.polyak is not None and int(model.polyak.num_updates) == 3
    assert 0 < out["bits_per_dim"] < 8 and out["bits_per_dim"] == pytest.approx(out["nll_nats"] / (64 * math.log(2)), rel=1e-6)
