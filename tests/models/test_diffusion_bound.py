"""The DDPM variational bound (vlb.py): its Gaussian pieces, unbiasedness, and that it bounds the true NLL."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.capabilities import Likelihood
from genstudio.models.diffusion.schedule import make_schedule
from genstudio.models.diffusion.vlb import bound_terms, discretized_gaussian_log_likelihood, normal_kl, timestep_strata
from tests.models.test_contract import make


def gaussian_posterior_mean(schedule, s, shrink=1.0):
    """E[x_0 | x_t] for x_0 ~ N(0, s^2): the best possible denoiser (times ``shrink`` for a worse one)."""

    def x0_fn(x_t, t):
        ab = schedule.gather("alpha_bar", t, x_t)
        return shrink * torch.sqrt(ab) * s**2 / (ab * s**2 + 1 - ab) * x_t

    return x0_fn


def test_gaussian_pieces():
    m, lv = torch.tensor([0.3, -1.0]), torch.tensor([0.1, -2.0])
    assert torch.allclose(normal_kl(m, lv, m, lv), torch.zeros(2))
    # KL(N(0,1) || N(1,4)) = log 2 + (1 + 1) / 8 - 1/2
    kl = normal_kl(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(1.0), torch.tensor(math.log(4.0)))
    assert kl.item() == pytest.approx(math.log(2) + 2 / 8 - 0.5)
    # The 256 bins of the discretised Gaussian (DDPM eq. 13) hold all the probability.
    levels = torch.linspace(-1, 1, 256, dtype=torch.float64)
    for mean, scale in ((0.3, 0.2), (-0.99, 0.001), (1.5, 0.05)):
        p = discretized_gaussian_log_likelihood(levels, torch.full_like(levels, mean), torch.full_like(levels, math.log(scale))).exp()
        assert p.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_strata_cover_every_denoising_step_once():
    assert timestep_strata(1000, 10).tolist() == [1, 2, 4, 8, 16, 32, 63, 126, 251, 501, 1000]  # the smallest t weigh most
    assert timestep_strata(10, 9).tolist() == list(range(1, 11))  # k = T - 1: every step, exactly
    for T, k in ((50, 3), (1000, 4), (7, 30)):
        e = timestep_strata(T, k)
        assert e[0] == 1 and e[-1] == T and (e[1:] > e[:-1]).all() and len(e) - 1 <= k


def test_few_timesteps_estimate_the_full_sum_without_bias():
    T, s = 50, 0.5
    sch = make_schedule("linear", T)
    x0_fn = gaussian_posterior_mean(sch, s, shrink=0.8)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4000, 2, generator=g, dtype=torch.float64) * s
    exact = bound_terms(x0_fn, sch, x0, T - 1, g, discrete=False, clip=None)["denoising"]
    estimate = bound_terms(x0_fn, sch, x0, 3, g, discrete=False, clip=None)["denoising"]
    se = math.hypot(exact.std().item(), estimate.std().item()) / math.sqrt(len(x0))
    assert abs(exact.mean().item() - estimate.mean().item()) < 4 * se


def test_the_bound_is_above_the_true_nll_and_close_for_the_best_denoiser():
    # 1-D Gaussian data: the true NLL averages to the entropy 0.5 log(2 pi e s^2).
    T, s = 100, 0.5
    sch = make_schedule("linear", T)
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(20000, 1, generator=g, dtype=torch.float64) * s
    entropy = 0.5 * math.log(2 * math.pi * math.e * s * s)

    def bound(shrink):
        r = bound_terms(gaussian_posterior_mean(sch, s, shrink), sch, x0, 8, g, discrete=False, clip=None)
        return (r["prior"] + r["denoising"] + r["decoder"]).mean().item()

    best = bound(1.0)
    assert entropy < best < entropy + 0.15  # measured 0.78 against 0.73
    assert bound(0.7) > best + 0.1  # a worse denoiser, a looser bound


def test_ddpm_reports_its_bound_in_validation():
    for kind in ("image", "points"):
        _, ds, model = make("ddpm", kind)
        assert isinstance(model, Likelihood) and model.exact_likelihood is False
        batch = ds.get(slice(0, 16))
        out = model.evaluate(batch)
        assert out["nll"] > 0 and math.isfinite(out["nll"])
        assert out == model.evaluate(batch)  # fixed noise: comparable across evaluations
        if kind == "image":
            assert out["bpd"] == pytest.approx(out["nll"] / (model.data_info.dim * math.log(2)))
            terms = model.bound(batch.x[:4], torch.Generator().manual_seed(0))
            assert set(terms) == {"prior", "denoising", "decoder", "total"} and (terms["prior"] >= 0).all()
            assert torch.allclose(terms["total"], terms["prior"] + terms["denoising"] + terms["decoder"])
        else:
            assert "bpd" not in out
