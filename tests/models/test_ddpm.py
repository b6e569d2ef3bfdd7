"""DDPM model checks beyond the generic contract: parameterisations, sampling options, odd sizes."""

from __future__ import annotations

import pytest
import torch

from genstudio.core.capabilities import Denoiser
from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.diffusion.ddpm import DDPM, DDPMConfig
from genstudio.models.diffusion.schedule import make_schedule
from tests.models.sample_checks import sample_faults

TINY = dict(base_channels=8, channel_mults=[1, 2], timesteps=20)


def test_parameterisation_conversions_round_trip():
    sched = make_schedule("cosine", 100)
    torch.manual_seed(0)
    x0, eps = torch.randn(2, 8, 3).unbind(0)
    t = torch.randint(0, 100, (8,))
    xt = sched.q_sample(x0, t, eps)
    assert torch.allclose(sched.predict_x0(xt, t, eps), x0, atol=1e-4)
    assert torch.allclose(sched.predict_eps(xt, t, x0), eps, atol=1e-3)
    eps_v, x0_v = sched.from_velocity(xt, t, sched.velocity(x0, t, eps))
    assert torch.allclose(eps_v, eps, atol=1e-5) and torch.allclose(x0_v, x0, atol=1e-5)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
@pytest.mark.parametrize("info", [DataInfo("image", (1, 7, 9)), DataInfo("image", (3, 8, 8)), DataInfo("points", (2,), extent=(-2.0, 2.0, -1.0, 1.0))])
def test_train_and_sample_every_parameterisation(prediction, info):
    torch.manual_seed(0)
    # No warm-up: the one step below must move the zero-initialised output layer (at 1/100 of the lr an
    # x0-predicting network stays within 1e-5 of a constant, and its samples coincide).
    model = DDPM(DDPMConfig(prediction=prediction, warmup_steps=0, **TINY), info)
    assert isinstance(model, Denoiser)
    batch = Batch(torch.rand(4, *info.shape), -torch.ones(4, dtype=torch.long))
    assert torch.isfinite(torch.tensor(model.train_step(batch)["loss"]))
    for kwargs in ({}, {"sampler": "ddim", "steps": 5, "eta": 1.0}, model.preview_kwargs()):
        s = model.sample(3, torch.Generator().manual_seed(0), **kwargs)
        assert s.shape == (3, *info.shape)
        assert sample_faults(s, model.sample(3, torch.Generator().manual_seed(1), **kwargs), info.kind) == [], kwargs


def test_sampling_uses_only_the_generator_and_ema_by_default():
    torch.manual_seed(0)
    model = DDPM(DDPMConfig(**TINY), DataInfo("image", (1, 8, 8)))
    for _ in range(3):
        model.train_step(Batch(torch.rand(4, 1, 8, 8), -torch.ones(4, dtype=torch.long)))
    rng = torch.get_rng_state()
    a = model.sample(2, torch.Generator().manual_seed(1), sampler="ddim", steps=4, eta=1.0)
    b = model.sample(2, torch.Generator().manual_seed(1), sampler="ddim", steps=4, eta=1.0)
    raw = model.sample(2, torch.Generator().manual_seed(1), sampler="ddim", steps=4, eta=1.0, use_ema=False)
    assert torch.equal(rng, torch.get_rng_state())
    assert torch.equal(a, b) and not torch.equal(a, raw)


def test_denoise_steps_reports_each_step_in_data_space():
    model = DDPM(DDPMConfig(**TINY), DataInfo("points", (2,), extent=(10.0, 12.0, -1.0, 1.0)))
    steps = list(model.denoise_steps(5, torch.Generator().manual_seed(0), sampler="ddim", steps=4, x_T=torch.zeros(5, 2)))
    assert [s.index for s in steps] == [0, 1, 2, 3] and steps[-1].t_prev == -1 and steps[-1].nfe == 4
    # An untrained network predicts zero noise, so a chain started at the origin of model space stays
    # there: in data space, the centre of the extent.
    centre = torch.tensor([11.0, 0.0]).expand(5, 2)
    assert torch.allclose(steps[-1].x_t, centre) and torch.allclose(steps[0].x0_hat, centre)


def test_q_sample_in_data_space():
    model = DDPM(DDPMConfig(**TINY), DataInfo("image", (1, 4, 4)))
    x0 = torch.rand(2, 1, 4, 4)
    assert torch.allclose(model.q_sample(x0, torch.zeros(2, dtype=torch.long), torch.zeros_like(x0)), (x0 * 2 - 1) * model.schedule.alpha_bar[0].sqrt().item() / 2 + 0.5, atol=1e-6)
    with pytest.raises(TypeError):
        model.sample(1, None, sampler_name="ddim")


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_weight_is_min_snr_gamma_on_the_x0_error(prediction):
    """Hang et al. 2023: whatever the network predicts, the weighted loss is min(SNR, gamma) ||x0 - x0_hat||^2."""
    from genstudio.models.diffusion.ddpm import min_snr_weight

    sched = make_schedule("linear", 1000)
    torch.manual_seed(0)
    x0, eps, out = torch.randn(3, 64, 5, dtype=torch.float64).unbind(0)
    t = torch.arange(0, 1000, 1000 // 64)[:64]
    xt = sched.q_sample(x0, t, eps)
    target = {"eps": eps, "x0": x0, "v": sched.velocity(x0, t, eps)}[prediction]
    x0_hat = {"eps": lambda: sched.predict_x0(xt, t, out), "x0": lambda: out, "v": lambda: sched.from_velocity(xt, t, out)[1]}[prediction]()
    snr = sched.snr[t]
    weighted = min_snr_weight(snr, 5.0, prediction) * (out - target).pow(2).mean(1)
    expected = snr.clamp(max=5.0) * (x0_hat - x0).pow(2).mean(1)
    assert torch.allclose(weighted, expected, rtol=1e-6, atol=1e-9)
    assert (snr > 5).any() and (snr < 5).any()  # both sides of the clamp were checked


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_loss_weights_each_example_and_uniform_is_plain_mse(prediction):
    import torch.nn.functional as F
    from genstudio.models.diffusion.ddpm import min_snr_weight

    info = DataInfo("image", (1, 8, 8))
    torch.manual_seed(0)
    uniform = DDPM(DDPMConfig(prediction=prediction, loss_weighting="uniform", **TINY), info)
    weighted = DDPM(DDPMConfig(prediction=prediction, loss_weighting="min-snr", snr_gamma=2.0, **TINY), info)
    torch.nn.init.normal_(uniform.net.conv_out.weight, std=0.1)  # the zero-initialised output would predict 0 everywhere
    weighted.load_state_dict(uniform.state_dict())
    x0 = torch.rand(6, 1, 8, 8) * 2 - 1
    t = torch.tensor([0, 2, 5, 9, 14, 19])
    noise = torch.randn_like(x0)
    with torch.no_grad():
        out = uniform._raw(uniform.net, uniform.schedule.q_sample(x0, t, noise), t)
        per_example = (out - uniform._target(x0, t, noise)).pow(2).flatten(1).mean(1)
        assert torch.allclose(uniform._loss(x0, t, noise), F.mse_loss(out, uniform._target(x0, t, noise)))
        w = min_snr_weight(uniform.schedule.snr[t].float(), 2.0, prediction)
        assert torch.allclose(weighted._loss(x0, t, noise), (w * per_example).mean(), rtol=1e-5)
        assert not torch.allclose(w, w[0].expand_as(w))  # the weights differ across these timesteps
    batch = Batch(torch.rand(4, 1, 8, 8), -torch.ones(4, dtype=torch.long))
    assert torch.isfinite(torch.tensor(weighted.train_step(batch)["loss"]))
