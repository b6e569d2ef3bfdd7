"""Learning tests with bounded steps for the foundation families (marked slow; CI runs them)."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.engine import build_model
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.metrics.mmd import mmd2_unbiased

pytestmark = pytest.mark.slow


def setup(model_id, dataset, model_over=None, data_over=None, batch_size=64):
    spec = RunSpec.create(model_id, dataset, {"batch_size": batch_size, "seed": 0}, model_over or {}, data_over or {})
    ds = load_dataset(dataset, spec.data)
    train, val = ds.split(0.1, 0)
    model = build_model(spec, ds.info, torch.device("cpu"))
    return model, train, val


def test_vae_elbo_falls_on_mnist5k():
    model, train, val = setup("vae", "mnist5k", {"channels": 16, "hidden": 128})
    vb = val.get(slice(0, 256))
    torch.manual_seed(0)
    before = model.evaluate(vb)["loss"]
    batches = train.batches(64, seed=0)
    for _ in range(300):
        model.train_step(next(batches))
    after = model.evaluate(vb)["loss"]
    # A 784-pixel Bernoulli decoder starts near 784 * ln 2 = 543 nats; 300 steps should more than halve it.
    assert before > 400, before
    assert after < 0.5 * before, (before, after)


def test_ddpm_on_moons_matches_the_data():
    model, train, val = setup("ddpm", "moons", {"timesteps": 200}, {"n_points": 8000}, batch_size=256)
    batches = train.batches(256, seed=0)
    for _ in range(1500):
        model.train_step(next(batches))
    g = torch.Generator().manual_seed(0)
    samples = model.sample(600, generator=g)
    real = val.get(slice(0, 600)).x
    fresh = train.get(slice(0, 600)).x
    mmd = mmd2_unbiased(samples, real)
    floor = abs(mmd2_unbiased(fresh, real))
    # Samples from a Gaussian with the data's mean and covariance: what "not learned the shape" scores.
    gauss = real.mean(0) + torch.randn(600, 2, generator=g) @ torch.linalg.cholesky(torch.cov(real.T)).T
    baseline = mmd2_unbiased(gauss, real)
    assert mmd < 0.25 * baseline, (mmd, baseline, floor)
    assert mmd < floor + 0.01, (mmd, floor)


def test_dcgan_stays_finite_and_samples_differ():
    model, train, _ = setup("dcgan", "digits", batch_size=64)
    batches = train.batches(64, seed=0)
    for _ in range(200):
        m = model.train_step(next(batches))
        assert all(math.isfinite(v) for v in m.values()), m
    model.eval()
    s = model.sample(32, generator=torch.Generator().manual_seed(0)).reshape(32, -1)
    # Mean pairwise distance between samples, against the same for real digits: not all alike.
    real = train.get(slice(0, 32)).x.reshape(32, -1)
    div = torch.pdist(s).mean()
    assert div > 0.3 * torch.pdist(real).mean(), (float(div), float(torch.pdist(real).mean()))
