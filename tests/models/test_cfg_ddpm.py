"""Class-conditional DDPM with classifier-free guidance: guidance algebra, label dropout, and learning on 8 Gaussians."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.capabilities import Conditional, Denoiser
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError
from genstudio.models.diffusion.cfg_ddpm import CFGDDPMConfig, ConditionalDDPM

INFO = DataInfo("points", (2,), num_classes=3, name="three", extent=(-2.0, 2.0, -2.0, 2.0))


def randomised(**over) -> ConditionalDDPM:
    """A tiny model whose (EMA) network gives different predictions per class (the zero-initialised output would not)."""
    torch.manual_seed(0)
    model = ConditionalDDPM(cfg.with_overrides(CFGDDPMConfig(), {"timesteps": 20, "mlp_hidden": 16, **over}), INFO).eval()
    g = torch.Generator().manual_seed(1)
    for p in list(model.ema.shadow.parameters()) + list(model.net.parameters()):
        p.data = torch.randn(p.shape, generator=g) * 0.3
    return model


def test_capabilities_and_unlabelled_data_refused():
    model = randomised()
    assert isinstance(model, Conditional) and isinstance(model, Denoiser) and model.num_classes == 3
    with pytest.raises(DataMismatchError, match="needs a labelled dataset"):
        ConditionalDDPM(CFGDDPMConfig(), DataInfo("points", (2,), name="unlabelled"))


def test_guidance_scale_zero_is_the_unconditional_model():
    model = randomised()
    labels = torch.tensor([0, 1, 2, 1])
    opts = {"sampler": "ddim", "steps": 5}
    uncond = model.sample(4, torch.Generator().manual_seed(5), **opts)
    zero = model.sample_conditional(labels, torch.Generator().manual_seed(5), guidance_scale=0.0, **opts)
    cond = model.sample_conditional(labels, torch.Generator().manual_seed(5), guidance_scale=1.0, **opts)
    assert torch.equal(uncond, zero)
    assert not torch.allclose(uncond, cond, atol=1e-3)


def test_guided_eps_is_eq_6_and_batched_evaluation_matches():
    model = randomised()
    x = torch.randn(4, 2)
    t = torch.tensor([3, 7, 11, 19])
    y = torch.tensor([0, 1, 2, 0])
    e_c = model.predict_eps(x, t, y=y)
    e_u = model.predict_eps(x, t, y=None)
    assert torch.allclose(model.predict_eps(x, t, y=torch.full((4,), 3)), e_u)  # index num_classes is the null label
    for s in (0.0, 1.0, 2.5):
        assert torch.allclose(model.guided_eps(x, t, y, s), e_u + s * (e_c - e_u), atol=1e-6)


def test_label_dropout_replaces_labels_with_the_null_token():
    batch = Batch(torch.zeros(2000, 2), torch.randint(0, 3, (2000,)))
    torch.manual_seed(0)
    assert torch.equal(randomised(label_dropout=0.0).training_labels(batch), batch.y)
    assert (randomised(label_dropout=1.0).training_labels(batch) == 3).all()
    dropped = (randomised(label_dropout=0.25).training_labels(batch) == 3).float().mean().item()
    assert abs(dropped - 0.25) < 0.04
    with pytest.raises(DataMismatchError, match="unlabelled"):
        randomised().training_labels(Batch(torch.zeros(2, 2), torch.tensor([0, -1])))


def test_bad_labels_and_scales_are_refused():
    model = randomised()
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.2"):
        model.sample_conditional(torch.tensor([0, 3]), steps=2, sampler="ddim")
    with pytest.raises(ValueError, match="one class per sample"):
        list(model.denoise_steps(2, labels=torch.tensor([0, 1, 2])))
    with pytest.raises(ValueError, match="guidance_scale must be 0 or more"):
        model.sample_conditional(torch.tensor([0]), guidance_scale=-1.0)


@pytest.mark.slow
def test_each_class_lands_on_its_own_gaussian(tmp_path):
    """Trained on 8gaussians with labels, samples of class k sit at the k-th mode (centre 4 (cos k pi/4, sin k pi/4) / 1.414)."""
    from genstudio.core.engine import train
    from genstudio.core.loading import load_run_model
    from genstudio.core.spec import RunSpec

    spec = RunSpec.create(
        "cfg-ddpm",
        "8gaussians",
        {"steps": 1500, "batch_size": 256, "log_every": 100, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 16},
        {"timesteps": 100, "mlp_hidden": 128, "lr": 3e-3, "ema_decay": 0.99},
        {"n_points": 8000},
    )
    events = list(train(spec, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    model, _, _ = load_run_model(tmp_path / "run", device="cpu")
    labels = torch.arange(8).repeat_interleave(50)
    x = model.sample_conditional(labels, torch.Generator().manual_seed(0), guidance_scale=1.0, sampler="ddim", steps=50)
    angles = torch.arange(8) * (math.pi / 4)
    centres = 4.0 * torch.stack([torch.cos(angles), torch.sin(angles)], 1) / 1.414
    nearest = torch.cdist(x, centres).argmin(1)
    assert (nearest == labels).float().mean().item() > 0.9
    # Unguided (s = 0) samples still cover all eight modes.
    free = model.sample(400, torch.Generator().manual_seed(1), sampler="ddim", steps=50)
    counts = torch.bincount(torch.cdist(free, centres).argmin(1), minlength=8)
    assert (counts > 15).all(), counts
