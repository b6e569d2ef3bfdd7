"""The Qt-free half of the Autoregressive panel: stepping, distributions, receptive fields, completion, MADE masks, WaveNet."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genstudio.core.data_types import DataInfo
from genstudio.models.autoregressive import inspect as ar
from genstudio.models.autoregressive.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genstudio.models.autoregressive.made import MADE, MADEConfig
from genstudio.models.autoregressive.pixelcnn import PixelCNN, PixelCNNConfig
from genstudio.models.autoregressive.pixelrnn import RowLSTM, RowLSTMConfig
from genstudio.models.autoregressive.wavenet import WaveNet, WaveNetConfig, receptive_field


def pixelcnn(shape=(1, 8, 8), output="bernoulli"):
    torch.manual_seed(0)
    return PixelCNN(PixelCNNConfig(output=output, hidden=12, blocks=3, first_kernel=3, output_hidden=12), DataInfo("image", shape))


def gated(shape=(1, 8, 8), classes=0):
    torch.manual_seed(0)
    return GatedPixelCNN(GatedPixelCNNConfig(channels=12, layers=3, first_kernel=3, output_hidden=12), DataInfo("image", shape, num_classes=classes))


def wavenet(length=64):
    torch.manual_seed(0)
    cfg = WaveNetConfig(residual_channels=8, skip_channels=8, dilation_layers=3, stacks=1, output_hidden=16)
    return WaveNet(cfg, DataInfo("audio", (1, length), sample_rate=8000))


def test_stepper_draws_exactly_the_next_positions_in_order_and_ends_on_the_sample():
    model = pixelcnn((3, 4, 4), output="softmax256")
    st = ar.GenerationStepper(model, 2, seed=5)
    assert st.total == 16
    seen = []
    while not st.finished:
        before = st.drawn.clone()
        expected = st.next_positions()
        drew = st.step()
        assert drew == expected and [c for c, _, _ in drew] == [0, 1, 2]  # R, G, B of one pixel
        new = st.drawn & ~before
        assert {tuple(p) for p in new.nonzero().tolist()} == set(drew)
        seen += drew
    flat = [p for step in model.generation_order() for p in step]
    assert seen == flat
    assert torch.equal(st.current(), model.sample(2, torch.Generator().manual_seed(5)))
    assert st.step() == [] and st.next_positions() == []


def test_row_steps_for_raster_models_and_refused_for_random_orders():
    model = RowLSTM(RowLSTMConfig(hidden=6, layers=1, first_kernel=3, output_hidden=6), DataInfo("image", (1, 5, 6)))
    assert ar.default_unit(model) == "row"
    st = ar.GenerationStepper(model, 1, seed=0, unit="row")
    assert st.total == 5
    assert st.step() == [(0, 0, j) for j in range(6)]
    made = MADE(MADEConfig(hidden=20, order="random"), DataInfo("image", (1, 4, 4)))
    assert not ar.is_raster(made)
    with pytest.raises(ValueError, match="raster"):
        ar.GenerationStepper(made, 1, seed=0, unit="row")


def test_position_distribution_sums_to_one_and_ignores_later_pixels():
    model = pixelcnn((3, 4, 4), output="softmax256")
    x = torch.rand(1, 3, 4, 4)
    p = ar.position_distribution(model, x, 1, 2, 1)
    assert p.shape == (256,) and p.sum() == pytest.approx(1.0, abs=1e-6)
    y = x.clone()
    y[:, :, 3] = torch.rand(3, 4)  # a later row
    y[:, 2, 2, 1] = 0.123  # a later channel of the same pixel
    assert np.allclose(ar.position_distribution(model, y, 1, 2, 1), p)
    b = ar.position_distribution(pixelcnn(), torch.rand(1, 1, 8, 8), 0, 3, 3)
    assert b.shape == (2,) and b.sum() == pytest.approx(1.0)


def test_receptive_field_shows_the_pixelcnn_blind_spot_and_none_for_gated():
    i, j = 5, 3
    rf_p = ar.receptive_field(pixelcnn(), 0, i, j)
    rf_g = ar.receptive_field(gated(), 0, i, j)
    assert rf_p.blind[i - 1, j + 2] and not rf_p.leaks.any()
    assert rf_p.depends[i - 1, j + 1]
    assert not rf_g.blind[i - 1, j + 2] and rf_g.depends[i - 1, j + 2] and not rf_g.leaks.any()
    assert not rf_g.blind.any()  # the gated stacks see every earlier pixel within their reach
    assert rf_g.out_of_reach[0, 0] and not rf_g.blind[0, 0]  # too far up: beyond the kernels, not a blind spot
    assert "blind spot" in rf_p.summary()
    for mode in ("gradient", "binary"):
        pic = ar.receptive_field_picture(rf_p, np.zeros((8, 8)), mode)
        assert pic.shape == (8, 8, 3) and tuple(pic[i, j]) == (40, 200, 60)
        assert tuple(pic[i - 1, j + 2]) == (40, 110, 230)  # blind: blue
    with pytest.raises(ValueError):
        ar.receptive_field_picture(rf_p, None, "nope")


def test_completion_mask_presets_and_completion_keeps_known_pixels():
    m = ar.completion_mask("bottom half", 6, 6)
    assert m[0, 0, :3].all() and not m[0, 0, 3:].any()
    assert not ar.completion_mask("right half", 6, 6)[0, 0, :, 3:].any()
    c = ar.completion_mask("centre box", 8, 8)[0, 0]
    assert not c[2:6, 2:6].any() and c.sum() == 64 - 16
    r = ar.completion_mask("rectangle", 6, 6, (4, 5, 1, 2))  # dragged upwards and leftwards
    assert not r[0, 0, 1:4, 2:5].any() and r.sum() == 36 - 9
    with pytest.raises(ValueError, match="rectangle"):
        ar.completion_mask("rectangle", 6, 6)
    with pytest.raises(ValueError, match="no pixel"):
        ar.completion_mask("rectangle", 6, 6, (2, 2, 2, 5))
    model = gated((1, 6, 6))
    x = torch.rand(2, 1, 6, 6)
    out = ar.complete_examples(model, x, m, 3, seed=1)
    assert out.shape == (6, 1, 6, 6)
    known = m.expand(6, 1, 6, 6) > 0
    assert torch.equal(out[known], x.repeat_interleave(3, 0)[known])
    assert set(out[~known].unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out, ar.complete_examples(model, x, m, 3, seed=1))


@pytest.mark.parametrize("order,layers,direct", [("natural", 1, True), ("random", 2, False)])
def test_made_mask_product_is_strictly_autoregressive(order, layers, direct):
    model = MADE(MADEConfig(hidden=30, layers=layers, order=order, direct=direct, num_masks=2), DataInfo("image", (1, 4, 4)))
    for s in range(2):
        conn = ar.made_connectivity(model, s)
        assert len(conn.layer_masks) == layers + 1 + int(direct)
        assert conn.is_autoregressive()
        tri = conn.in_order()
        assert np.all(np.triu(tri) == 0) and (tri[1:] > 0).any()
        # The product agrees with gradients: output d depends on input d' only where a path exists
        # (a path may still carry no gradient on one input, through a ReLU that is off).
        flat = model.order(s)
        model.active_set = s
        x = torch.rand(1, 16, requires_grad=True)
        d = int(flat[-1])
        out = model._flat_logits(x * 2 - 1, s)[0, d]
        g, = torch.autograd.grad(out, x)
        assert not np.any((g[0].abs().numpy() > 0) & (conn.paths[d] == 0))
        assert (conn.paths[d] > 0).sum() == len(flat) - 1 or order == "random" 
        model.active_set = 0
    # Sorted by degree, every mask is a staircase: each row a run of ones then zeros.
    tidy = ar.made_connectivity(model, 0, sort_units=True)
    assert np.array_equal(tidy.paths, ar.made_connectivity(model, 0).paths)
    for m in tidy.layer_masks:
        assert np.all(np.diff(m, axis=1) <= 0) or np.all(np.diff(m, axis=1) >= 0)
    # A broken mask (the diagonal opened) is caught.
    conn.paths[np.ix_(conn.order, conn.order)[0][0, 0], conn.order[0]] = 1
    assert not conn.is_autoregressive()
    assert ar.mask_picture(conn.layer_masks[0]).dtype == np.uint8


def test_wavenet_reach_matches_the_receptive_field_and_the_gradients():
    model = wavenet()
    reach = ar.dilation_reach(list(model.dilations))
    assert reach[-1] == [0]
    assert reach[0] == list(range(1, model.receptive_field + 1))
    assert len(reach[0]) == receptive_field(model.dilations)
    t = 40
    rf = ar.receptive_field(model, 0, 0, t)
    seen = np.flatnonzero(rf.depends)
    assert seen.min() == t - model.receptive_field and seen.max() == t - 1
    assert not rf.leaks.any() and not rf.blind[t - model.receptive_field :].any()
    st = ar.GenerationStepper(model, 2, seed=3, chunk=10)
    assert st.total == 7
    st.step()
    cur = st.current()
    assert cur.shape == (2, 1, 64) and (cur[:, :, 10:] == 0).all()
    while not st.finished:
        st.step()
    assert torch.allclose(st.current(), model.sample(2, torch.Generator().manual_seed(3)))
    p = ar.position_distribution(model, st.current()[:1], 0, 0, 20)
    assert p.shape == (256,) and p.sum() == pytest.approx(1.0, abs=1e-6)


def test_speed_cache_and_order_descriptions():
    model = pixelcnn()
    assert ar.has_cache(model) and ar.has_cache(gated()) and ar.has_cache(wavenet())
    assert not ar.has_cache(MADE(MADEConfig(hidden=10), DataInfo("image", (1, 4, 4))))
    rate, done = ar.sampling_speed(model, cached=True, budget_s=0.05)
    assert rate > 0 and done >= 1
    assert "raster" in ar.describe_order(model)
    assert "random" in ar.describe_order(MADE(MADEConfig(hidden=10, order="random"), DataInfo("image", (1, 4, 4))))
    order = ar.order_picture(model)
    assert order[0, 0] == 0 and order[-1, -1] == 1
    nll = ar.validation_nll(model, torch.rand(4, 1, 8, 8))
    assert nll["bpd"] == pytest.approx(nll["nll"] / (64 * np.log(2)))
