"""NCSN: the geometric noise ladder, annealed Langevin against a closed-form score, and learning moons."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.capabilities import Denoiser
from genstudio.core.data_types import DataInfo
from genstudio.models.diffusion.ncsn import NCSN, NCSNConfig, SigmaSchedule

INFO = DataInfo("points", (2,), name="square", extent=(-1.0, 1.0, -1.0, 1.0))  # model space = data space


def model(**over) -> NCSN:
    torch.manual_seed(0)
    return NCSN(cfg.with_overrides(NCSNConfig(), {"mlp_hidden": 16, **over}), INFO).eval()


def test_sigmas_are_geometric_and_increase_with_t():
    s = SigmaSchedule(0.01, 1.0, 10)
    ratios = s.sigmas[1:] / s.sigmas[:-1]
    assert torch.allclose(ratios, ratios[0].expand(9)) and ratios[0] > 1
    assert s.sigmas[0].item() == pytest.approx(0.01) and s.sigmas[-1].item() == pytest.approx(1.0)
    assert torch.allclose(s.snr, 1 / s.sigmas**2)
    with pytest.raises(ValueError, match="sigma_min < sigma_max"):
        SigmaSchedule(1.0, 0.5, 10)


def test_q_sample_adds_sigma_t_noise():
    m = model()
    x0 = torch.full((50_000, 2), 0.3)
    xt = m.q_sample(x0, torch.full((50_000,), 7))
    assert xt.mean(0).sub(0.3).abs().max() < 0.01
    assert xt.std(0).sub(m.schedule.sigmas[7].item()).abs().max() < 0.01
    assert isinstance(m, Denoiser)


def test_langevin_steps_are_counted_and_walk_the_levels_downwards():
    m = model(num_levels=4, steps_per_level=3)
    steps = list(m.denoise_steps(5, torch.Generator().manual_seed(0)))
    assert len(steps) == 4 * 3 + 1 and [s.nfe for s in steps] == list(range(1, 14))
    assert [s.t for s in steps] == [3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0, 0, 0]
    assert [s.t_prev for s in steps[:4]] == [3, 3, 2, 2] and steps[-1].t_prev == -1 and steps[-1].is_last
    no_denoise = list(m.denoise_steps(5, torch.Generator().manual_seed(0), denoise=False))
    assert len(no_denoise) == 12 and no_denoise[-1].is_last
    with pytest.raises(ValueError, match="steps_per_level"):
        list(m.denoise_steps(2, steps_per_level=0))


def test_annealed_langevin_with_the_true_score_samples_the_gaussian():
    """Data N(0, s^2 I) blurred by sigma is N(0, (s^2 + sigma^2) I): score -x / (s^2 + sigma^2), so eps_hat = sigma x / (s^2 + sigma^2)."""
    s = 0.3
    m = model(num_levels=10, sigma_max=3.0, sigma_min=0.01, steps_per_level=60, step_size=2e-5)

    def oracle(x, t, use_ema=True):
        sigma = m.schedule.sigma(t, x)
        return sigma * x / (s**2 + sigma**2)

    m.predict_eps = oracle
    x = m.sample(4000, torch.Generator().manual_seed(0))
    assert x.mean(0).abs().max() < 0.03
    # The final Tweedie step shrinks by s^2 / (s^2 + sigma_L^2), a 0.1% effect here.
    assert x.std(0).sub(s).abs().max() < 0.03
    assert m.sample(3, torch.Generator().manual_seed(1)).shape == (3, 2)


def test_dsm_loss_is_half_the_squared_noise_error():
    m = model()
    x0 = torch.randn(8, 2)
    t = torch.randint(0, 10, (8,))
    z = torch.randn(8, 2)
    sigma = m.schedule.sigma(t, x0)
    expected = 0.5 * ((sigma * m.score(x0 + sigma * z, t, use_ema=False) + z) ** 2).sum(1).mean()  # NCSN eqs. 5-6
    assert m._loss(m.net, x0, t, z).item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.slow
def test_ncsn_learns_moons(tmp_path):
    from genstudio.core.engine import train
    from genstudio.core.loading import load_run_model
    from genstudio.core.spec import RunSpec
    from genstudio.data.dataset import DataOptions, load_dataset

    spec = RunSpec.create(
        "ncsn",
        "moons",
        {"steps": 2000, "batch_size": 256, "log_every": 100, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 16},
        {"mlp_hidden": 128, "lr": 3e-3, "ema_decay": 0.99, "sigma_max": 1.0, "sigma_min": 0.01, "num_levels": 10},
        {"n_points": 8000},
    )
    events = list(train(spec, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    m, _, _ = load_run_model(tmp_path / "run", device="cpu")
    x = m.sample(600, torch.Generator().manual_seed(0), steps_per_level=50)
    data = load_dataset("moons", DataOptions(n_points=4000, seed=1))
    d = torch.cdist(x, data.x)
    nearest = d.min(1)
    assert nearest.values.median().item() < 0.08, nearest.values.median()
    # Both moons are covered, in about equal shares.
    share = data.y[nearest.indices].float().mean().item()
    assert 0.35 < share < 0.65, share
    assert math.isfinite(x.sum().item())
