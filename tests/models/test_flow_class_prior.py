"""Glow's class-conditional prior (``class_conditional``): a learned mean and scale of z per class.

Training maximises log p(x | y); the bits/dim stay those of the digits alone (the exact marginal over the
classes); samples are drawn class by class; the weight average holds the prior with the flow.
"""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.capabilities import Conditional
from genstudio.core.data_types import Batch, DataInfo
from genstudio.models.flows.base import EVAL_SEED
from genstudio.models.flows.glow import Glow, GlowConfig
from genstudio.models.flows.priors import ClassPrior, standard_normal_log_prob

LABELLED = DataInfo("image", (1, 8, 8), name="digits", num_classes=3)


def glow(**kw) -> Glow:
    torch.manual_seed(0)
    return Glow(GlowConfig(**{"channels": 8, "steps": 2, "class_conditional": True, **kw}), LABELLED)


def batch(n: int = 12) -> Batch:
    g = torch.Generator().manual_seed(1)
    return Batch(torch.randint(0, 256, (n, 1, 8, 8), generator=g).float() / 255, torch.arange(n) % 3)


def test_the_class_prior_is_a_gaussian_per_class_and_its_marginal_their_mean_density():
    prior = ClassPrior(3, 5)
    z = torch.randn(4, 5)
    torch.testing.assert_close(prior.marginal_log_prob(z), standard_normal_log_prob(z))  # zero init: N(0, I) for every class
    with torch.no_grad():
        prior.mean.copy_(torch.randn(3, 5))
        prior.log_scale.copy_(0.3 * torch.randn(3, 5))
    labels = torch.tensor([0, 1, 2, 1])
    normal = torch.distributions.Normal(prior.mean[labels], prior.log_scale[labels].exp())
    torch.testing.assert_close(prior.log_prob(z, labels), normal.log_prob(z).sum(1))
    each = torch.stack([prior.log_prob(z, torch.full((4,), k)) for k in range(3)], 1)
    torch.testing.assert_close(prior.marginal_log_prob(z), torch.logsumexp(each, 1) - math.log(3))
    eps = torch.randn(4, 5)
    torch.testing.assert_close(prior.sample(labels, eps), prior.mean[labels] + prior.log_scale[labels].exp() * eps)


def test_a_class_conditional_glow_trains_on_x_given_y_and_reports_the_marginal_bits_per_dim():
    model = glow(ema_decay=0.0)
    b = batch()
    for _ in range(5):
        model.train_step(b)
    assert model.class_prior.mean.abs().sum() > 0  # the prior learned
    noise = model._dequantization_noise(b.x, torch.Generator().manual_seed(EVAL_SEED))
    given = torch.stack([model._log_prob_with_noise(b.x, noise, model.dequantizer, torch.full((12,), k)) for k in range(3)], 1)
    marginal = torch.logsumexp(given, 1) - math.log(3)
    torch.testing.assert_close(model.log_prob(b.x), marginal, rtol=1e-5, atol=1e-3)
    # Unlabelled examples (y = -1) fall back to the marginal.
    mixed = torch.tensor([0, -1] * 6)
    got = model._log_prob_with_noise(b.x, noise, model.dequantizer, mixed)
    torch.testing.assert_close(got[1::2], marginal[1::2], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(got[0::2], given[0::2, 0], rtol=1e-5, atol=1e-3)


def test_it_samples_class_by_class_and_the_average_holds_its_prior():
    model = glow()
    assert isinstance(model, Conditional) and model.num_classes == 3
    b = batch()
    for _ in range(5):
        model.train_step(b)
    # The weight average holds the class prior too: the averaged one lags the live one.
    averaged = model.sampling_model().class_prior
    assert averaged is not model.class_prior and not torch.allclose(averaged.mean, model.class_prior.mean)
    labels = torch.tensor([0, 1, 2, 0])
    x = model.sample_conditional(labels, torch.Generator().manual_seed(0))
    assert x.shape == (4, 1, 8, 8) and 0 <= float(x.min()) and float(x.max()) <= 1
    # At temperature 0 a class's samples are its mean, decoded: the same image for the same class.
    cold = model.sample_conditional(labels, torch.Generator().manual_seed(0), temperature=0.0)
    torch.testing.assert_close(cold[0], cold[3])
    assert not torch.allclose(cold[0], cold[1])
    z = model.prior_sample(2, torch.Generator().manual_seed(0), temperature=0.0, labels=torch.tensor([1, 2]))
    torch.testing.assert_close(z, averaged.mean[[1, 2]])
    assert model.sample(5, torch.Generator().manual_seed(0)).shape == (5, 1, 8, 8)  # unconditional: classes drawn at random


def test_without_labels_or_the_setting_there_is_no_class_prior():
    unlabelled = Glow(GlowConfig(channels=8, steps=2, class_conditional=True), DataInfo("image", (1, 8, 8), name="x"))
    assert unlabelled.class_prior is None and unlabelled.num_classes == 0
    plain = glow(class_conditional=False)
    assert plain.class_prior is None and plain.num_classes == 0
    with pytest.raises(ValueError, match="class_conditional"):
        plain.sample_conditional(torch.tensor([0]))


def test_a_run_written_before_the_setting_reads_as_unconditional(tmp_path):
    """Glow's default is the class prior now; a run folder written before the setting trained without one."""
    from tests.old_runs import model_read_back

    for model_id in ("glow", "realnvp"):
        for written, expected in ((None, False), (True, True), (False, False)):
            model = model_read_back(tmp_path / f"{model_id}-{written}", model_id, "class_conditional", written)
            assert model.class_conditional is expected


def test_realnvp_offers_the_same_prior():
    from genstudio.models.flows.realnvp import RealNVP, RealNVPConfig

    torch.manual_seed(0)
    model = RealNVP(RealNVPConfig(scales=2, channels=4, blocks=0, class_conditional=True), LABELLED)
    assert isinstance(model, Conditional) and model.num_classes == 3
    b = batch()
    before = model.class_prior.mean.detach().clone()
    model.train_step(b)
    assert not torch.allclose(model.class_prior.mean, before)
    cold = model.sample_conditional(torch.tensor([2, 2, 0]), torch.Generator().manual_seed(0), temperature=0.0)
    torch.testing.assert_close(cold[0], cold[1])


def test_the_flow_tabs_temperature_rows_walk_each_class_from_its_mean():
    from genstudio.models.flows import inspect as flow_inspect

    model = glow()
    b = batch()
    for _ in range(3):
        model.train_step(b)
    rows = flow_inspect.temperature_samples(model, 6, (0.0, 1.0))
    # T = 0: each column is its class's mean, decoded, so columns 0 and 3 (both class 0) agree and 0 and 1 do not.
    torch.testing.assert_close(rows[0.0][0], rows[0.0][3])
    assert not torch.allclose(rows[0.0][0], rows[0.0][1])
    means = model.decode(model.sampling_model().class_prior.mean[torch.arange(6) % 3])
    torch.testing.assert_close(rows[0.0], means)
    report = flow_inspect.image_report(model, b.x, n_samples=3)
    assert report.class_prior and not flow_inspect.image_report(glow(class_conditional=False), b.x, n_samples=3).class_prior
