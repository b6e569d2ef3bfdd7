"""Latent diffusion: building from an autoencoder run, latent normalisation, decoded steps, clear refusals."""

from __future__ import annotations

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.data_types import DataInfo
from genstudio.core.engine import train
from genstudio.core.model import DataMismatchError
from genstudio.core.runs import RunError
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.models.diffusion.ldm import LatentDiffusion, LDMConfig

RUN = {"batch_size": 32, "steps": 3, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ae") / "vae"
    events = list(train(RunSpec.create("vae", "digits", RUN, {"channels": 8, "hidden": 32, "latent_dim": 6}), out))
    assert events[-1].status == "completed", events[-1].message
    return out


def build(vae_run, **over) -> LatentDiffusion:
    spec = RunSpec.create("ldm", "digits", RUN, {"timesteps": 30, "mlp_hidden": 32, "autoencoder_run": str(vae_run), **over})
    return LatentDiffusion(spec.model, load_dataset("digits", spec.data).info)


def test_refuses_without_a_usable_autoencoder(vae_run, tmp_path):
    info = DataInfo("image", (1, 8, 8), 10, "digits")
    with pytest.raises(DataMismatchError, match="ldm needs autoencoder_run"):
        LatentDiffusion(LDMConfig(), info)
    with pytest.raises(RunError, match="does not exist; train a vae first"):
        LatentDiffusion(cfg.with_overrides(LDMConfig(), {"autoencoder_run": str(tmp_path / "nope")}), info)
    with pytest.raises(DataMismatchError, match=r"trained on \(1, 8, 8\) data"):
        LatentDiffusion(cfg.with_overrides(LDMConfig(), {"autoencoder_run": str(vae_run)}), DataInfo("image", (1, 28, 28), 10, "mnist5k"))


def test_latents_are_normalised_from_the_first_batch_and_the_autoencoder_stays_frozen(vae_run):
    m = build(vae_run)
    ds = load_dataset("digits", RunSpec.create("ldm", "digits", RUN, {"autoencoder_run": str(vae_run)}).data)
    batch = ds.get(slice(0, 256))
    before = {k: v.clone() for k, v in m.autoencoder.state_dict().items()}
    m.train()
    assert not m.autoencoder.training
    m.train_step(batch)
    z = m.to_model(batch.x)
    assert z.shape == (256, 6)
    assert z.mean(0).abs().max() < 1e-4 and (z.std(0) - 1).abs().max() < 1e-3
    m.train_step(ds.get(slice(256, 512)))  # later batches do not move the statistics
    assert torch.allclose(m.to_model(batch.x), z)
    assert all(torch.equal(v, m.autoencoder.state_dict()[k]) for k, v in before.items())
    assert all(not p.requires_grad for p in m.autoencoder.parameters())


def test_every_step_is_decoded_and_q_sample_noises_the_latent(vae_run):
    m = build(vae_run).eval()
    steps = list(m.denoise_steps(3, torch.Generator().manual_seed(0), sampler="ddim", steps=5))
    assert len(steps) == 5 and steps[-1].nfe == 5
    assert steps[0].x_t.shape == (3, 1, 8, 8) and steps[0].x0_hat.shape == (3, 1, 8, 8) and steps[0].eps_hat.shape == (3, 6)
    assert steps[-1].x_t.min() >= 0 and steps[-1].x_t.max() <= 1  # the decoder's Bernoulli means
    x = torch.rand(2, 1, 8, 8)
    clean = m.q_sample(x, torch.zeros(2, dtype=torch.long), torch.zeros(2, 6))
    recon = m.autoencoder.decode(m.autoencoder.encode(x))
    assert torch.allclose(clean, recon, atol=0.05)  # alpha_bar_0 ~ 1: z_0 is the encoded x
    g = torch.Generator().manual_seed(4)
    assert torch.allclose(m.sample(2, g, sampler="ddim", steps=5), m.sample(2, torch.Generator().manual_seed(4), sampler="ddim", steps=5))
    with pytest.raises(TypeError, match="unknown sampling option"):
        m.sample(2, bogus=1)


@pytest.mark.slow
def test_ldm_learns_the_latent_distribution_of_digits(tmp_path):
    """A tiny vae on digits, then ldm in its latent: sampled latents match the encoded data, and decoded samples cover the data
    better than the untrained ldm's (data-to-sample nearest-neighbour distance, a FID-free proxy)."""
    from genstudio.core.loading import load_run_model
    from genstudio.metrics.mmd import median_bandwidth, mmd2_unbiased

    quiet = {"log_every": 100, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    vae = tmp_path / "vae"
    spec = RunSpec.create("vae", "digits", {**quiet, "steps": 250, "batch_size": 64}, {"channels": 16, "hidden": 64, "latent_dim": 8})
    assert list(train(spec, vae))[-1].status == "completed"
    spec = RunSpec.create(
        "ldm", "digits", {**quiet, "steps": 600, "batch_size": 256},
        {"timesteps": 200, "mlp_hidden": 128, "lr": 2e-3, "ema_decay": 0.99, "autoencoder_run": str(vae)},
    )  # fmt: skip
    assert list(train(spec, tmp_path / "ldm"))[-1].status == "completed"
    trained, _, _ = load_run_model(tmp_path / "ldm", device="cpu")
    ds = load_dataset("digits", spec.data)
    images = ds.get(torch.arange(len(ds))).x.float()
    torch.manual_seed(0)
    untrained = LatentDiffusion(spec.model, ds.info).eval()
    for name in ("latent_mean", "latent_std", "latent_stats_set"):  # the same latent normalisation: only the denoiser differs
        getattr(untrained, name).copy_(getattr(trained, name))
    data_z = trained.to_model(images)
    held = data_z[torch.randperm(len(data_z), generator=torch.Generator().manual_seed(1))[:400]]
    bandwidth = median_bandwidth(held)  # one kernel for both models
    scores = {}
    for name, m in (("trained", trained), ("untrained", untrained)):
        z = m.diffusion.sample(400, torch.Generator().manual_seed(0), sampler="ddim", steps=50)
        x = m.to_data(z).clamp(0, 1)
        assert x.min() >= 0 and x.max() <= 1 and x.shape == (400, 1, 8, 8)
        coverage = torch.cdist(images.reshape(len(images), -1), x.reshape(400, -1)).min(1).values.mean().item()
        scores[name] = (mmd2_unbiased(z, held, bandwidth), coverage)
    (mmd_t, cov_t), (mmd_u, cov_u) = scores["trained"], scores["untrained"]
    assert mmd_t < 0.02 and mmd_t < 0.2 * mmd_u, scores
    assert cov_t < 0.93 * cov_u, scores  # measured 2.11 against 2.48
