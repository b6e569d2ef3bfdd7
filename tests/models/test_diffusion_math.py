"""The diffusion schedule and samplers against closed forms (no trained network)."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.models.diffusion.samplers import ddim_invert, ddim_step, ddpm_step, denoise, select_timesteps
from genstudio.models.diffusion.schedule import SCHEDULES, NoiseSchedule, cosine_alpha_bar, make_schedule


@pytest.mark.parametrize("kind", SCHEDULES)
@pytest.mark.parametrize("T", [10, 1000])
def test_alpha_bar_decreases_from_one_towards_zero(kind, T):
    s = make_schedule(kind, T)
    assert ((s.betas > 0) & (s.betas < 1)).all()
    assert (s.alpha_bar[1:] < s.alpha_bar[:-1]).all()
    assert (s.snr[1:] < s.snr[:-1]).all()
    assert 0 < s.alpha_bar[-1] < 1e-2 < s.alpha_bar[0] <= 1
    assert torch.allclose(s.alpha_bar, torch.cumprod(1 - s.betas, 0))


def test_linear_schedule_endpoints():
    s = make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[-1].item() == pytest.approx(0.02)


def test_cosine_schedule_matches_its_formula():
    """alpha_bar_t = f(t)/f(0), f(t) = cos^2(((t/T + s)/(1 + s)) pi/2) (improved DDPM eq. 17), our index t = paper t + 1."""
    T, s = 1000, 0.008
    sched = make_schedule("cosine", T)
    t = torch.arange(T, dtype=torch.float64)
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
    expected = f((t + 1) / T) / f(torch.zeros(1, dtype=torch.float64))
    unclipped = sched.betas < 0.999  # the last betas are clipped, which changes alpha_bar there only
    assert torch.allclose(sched.alpha_bar[unclipped], expected[unclipped], rtol=1e-9)
    assert torch.allclose(cosine_alpha_bar(torch.tensor([0.0], dtype=torch.float64)), torch.ones(1, dtype=torch.float64))


def test_q_sample_moments_match_closed_form_and_the_step_by_step_chain():
    torch.manual_seed(0)
    sched = make_schedule("linear", 100)
    x0 = torch.tensor([0.8, -0.5])
    n = 200_000
    for t in (0, 10, 50, 99):
        xt = sched.q_sample(x0.expand(n, 2), torch.full((n,), t), torch.randn(n, 2))
        ab = sched.alpha_bar[t].item()
        assert torch.allclose(xt.mean(0), math.sqrt(ab) * x0, atol=0.01)
        assert torch.allclose(xt.var(0), torch.full((2,), 1 - ab), rtol=0.02, atol=1e-4)
    # Composing q(x_t | x_{t-1}) (eq. 2) 50 times gives the same moments as eq. 4 at t = 49.
    x = x0.expand(n, 2).clone()
    for t in range(50):
        beta = sched.betas[t].item()
        x = math.sqrt(1 - beta) * x + math.sqrt(beta) * torch.randn(n, 2)
    mean, std = sched.q_mean_std(x0[None], torch.tensor([49]))
    assert torch.allclose(x.mean(0), mean[0], atol=0.01)
    assert torch.allclose(x.std(0), std[0], rtol=0.01)


def test_posterior_matches_bayes_rule():
    """q(x_{t-1}|x_t,x_0) is proportional to q(x_t|x_{t-1}) q(x_{t-1}|x_0): a product of Gaussians in x_{t-1}."""
    sched = make_schedule("cosine", 50)
    x0 = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    xt = torch.tensor([[-0.4, 0.9]], dtype=torch.float64)
    for t in range(1, 50):
        a, b = sched.alphas[t].item(), sched.betas[t].item()
        ab_prev = sched.alpha_bar[t - 1].item()
        precision = a / b + 1 / (1 - ab_prev)
        var = 1 / precision
        mean = var * (math.sqrt(a) / b * xt + math.sqrt(ab_prev) / (1 - ab_prev) * x0)
        got_mean, got_var = sched.posterior_mean_variance(x0, xt, torch.tensor([t]))
        assert torch.allclose(got_mean, mean, rtol=1e-10)
        assert got_var.item() == pytest.approx(var, rel=1e-10)
    # At the first step the posterior is the data itself.
    m0, v0 = sched.posterior_mean_variance(x0, xt, torch.tensor([0]))
    assert torch.allclose(m0, x0) and v0.item() == 0


def test_ddpm_step_equals_eq_11_when_unclipped():
    sched = make_schedule("linear", 1000)
    torch.manual_seed(0)
    xt, eps, z = torch.randn(3, 4, 2).unbind(0)
    t = 500
    a, b, ab = sched.alphas[t].item(), sched.betas[t].item(), sched.alpha_bar[t].item()
    x_prev, x0_hat = ddpm_step(sched, xt, t, t - 1, eps, z, variance="beta")
    expected = (xt - b / math.sqrt(1 - ab) * eps) / math.sqrt(a) + math.sqrt(b) * z
    assert torch.allclose(x_prev, expected, atol=1e-5)
    assert torch.allclose(x0_hat, sched.predict_x0(xt, torch.tensor([t]), eps), atol=1e-5)


def test_ddim_with_eta_one_is_the_ddpm_beta_tilde_step():
    sched = make_schedule("cosine", 200)
    torch.manual_seed(0)
    xt, eps, z = torch.randn(3, 5, 2).unbind(0)
    for t in (1, 100, 199):
        a, _ = ddim_step(sched, xt, t, t - 1, eps, eta=1.0, noise=z)
        b, _ = ddpm_step(sched, xt, t, t - 1, eps, z, variance="beta_tilde")
        assert torch.allclose(a, b, atol=1e-5)


def test_ddim_eta_zero_is_deterministic():
    sched = make_schedule("linear", 100)
    x_T = torch.randn(4, 2, generator=torch.Generator().manual_seed(0))
    eps_fn = lambda x, t: torch.tanh(x) * 0.5  # noqa: E731 - any deterministic function
    runs = []
    for seed in (1, 2):
        gen = torch.Generator().manual_seed(seed)
        *_, last = denoise(eps_fn, sched, x_T.clone(), "ddim", 10, "trailing", eta=0.0, generator=gen)
        runs.append(last.x_t)
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize(
    "spacing, expected",
    [
        ("leading", [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]),
        ("trailing", [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]),
        ("linspace", [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]),
    ],
)
def test_timesteps_visited_by_each_spacing(spacing, expected):
    assert select_timesteps(1000, 10, spacing) == expected
    sched = make_schedule("linear", 1000)
    steps = list(denoise(lambda x, t: torch.zeros_like(x), sched, torch.zeros(1, 2), "ddim", 10, spacing))
    assert [s.t for s in steps] == expected
    assert [s.t_prev for s in steps] == expected[1:] + [-1]
    assert [s.nfe for s in steps] == list(range(1, 11))


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
@pytest.mark.parametrize("steps", [1, 7, 50, 1000])
def test_step_counts(spacing, steps):
    ts = select_timesteps(1000, steps, spacing)
    assert len(ts) == steps and ts == sorted(ts, reverse=True) and 0 <= ts[-1] and ts[0] <= 999


def test_bad_step_counts_are_refused():
    with pytest.raises(ValueError):
        select_timesteps(100, 0)
    with pytest.raises(ValueError):
        select_timesteps(100, 101)
    with pytest.raises(ValueError):
        select_timesteps(100, 10, "sideways")


@pytest.mark.parametrize("sampler, steps, variance", [("ddpm", None, "beta"), ("ddpm", None, "beta_tilde"), ("ddpm", 13, "beta"), ("ddim", 13, "beta")])
def test_oracle_noise_prediction_recovers_a_point_mass(sampler, steps, variance):
    """With data a single point x*, the ideal eps_hat is (x_t - sqrt(ab_t) x*) / sqrt(1 - ab_t); every sampler lands on x*."""
    sched = make_schedule("linear", 200)
    target = torch.tensor([0.7, -0.4])

    def oracle(x, t):
        ab = sched.gather("alpha_bar", t, x)
        return (x - torch.sqrt(ab) * target) / torch.sqrt(1 - ab)

    gen = torch.Generator().manual_seed(0)
    x_T = torch.randn(16, 2, generator=gen)
    steps_seen = list(denoise(oracle, sched, x_T, sampler, steps, "trailing", eta=0.5, variance=variance, generator=gen))
    assert len(steps_seen) == (steps or 200)
    assert torch.allclose(steps_seen[-1].x_t, target.expand(16, 2), atol=1e-4)
    assert torch.allclose(steps_seen[0].x0_hat, target.expand(16, 2), atol=1e-3)


def test_invalid_betas_are_refused():
    with pytest.raises(ValueError):
        NoiseSchedule(torch.tensor([0.1, 1.0]))
    with pytest.raises(ValueError):
        make_schedule("quadratic", 10)


def _gaussian_oracle(sched, data_std):
    """Exact eps_hat for data N(0, s^2 I): E[eps | x_t] = sqrt(1 - ab) x_t / (ab s^2 + 1 - ab)."""

    def eps(x, t):
        ab = sched.gather("alpha_bar", t, x)
        return torch.sqrt(1 - ab) * x / (ab * data_std**2 + 1 - ab)

    return eps


@pytest.mark.parametrize("spacing", ["leading", "trailing", "linspace"])
def test_ddim_inversion_recovers_x_T(spacing):
    """DDIM with eta 0 is a bijection; inverting its output with fixed-point refinement gives back the x_T it started from."""
    sched = make_schedule("linear", 100)
    eps = _gaussian_oracle(sched, 0.5)
    x_T = torch.randn(64, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    x_0 = list(denoise(eps, sched, x_T, "ddim", 20, spacing, eta=0.0))[-1].x_t
    # (The cosine schedule's clipped last beta leaves alpha_bar_{T-1} ~ 2e-7, where the fixed point converges
    # very slowly; the linear schedule's ~3e-5 converges in a few iterations.)
    exact = ddim_invert(eps, sched, x_0, 20, spacing, refine=20)
    assert torch.allclose(exact, x_T, atol=1e-6)
    # Without refinement the inversion evaluates eps one noise level off: close, not exact.
    rough = ddim_invert(eps, sched, x_0, 20, spacing)
    err = (rough - x_T).abs().max().item()
    assert 1e-6 < err < 1.0
    with pytest.raises(ValueError):
        ddim_invert(eps, sched, x_0, 20, spacing, refine=-1)


def test_nfe_is_counted_and_sampling_can_be_interrupted():
    sched = make_schedule("linear", 100)
    calls = []

    def eps(x, t):
        calls.append(int(t[0]))
        return torch.zeros_like(x)

    chain = denoise(eps, sched, torch.randn(4, 2), "ddim", 10, "trailing")
    first = [next(chain) for _ in range(3)]
    chain.close()  # the consumer stops: no further network evaluation happens
    assert [s.nfe for s in first] == [1, 2, 3] and len(calls) == 3
    assert [s.t for s in first] == calls == select_timesteps(100, 10, "trailing")[:3]
    assert [s.t_prev for s in first] == select_timesteps(100, 10, "trailing")[1:4]
    steps = list(denoise(eps, sched, torch.randn(4, 2), "ddpm", None, "trailing", generator=torch.Generator().manual_seed(0)))
    assert steps[-1].nfe == 100 and steps[-1].is_last and steps[-1].num_steps == 100


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_model_ddim_inversion_round_trips_through_a_network(prediction):
    """DDPM.ddim_invert on a (randomised) MLP denoiser: invert a sample, run DDIM from the result, get the sample back.

    On the linear schedule: the cosine schedule's last alpha_bar is 2.4e-7, so the first DDIM step from x_T
    divides the inversion's residual by sqrt(alpha_bar_T) (about 2,000x) and the round trip is ill-conditioned
    by construction (max error 3e-4 to 4e-2 here), which says nothing about the inversion's mechanics.
    """
    from genstudio.core import config as cfg
    from genstudio.core.data_types import DataInfo
    from genstudio.models.diffusion.ddpm import DDPM, DDPMConfig

    torch.manual_seed(0)
    settings = {"timesteps": 100, "mlp_hidden": 16, "schedule": "linear", "prediction": prediction}
    model = DDPM(cfg.with_overrides(DDPMConfig(), settings), DataInfo("points", (2,), name="p", extent=(-2, 2, -1, 1))).eval()
    for p in model.ema.shadow.parameters():
        p.data.normal_(0, 0.2)
    x0 = torch.randn(32, 2) * torch.tensor([1.0, 0.5])
    x_T = model.ddim_invert(x0, steps=20, refine=20)
    back = list(model.denoise_steps(32, sampler="ddim", steps=20, eta=0.0, clip_x0=False, x_T=x_T))[-1].x_t
    assert torch.allclose(back, x0, atol=1e-4)


def _gaussian_eps(schedule: NoiseSchedule, mu: float, s: float):
    """The exact E[eps | x_t] for data x_0 ~ N(mu, s^2): x_t is Gaussian, so the ODE's drift is known in closed form."""

    def eps_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = schedule.gather("alpha_bar", t, x)
        return torch.sqrt(1 - ab) * (x - torch.sqrt(ab) * mu) / (ab * s**2 + 1 - ab)

    return eps_fn


def _x_at(sampler: str, steps: int, level: int, x_T: torch.Tensor, schedule: NoiseSchedule, eps_fn) -> torch.Tensor:
    """The sample of a ``steps``-step walk when it reaches timestep ``level``."""
    for step in denoise(eps_fn, schedule, x_T.clone(), sampler, steps):
        if step.t_prev == level:
            return step.x_t
    raise AssertionError(f"{sampler} with {steps} steps never reached t={level}")


def test_dpm_solver_2m_first_step_is_ddim_and_last_step_is_x0_hat():
    from genstudio.models.diffusion.samplers import dpmpp_2m_step

    s = make_schedule("linear", 1000)
    torch.manual_seed(0)
    x, eps = torch.randn(2, 5, 3, dtype=torch.float64).unbind(0)
    x_2m, x0_2m, h = dpmpp_2m_step(s, x, 799, 599, eps)
    x_ddim, x0_ddim = ddim_step(s, x, 799, 599, eps)
    assert torch.allclose(x_2m, x_ddim) and torch.allclose(x0_2m, x0_ddim) and h > 0
    x_last, x0_last, _ = dpmpp_2m_step(s, x, 99, -1, eps, previous=(x0_2m, h))
    assert torch.equal(x_last, x0_last)


def test_dpm_solver_2m_is_second_order_where_ddim_is_first():
    """On Gaussian data (exact noise prediction) halving the steps cuts DDIM's error ~2x and DPM-Solver++(2M)'s ~4x."""
    s = make_schedule("linear", 1000)
    eps_fn = _gaussian_eps(s, mu=0.5, s=0.3)
    x_T = torch.randn(256, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    level = 99  # visited by every trailing walk below; the step into clean data is first order in both samplers
    exact = _x_at("dpm++2m", 1000, level, x_T, s, eps_fn)
    err = {(sampler, n): (_x_at(sampler, n, level, x_T, s, eps_fn) - exact).abs().max().item() for sampler in ("ddim", "dpm++2m") for n in (10, 20, 40)}
    for n in (10, 20):
        assert 1.5 < err["ddim", n] / err["ddim", 2 * n] < 2.6, err
        assert err["dpm++2m", n] / err["dpm++2m", 2 * n] > 3.0, err
        assert err["dpm++2m", n] < err["ddim", n] / 2, err
