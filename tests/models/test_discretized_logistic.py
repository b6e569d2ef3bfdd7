"""The discretized logistic mixture (PixelCNN++ eq. 2 and 3): normalisation, edge bins, integration, tails, gradients, sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genstudio.models import discretized_logistic as dl


def logistic_cdf(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def random_mixture(n=2, c=1, k=3, h=2, w=3, seed=0, dtype=torch.float64, spread=1.0):
    g = torch.Generator().manual_seed(seed)
    raw = torch.randn(n, dl.mixture_params_size(c, k), h, w, generator=g, dtype=dtype) * spread
    return dl.unpack_mixture(raw, c, k)


@pytest.mark.parametrize("mean,log_scale", [(0.0, -2.0), (-0.99, -6.5), (1.0, -7.0), (3.0, 0.5), (-5.0, -1.0), (0.3, 4.0), (0.0, 6.5), (0.0, -9.0)])
def test_the_256_bins_sum_to_one(mean, log_scale):
    v = dl.bin_centres(dtype=torch.float64)
    lp = dl.logistic_bin_log_prob(v, torch.tensor(mean, dtype=torch.float64), torch.tensor(log_scale, dtype=torch.float64))
    assert torch.isfinite(lp).all()
    assert torch.exp(lp).sum().item() == pytest.approx(1.0, abs=1e-9)
    # float32 as the models run it
    lp32 = dl.logistic_bin_log_prob(v.float(), torch.tensor(mean), torch.tensor(log_scale))
    assert torch.exp(lp32.double()).sum().item() == pytest.approx(1.0, abs=1e-4)


def test_without_the_edge_cases_the_bins_do_not_sum_to_one():
    # The broken variant: every bin, the edges included, as sigmoid(b) - sigmoid(a). The tails beyond
    # [-1, 1] are lost, so a logistic centred near an edge misses much of its mass.
    v = dl.bin_centres(dtype=torch.float64)
    mean, s = 0.98, 0.05
    mass = torch.sigmoid((v + dl.HALF_BIN - mean) / s) - torch.sigmoid((v - dl.HALF_BIN - mean) / s)
    assert mass.sum().item() < 0.7
    good = torch.exp(dl.logistic_bin_log_prob(v, torch.tensor(mean, dtype=torch.float64), torch.tensor(math.log(s), dtype=torch.float64)))
    assert good.sum().item() == pytest.approx(1.0, abs=1e-9)


def test_edge_bins_take_the_tails():
    mean, s = 0.2, 0.3
    p = torch.exp(dl.logistic_bin_log_prob(dl.bin_centres(dtype=torch.float64), torch.tensor(mean, dtype=torch.float64),
                                           torch.tensor(math.log(s), dtype=torch.float64))).numpy()
    # bin 0 = P(X < -1 + 1/255), bin 255 = P(X > 1 - 1/255)
    assert p[0] == pytest.approx(logistic_cdf((-1 + 1 / 255 - mean) / s), rel=1e-10)
    assert p[255] == pytest.approx(1 - logistic_cdf((1 - 1 / 255 - mean) / s), rel=1e-10)
    # A logistic far below the range puts (almost) everything in bin 0; far above, in bin 255.
    lo = dl.logistic_bin_log_prob(torch.tensor([-1.0, 1.0]), torch.tensor(-4.0), torch.tensor(-3.0))
    hi = dl.logistic_bin_log_prob(torch.tensor([-1.0, 1.0]), torch.tensor(4.0), torch.tensor(-3.0))
    assert lo[0].item() == pytest.approx(0.0, abs=1e-6) and hi[1].item() == pytest.approx(0.0, abs=1e-6)
    assert lo[1].item() < -50 and hi[0].item() < -50 and torch.isfinite(lo).all() and torch.isfinite(hi).all()


def test_matches_numerical_integration_of_the_density():
    mean, s = -0.1, 0.07
    v = dl.bin_centres(dtype=torch.float64)
    p = torch.exp(dl.logistic_bin_log_prob(v, torch.tensor(mean, dtype=torch.float64), torch.tensor(math.log(s), dtype=torch.float64))).numpy()
    edges = np.concatenate([[-40.0], (v.numpy()[:-1] + 1 / 255), [40.0]])
    for b in [0, 1, 50, 114, 115, 128, 200, 254, 255]:
        t = np.linspace(edges[b], edges[b + 1], 200_001)
        z = (t - mean) / s
        pdf = np.exp(-np.abs(z)) / (s * (1 + np.exp(-np.abs(z))) ** 2)  # symmetric: no overflow
        integral = np.trapezoid(pdf, t) if hasattr(np, "trapezoid") else np.trapz(pdf, t)
        assert p[b] == pytest.approx(integral, rel=1e-6, abs=1e-15), b


def test_log_prob_deep_in_the_tail_is_finite_and_accurate_in_float32():
    # A narrow logistic at 0 scores a bin 80 scales away: the sigmoids underflow to equal float32 values,
    # so the naive log(sigmoid(b) - sigmoid(a)) is -inf; the stable form keeps every digit that float64 has.
    x, mean, log_scale = torch.tensor(0.6), torch.tensor(0.0), torch.tensor(-5.0)
    inv = math.exp(5.0)
    naive32_direct = torch.log(torch.sigmoid((x + 1 / 255) * inv) - torch.sigmoid((x - 1 / 255) * inv))
    exact64 = torch.log(torch.sigmoid(-(x.double() - 1 / 255) * inv) - torch.sigmoid(-(x.double() + 1 / 255) * inv))
    assert not torch.isfinite(naive32_direct)
    got = dl.logistic_bin_log_prob(x, mean, log_scale)
    assert torch.isfinite(got) and got.item() == pytest.approx(exact64.item(), rel=1e-5)


def test_gradient_is_finite_at_the_extremes():
    levels = torch.tensor([0, 1, 127, 254, 255], dtype=torch.float32)
    for mean in (-6.0, -1.0, 0.0, 1.0, 6.0):
        for log_scale in (-9.0, -7.0, -3.0, 0.0, 6.0):
            m = torch.tensor(mean, requires_grad=True)
            ls = torch.tensor(log_scale, requires_grad=True)
            lp = dl.logistic_bin_log_prob(dl.to_unit(levels), m, ls)
            assert torch.isfinite(lp).all(), (mean, log_scale, lp)
            lp.sum().backward()
            assert torch.isfinite(m.grad) and torch.isfinite(ls.grad), (mean, log_scale)
    # and through a whole mixture with RGB coupling, from raw outputs
    g = torch.Generator().manual_seed(0)
    raw = (torch.randn(2, dl.mixture_params_size(3, 4), 3, 3, generator=g) * 8).requires_grad_(True)
    x = dl.to_unit(torch.tensor([0, 255, 3, 252]).repeat(2 * 3 * 9 // 4 + 1)[: 2 * 3 * 9].view(2, 3, 3, 3))
    dl.mixture_log_prob(dl.unpack_mixture(raw, 3, 4), x).sum().backward()
    assert torch.isfinite(raw.grad).all()


@pytest.mark.parametrize("channels", [1, 3])
def test_channel_distributions_are_normalised_and_multiply_to_the_joint(channels):
    mix = random_mixture(c=channels, k=4, spread=1.5)
    g = torch.Generator().manual_seed(3)
    levels = torch.randint(0, 256, (2, channels, 2, 3), generator=g)
    levels[0, 0, 0, 0], levels[1, -1, 1, 2] = 0, 255
    x = dl.to_unit(levels, torch.float64)
    bins = dl.channel_bin_log_probs(mix, x)
    assert bins.shape == (2, channels, 256, 2, 3)
    assert torch.allclose(torch.logsumexp(bins, 2), torch.zeros(2, channels, 2, 3, dtype=torch.float64), atol=1e-9)
    chain = bins.gather(2, levels.unsqueeze(2)).squeeze(2).sum(1)  # sum_c log p(x_c | x_<c)
    assert torch.allclose(chain, dl.mixture_log_prob(mix, x), atol=1e-9)
    # the 256-bin mixture of the components under their weights is a distribution, component by component too
    comp = dl.component_bin_log_probs(mix, x)
    assert torch.allclose(torch.logsumexp(comp, 3), torch.zeros_like(comp[:, :, :, 0]), atol=1e-9)


def test_a_channel_distribution_depends_on_earlier_channels_only():
    mix = random_mixture(c=3, k=3, spread=1.5)
    g = torch.Generator().manual_seed(1)
    x = dl.to_unit(torch.randint(0, 256, (2, 3, 2, 3), generator=g), torch.float64)
    y = x.clone()
    y[:, 2] = -y[:, 2]  # change B
    a, b = dl.channel_bin_log_probs(mix, x), dl.channel_bin_log_probs(mix, y)
    assert torch.allclose(a[:, :3], b[:, :3])  # R, G, B distributions do not see B
    z = x.clone()
    z[:, 0] = -z[:, 0]  # change R: G and B change, R does not
    c = dl.channel_bin_log_probs(mix, z)
    assert torch.allclose(a[:, 0], c[:, 0]) and not torch.allclose(a[:, 1], c[:, 1])


def test_samples_follow_the_256_bin_probabilities():
    # One position, a 3-component grey mixture with mass at both edges: 40,000 draws against the bins.
    raw = torch.tensor([2.0, 0.0, 1.0, -0.95, 0.98, 0.1, -3.0, -3.5, -2.0]).view(1, 9, 1, 1).double()
    mix = dl.unpack_mixture(raw, 1, 3)
    probs = torch.exp(dl.channel_bin_log_probs(mix, torch.zeros(1, 1, 1, 1, dtype=torch.float64)))[0, 0, :, 0, 0]
    n = 40_000
    mixes = dl.LogisticMixture(*(t.expand(n, *t.shape[1:]) for t in (mix.logits, mix.means, mix.log_scales, mix.coeffs)))
    draws = dl.sample_mixture(mixes, torch.Generator().manual_seed(0))[:, 0, 0, 0]
    freq = torch.bincount(draws, minlength=256).double() / n
    tv = 0.5 * (freq - probs).abs().sum().item()
    assert tv < 0.03, tv
    assert freq[0].item() == pytest.approx(probs[0].item(), abs=0.01) and freq[255].item() == pytest.approx(probs[255].item(), abs=0.01)
    # RGB: the red channel's draws follow its marginal
    mix3 = random_mixture(n=1, c=3, k=2, h=1, w=1, seed=4)
    p_r = torch.exp(dl.channel_bin_log_probs(mix3, torch.zeros(1, 3, 1, 1, dtype=torch.float64)))[0, 0, :, 0, 0]
    many = dl.LogisticMixture(*(t.expand(n, *t.shape[1:]) for t in (mix3.logits, mix3.means, mix3.log_scales, mix3.coeffs)))
    r = dl.sample_mixture(many, torch.Generator().manual_seed(1))[:, 0, 0, 0]
    assert 0.5 * ((torch.bincount(r, minlength=256).double() / n) - p_r).abs().sum().item() < 0.05


def test_unpack_rejects_a_wrong_size():
    with pytest.raises(ValueError, match="expected 30 mixture parameters"):
        dl.unpack_mixture(torch.zeros(1, 29, 2, 2), 3, 3)
