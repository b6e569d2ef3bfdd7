"""One contract suite over every registered model.

For each model, on the smallest built-in dataset of a kind it supports:
the loss is finite, weights change after a step, samples have the right
shape and range and come from the generator alone, the checkpoint round
trip restores the same model, and resuming equals training straight through.
"""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.capabilities import Conditional, Encoder, Latent, Likelihood, capabilities_of
from genstudio.core.engine import build_model, load_run_model, train
from genstudio.core.registry import get_model_class, model_ids
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset

# Smaller networks where a model's defaults are sized for real training.
TINY: dict[str, dict] = {
    "ddpm": {"base_channels": 8, "timesteps": 50, "mlp_hidden": 32},
    "cfg-ddpm": {"base_channels": 8, "timesteps": 50, "mlp_hidden": 32},
    "ncsn": {"base_channels": 8, "mlp_hidden": 32, "num_levels": 4, "steps_per_level": 3},
    "ldm": {"timesteps": 50, "mlp_hidden": 32},  # plus autoencoder_run: a tiny vae run, see autoencoder_run()
    "cascade": {"timesteps": 50, "base_channels": 8, "sr_channels": 8, "aug_max": 10, "sample_aug": 5},
    "dcgan": {"g_channels": 8, "d_channels": 8},
    "vae": {"channels": 8, "hidden": 32},
    "ae": {"channels": 8, "hidden": 32},
    "dae": {"channels": 8, "hidden": 32},
    "sparse-ae": {"channels": 8, "hidden": 32, "latent_dim": 16},
    "beta-vae": {"channels": 8, "hidden": 32},
    "cvae": {"channels": 8, "hidden": 32, "iw_samples": 4, "iw_examples": 4},
    "vq-vae": {"channels": 8, "num_codes": 16, "code_dim": 4},
    "gan": {"hidden": 32, "layers": 2},
    "cgan": {"hidden": 32, "layers": 2},
    "wgan-gp": {"hidden": 32, "layers": 2, "d_steps": 2},
    "lsgan": {"hidden": 32, "layers": 2},
}
DATASET_FOR_KIND = {"image": "digits", "points": "moons", "audio": "waveforms"}
DATA_OPTIONS = {"n_points": 512}

MODELS = [m for m in model_ids() if get_model_class(m).family != "test"]


def tiny_overrides(model_id: str) -> dict:
    names = {s.name for s in cfg.specs(get_model_class(model_id).config_class)}
    extra = {"autoencoder_run": autoencoder_run()} if "autoencoder_run" in names else {}
    return {**{k: v for k, v in TINY.get(model_id, {}).items() if k in names}, **extra}


_AUTOENCODER_RUN: list[str] = []


def autoencoder_run() -> str:
    """A tiny vae run on the image set, trained once, for models that diffuse in an autoencoder's latent (ldm)."""
    if not _AUTOENCODER_RUN:
        import tempfile

        out = f"{tempfile.mkdtemp(prefix='genstudio-contract-vae-')}/vae"
        run = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
        events = list(train(RunSpec.create("vae", DATASET_FOR_KIND["image"], run, TINY["vae"]), out))
        assert events[-1].status == "completed", events[-1].message
        _AUTOENCODER_RUN.append(out)
    return _AUTOENCODER_RUN[0]


def kinds(model_id: str) -> list[str]:
    return list(get_model_class(model_id).data_kinds)


CASES = [(m, k) for m in MODELS for k in kinds(m)]


def make(model_id: str, kind: str, **run):
    dataset = DATASET_FOR_KIND[kind]
    spec = RunSpec.create(model_id, dataset, {"batch_size": 16, "seed": 0, **run}, tiny_overrides(model_id), DATA_OPTIONS if kind == "points" else {})
    ds = load_dataset(dataset, spec.data)
    model = build_model(spec, ds.info, torch.device("cpu"))
    return spec, ds, model


def params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


@pytest.mark.parametrize("model_id,kind", CASES)
def test_train_step_finite_and_changes_weights(model_id, kind):
    spec, ds, model = make(model_id, kind)
    model.train()
    before = params(model)
    batches = ds.batches(16, seed=0)
    for _ in range(2):
        metrics = model.train_step(next(batches))
        assert metrics, "train_step must return metrics"
        for k, v in metrics.items():
            assert isinstance(v, float) and math.isfinite(v), (k, v)
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert changed, "no parameter changed after two training steps"
    assert set(model.optimizers()), "a model owns its optimisers"
    groups = [m for names in model.metric_groups.values() for m in names]
    assert any(k in groups for k in metrics), f"metric_groups {model.metric_groups} name none of {list(metrics)}"
    ev = model.evaluate(ds.get(slice(0, 16)))
    assert all(math.isfinite(v) for v in ev.values())


@pytest.mark.parametrize("model_id,kind", CASES)
def test_samples_shape_range_and_seed(model_id, kind):
    spec, ds, model = make(model_id, kind)
    model.eval()
    kw = model.preview_kwargs()
    state = torch.get_rng_state()
    a = model.sample(3, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.equal(state, torch.get_rng_state()), "sample(generator=...) must not touch the global RNG"
    b = model.sample(3, generator=torch.Generator().manual_seed(5), **kw)
    assert torch.allclose(a, b), "same generator seed must give the same samples"
    assert tuple(a.shape) == (3, *ds.info.shape)
    assert torch.isfinite(a).all()
    if kind == "image":
        assert a.min() >= 0 and a.max() <= 1
    if kind == "audio":
        assert a.min() >= -1 and a.max() <= 1
    if isinstance(model, Latent):
        z = model.prior_sample(2, generator=torch.Generator().manual_seed(0))
        assert z.shape[0] == 2
        x = model.decode(z)
        assert tuple(x.shape) == (2, *ds.info.shape)
    if isinstance(model, Encoder):
        z = model.encode(ds.get(slice(0, 2)).x)
        assert z.shape[0] == 2
    if isinstance(model, Likelihood):
        lp = model.log_prob(ds.get(slice(0, 4)).x)
        assert lp.shape == (4,) and torch.isfinite(lp).all()
    if isinstance(model, Conditional) and model.num_classes:
        s = model.sample_conditional(torch.tensor([0, 1]), generator=torch.Generator().manual_seed(0))
        assert tuple(s.shape) == (2, *ds.info.shape)


@pytest.mark.parametrize("model_id,kind", CASES)
def test_checkpoint_round_trip_and_resume(model_id, kind, tmp_path):
    over = {"log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    straight, part = tmp_path / "straight", tmp_path / "part"

    def spec_for(steps):
        return RunSpec.create(model_id, DATASET_FOR_KIND[kind], {"batch_size": 16, "steps": steps, **over}, tiny_overrides(model_id), DATA_OPTIONS if kind == "points" else {})

    ev = list(train(spec_for(4), straight))
    assert ev[-1].status == "completed", ev[-1].message + ev[-1].traceback
    list(train(spec_for(2), part))
    ev = list(train(RunFolder(part).spec().with_overrides(run={"steps": 4}), part, resume=True))
    assert ev[-1].status == "completed", ev[-1].message + ev[-1].traceback
    a, _, _ = load_run_model(straight, device="cpu")
    b, _, _ = load_run_model(part, device="cpu")
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.allclose(sa[k].float(), sb[k].float(), atol=1e-6), f"resume differs at {k}"
    # The loaded model samples exactly like the one that was trained.
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.allclose(a.sample(2, generator=g1, **a.preview_kwargs()), b.sample(2, generator=g2, **b.preview_kwargs()), atol=1e-5)
    assert capabilities_of(a) == RunFolder(straight).meta["capabilities"]


@pytest.mark.parametrize("model_id,kind", CASES)
def test_trains_under_bf16_autocast(model_id, kind, tmp_path):
    # `autocast=auto` turns bf16 on wherever the CPU or GPU has native bf16 (genstudio/core/speedups.py), so every
    # model must train in it, whatever machine runs this suite: forced here, not left to the CPU's flags.
    over = {"batch_size": 16, "steps": 2, "autocast": "bf16", "log_every": 1, "sample_every": 0, "preview_every_s": 0,
            "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    spec = RunSpec.create(model_id, DATASET_FOR_KIND[kind], over, tiny_overrides(model_id), DATA_OPTIONS if kind == "points" else {})
    ev = list(train(spec, tmp_path / "run"))
    assert ev[-1].status == "completed", ev[-1].message + ev[-1].traceback
    assert RunFolder(tmp_path / "run").meta["speedups"]["autocast"] == "bf16"
    model, _, _ = load_run_model(tmp_path / "run", device="cpu")
    assert all(torch.isfinite(v.float()).all() for v in model.state_dict().values() if v.is_floating_point())
