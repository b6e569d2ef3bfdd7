"""The VAE's sampling prior: the mixture fitted to the banked training codes (ex-post density estimation),
the code bank saved with the weights, the KL warm-up and the wider decoder."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.loading import build_model
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from genstudio.models.autoencoders.latent_density import CodeBank, fit_mixture, sample_mixture

TINY = {"channels": 8, "hidden": 32, "latent_dim": 2, "iw_samples": 2, "iw_examples": 2}


def vae(**over):
    spec = RunSpec.create("vae", "digits", {"batch_size": 32, "seed": 0}, {**TINY, **over})
    ds = load_dataset("digits", spec.data)
    return ds, build_model(spec, ds.info, torch.device("cpu"))


def test_the_code_bank_is_a_ring_buffer():
    bank = CodeBank(5, 2)
    assert len(bank.filled()) == 0
    bank.add(torch.arange(6.0).view(3, 2))
    assert torch.equal(bank.filled(), torch.arange(6.0).view(3, 2))
    bank.add(torch.arange(6.0, 12.0).view(3, 2))  # rows 3, 4, then row 0 again
    assert int(bank.written) == 6 and len(bank.filled()) == 5
    assert torch.equal(bank.codes[0], torch.tensor([10.0, 11.0])) and torch.equal(bank.codes[4], torch.tensor([8.0, 9.0]))


def test_the_mixture_finds_well_separated_clusters_and_samples_them():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    codes = torch.cat([c + 0.5 * torch.randn(400, 2, generator=g) for c in centres])
    mix = fit_mixture(codes, 3)
    assert mix.components == 3 and torch.allclose(mix.weights.sum(), torch.tensor(1.0))
    found = sorted(mix.means.tolist())
    assert all(min(math.dist(f, c) for f in found) < 0.2 for c in centres.tolist())
    draws = sample_mixture(mix, 3000, torch.Generator().manual_seed(1))
    # Every draw lies near a centre; N(0, I) draws would mostly land between them.
    near = torch.cdist(draws, centres).min(1).values
    assert (near < 2.5).float().mean() > 0.99
    assert torch.equal(draws, sample_mixture(mix, 3000, torch.Generator().manual_seed(1)))  # one seed, one draw
    assert mix.log_prob(centres).min() > mix.log_prob(torch.tensor([[0.0, -8.0]])).max()


def test_training_banks_codes_and_sampling_draws_from_the_fitted_mixture():
    ds, model = vae()
    assert model.fitted_mixture() is None  # no codes yet: the mixture prior falls back to N(0, I)
    before = model.sample(4, torch.Generator().manual_seed(0), prior="mixture")
    assert torch.allclose(before, model.sample(4, torch.Generator().manual_seed(0), prior="standard"))
    for i in range(4):
        model.train_step(ds.get(slice(32 * i, 32 * (i + 1))))
    assert int(model.code_bank.written) == 128 and int(model.steps_trained) == 4
    mix = model.fitted_mixture()
    assert mix is not None and model.fitted_mixture() is mix  # cached until training writes new codes
    assert model.sample_options()["prior"] == "mixture"
    a = model.sample(6, torch.Generator().manual_seed(0))
    assert torch.equal(a, model.sample(6, torch.Generator().manual_seed(0), prior="mixture"))
    assert not torch.allclose(a, model.sample(6, torch.Generator().manual_seed(0), prior="standard"))
    model.train_step(ds.get(slice(0, 32)))
    assert model.fitted_mixture() is not mix  # refitted on the new codes
    with pytest.raises(ValueError, match="unknown prior"):
        model.latent_sample(2, None, "uniform")


def test_the_code_bank_travels_with_the_weights_and_old_checkpoints_load():
    ds, model = vae()
    for i in range(3):
        model.train_step(ds.get(slice(32 * i, 32 * (i + 1))))
    _, again = vae()
    again.load_state_dict(model.state_dict())
    g = lambda: torch.Generator().manual_seed(2)  # noqa: E731
    assert torch.equal(model.sample(5, g()), again.sample(5, g()))
    # A checkpoint written before the bank existed: no bank keys; it loads with an empty bank.
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("code_bank.") and k != "steps_trained"}
    _, fresh = vae()
    missing, unexpected = fresh.load_state_dict(old, strict=False)
    assert not missing and not unexpected and fresh.fitted_mixture() is None


def test_kl_warmup_ramps_the_weight_and_the_decoder_can_be_wider():
    ds, model = vae(kl_warmup=4, beta=2.0)
    weights = []
    for i in range(6):
        weights.append(model.kl_weight())
        model.train_step(ds.get(slice(0, 32)))
    assert weights == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    assert vae(kl_warmup=0)[1].kl_weight() == 1.0
    assert vae()[1].kl_weight() == pytest.approx(1 / vae()[1].config.kl_warmup)  # the default warms up
    narrow, wide = vae()[1], vae(decoder_channels=16)[1]
    count = lambda m: sum(p.numel() for p in m.decoder.parameters())  # noqa: E731
    assert count(wide) > count(narrow)
    assert sum(p.numel() for p in wide.encoder.parameters()) == sum(p.numel() for p in narrow.encoder.parameters())
