"""One contract suite over every registered model.

For each model, on the smallest built-in dataset of a kind it supports:
the loss is finite, weights change after a step, samples have the right
shape and range and come from the generator alone, the checkpoint round
trip restores the same model, and resuming equals training straight through.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from genstudio.core import config as cfg
from genstudio.core.capabilities import Conditional, Encoder, Latent, Likelihood, capabilities_of
from genstudio.core.engine import train
from genstudio.core.events import Metrics, RunControl
from genstudio.core.loading import build_model, load_run_model
from genstudio.core.registry import get_model_class, model_ids
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.data.dataset import load_dataset
from tests.models.sample_checks import sample_faults

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
    "vq-prior": {"channels": 8, "layers": 2, "embed_dim": 4, "output_hidden": 16},  # plus codebook_run: a tiny vq-vae run
    "gan": {"hidden": 32, "layers": 2},
    "cgan": {"hidden": 32, "layers": 2},
    "wgan-gp": {"hidden": 32, "layers": 2, "d_steps": 2},
    "wgan": {"hidden": 32, "layers": 2, "d_steps": 2, "channels": 8},
    "sgan": {"hidden": 32, "layers": 2},
    "lsgan": {"hidden": 32, "layers": 2},
}
DATASET_FOR_KIND = {"image": "digits", "points": "moons", "audio": "waveforms"}
DATA_OPTIONS = {"n_points": 512}

MODELS = [m for m in model_ids() if get_model_class(m).family != "test"]


def tiny_overrides(model_id: str) -> dict:
    fields = cfg.specs(get_model_class(model_id).config_class)
    names = {s.name for s in fields}
    # A field naming "a finished run of model X" (ldm's autoencoder, vq-prior's codebook): a tiny run of the first model it takes.
    extra = {s.name: tiny_run(s.accepts[0] if s.accepts else "vae") for s in fields if s.kind == "run"}
    return {**{k: v for k, v in TINY.get(model_id, {}).items() if k in names}, **extra}


_TINY_RUNS: dict[str, str] = {}


def tiny_run(model_id: str) -> str:
    """A tiny run of ``model_id`` on the image set, trained once, for models built on another run (ldm, vq-prior)."""
    if model_id not in _TINY_RUNS:
        import atexit
        import shutil
        import tempfile

        folder = tempfile.mkdtemp(prefix=f"genstudio-contract-{model_id}-")
        atexit.register(shutil.rmtree, folder, True)  # shared by the whole session (not a fixture's tmp_path): removed at exit
        out = f"{folder}/{model_id}"
        run = {"batch_size": 16, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
        events = list(train(RunSpec.create(model_id, DATASET_FOR_KIND["image"], run, TINY.get(model_id, {})), out))
        assert events[-1].status == "completed", events[-1].message
        _TINY_RUNS[model_id] = out
    return _TINY_RUNS[model_id]


def autoencoder_run() -> str:
    """A tiny vae run on the image set, for models that diffuse in an autoencoder's latent (ldm)."""
    return tiny_run("vae")


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


def test_sample_checks_reject_degenerate_output():
    # What a broken sample() can return while staying finite, in range and reproducible.
    g = torch.Generator().manual_seed(0)
    good, other = torch.rand(3, 1, 8, 8, generator=g), torch.rand(3, 1, 8, 8, generator=g)
    assert sample_faults(good, other, "image") == []
    broken = {
        "zeros": torch.zeros(3, 1, 8, 8),
        "a clamped blow-up": (good * 1e6).clamp(0, 1),
        "one sample repeated": good[:1].expand(3, -1, -1, -1),
        "a grey constant": torch.full((3, 1, 8, 8), 0.5),
    }
    for name, x in broken.items():
        assert sample_faults(x, x + 1e-3 * other, "image"), f"the sample check accepts {name}"
    assert sample_faults(good, good.clone(), "image"), "the sample check accepts a generator that is ignored"
    pts = torch.randn(3, 2, generator=g)
    assert sample_faults(pts, pts.flip(0), "points") == [] and sample_faults(pts, pts, "points")


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
    c = model.sample(3, generator=torch.Generator().manual_seed(6), **kw)
    assert sample_faults(a, c, kind) == []
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
    # The same 4-step run, stopped after 2 steps and resumed: it must continue exactly where it stopped. (A run
    # resumed with a larger budget re-plans a schedule keyed to the budget, the Gated PixelCNN's linear fall;
    # tests/core/test_budget_progress.py covers that.)
    control = RunControl()
    control.pause()
    control.step_once(2)
    for e in train(spec_for(4), part, control=control):
        if isinstance(e, Metrics) and e.split == "train" and e.step >= 2:
            control.stop()
    assert RunFolder(part).meta["step"] == 2
    ev = list(train(RunFolder(part).spec(), part, resume=True))
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


def train_rows(model_id: str, kind: str, autocast: str, out) -> tuple[list[dict], set[torch.dtype], dict]:
    """Two logged training steps through the engine: (train rows of metrics.jsonl, floating dtypes computed
    inside ``train_step``, the run's meta.json)."""
    rows, dtypes, meta, _ = train_rows_and_autocast(model_id, kind, autocast, out)
    return rows, dtypes, meta


def train_rows_and_autocast(model_id: str, kind: str, autocast: str, out) -> tuple[list[dict], set[torch.dtype], dict, set[str]]:
    """:func:`train_rows`, and where autocast was on that it should not be: {"backward", "optimizer step"} or less."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook
    from torch.overrides import TorchFunctionMode

    class OutputDtypes(TorchFunctionMode):
        """Every torch call's floating result dtype (it sees F.linear inside a model as well as a layer's forward)."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            if isinstance(out, torch.Tensor) and out.is_floating_point():
                dtypes.add(out.dtype)
            return out

    cls = get_model_class(model_id)
    step = cls.train_step

    def recorded_step(self, batch):
        # Inside whatever context the engine wraps the step in; samples and previews are not recorded.
        with OutputDtypes():
            return step(self, batch)

    over = {"batch_size": 16, "steps": 2, "autocast": autocast, "log_every": 1, "sample_every": 0, "preview_every_s": 0,
            "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
    spec = RunSpec.create(model_id, DATASET_FOR_KIND[kind], over, tiny_overrides(model_id), DATA_OPTIONS if kind == "points" else {})
    dtypes: set[torch.dtype] = set()
    # PyTorch's recipe: autocast around the forward pass and the loss only, never backward or the optimiser step.
    autocast_in: set[str] = set()
    backward = torch.Tensor.backward

    def recorded_backward(self, *args, **kwargs):
        if torch.is_autocast_enabled(self.device.type):
            autocast_in.add("backward")
        return backward(self, *args, **kwargs)

    def step_hook(optimizer, args, kwargs):
        if torch.is_autocast_enabled("cpu"):
            autocast_in.add("optimizer step")

    hook = register_optimizer_step_pre_hook(step_hook)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(cls, "train_step", recorded_step)
            mp.setattr(torch.Tensor, "backward", recorded_backward)
            ev = list(train(spec, out))
    finally:
        hook.remove()
    assert ev[-1].status == "completed", ev[-1].message + ev[-1].traceback
    run = RunFolder(out)
    rows = [r for r in (json.loads(line) for line in run.metrics_path.read_text().splitlines()) if r["split"] == "train"]
    return rows, dtypes, run.meta, autocast_in


#: bf16 keeps 8 bits of mantissa: its training losses stay within this share of fp32's (measured over two steps of
#: every model: 0.65 % at most, in a GAN's g_loss; under 0.1 % for the likelihood models).
BF16_LOSS_RTOL = 0.02


def bf16_faults(fp32: list[dict], bf16: list[dict], bf16_dtypes: set[torch.dtype]) -> list[str]:
    """Where a bf16 run's first steps break the README's "same loss" promise against fp32 on the same seed; [] when nowhere."""
    faults = []
    if torch.bfloat16 not in bf16_dtypes:
        faults.append(f"no layer computed in bf16 during training steps (outputs: {sorted(map(str, bf16_dtypes))})")
    if [r["step"] for r in fp32] != [r["step"] for r in bf16]:
        return faults + [f"logged steps differ: {[r['step'] for r in fp32]} against {[r['step'] for r in bf16]}"]
    for a, b in zip(fp32, bf16):
        for key in a:
            if key == "loss" or key.endswith("_loss") or key.startswith("loss_"):
                # Losses near 0 (a WGAN's g_loss) are compared on a scale of 0.1, not relatively.
                if abs(b[key] - a[key]) > BF16_LOSS_RTOL * max(abs(a[key]), 0.1):
                    faults.append(f"step {a['step']}: {key} {b[key]:.5g} under bf16 against {a[key]:.5g} in fp32")
    return faults


@pytest.mark.parametrize("model_id,kind", CASES)
def test_trains_under_bf16_autocast_to_the_same_loss(model_id, kind, tmp_path):
    # `autocast=auto` turns bf16 on wherever the CPU or GPU has native bf16 (genstudio/core/speedups.py), so every
    # model must train in it, whatever machine runs this suite: forced here, not left to the CPU's flags. The
    # README promises the same loss as fp32: the first two steps are compared on the same seed and batches.
    fp32, fp32_dtypes, meta = train_rows(model_id, kind, "off", tmp_path / "fp32")
    assert meta["speedups"]["autocast"] == "off" and torch.bfloat16 not in fp32_dtypes
    bf16, bf16_dtypes, meta, autocast_in = train_rows_and_autocast(model_id, kind, "bf16", tmp_path / "bf16")
    assert meta["speedups"]["autocast"] == "bf16"
    assert bf16_faults(fp32, bf16, bf16_dtypes) == []
    assert autocast_in == set(), f"autocast was on during {sorted(autocast_in)}; it must wrap the forward pass and loss only"
    # Mixed precision keeps fp32 master weights: the checkpoint holds fp32, finite tensors.
    model, _, _ = load_run_model(tmp_path / "bf16", device="cpu")
    floats = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
    assert {v.dtype for v in floats.values()} == {torch.float32}
    assert all(torch.isfinite(v).all() for v in floats.values())


def test_bf16_check_rejects_autocast_around_nothing(tmp_path, monkeypatch):
    # A bf16 switch that no longer reaches the models' forward pass (the step runs in fp32 while meta.json says
    # bf16) must fail.
    import contextlib

    from genstudio.core import speedups

    fp32, _, _ = train_rows("gan", "points", "off", tmp_path / "fp32")
    monkeypatch.setattr(speedups, "autocast_context", lambda sp: contextlib.nullcontext)
    bf16, dtypes, meta = train_rows("gan", "points", "bf16", tmp_path / "bf16")
    assert meta["speedups"]["autocast"] == "bf16"
    assert any("no layer computed in bf16" in f for f in bf16_faults(fp32, bf16, dtypes))
    # And a loss off by more than bf16's rounding is named with its step.
    skewed = [{**r, "g_loss": r["g_loss"] * 1.05} for r in fp32]
    assert bf16_faults(fp32, skewed, {torch.bfloat16}) == [
        f"step {r['step']}: g_loss {r['g_loss'] * 1.05:.5g} under bf16 against {r['g_loss']:.5g} in fp32" for r in fp32
    ]


def test_autocast_check_rejects_autocast_around_the_whole_step(tmp_path, monkeypatch):
    # The old way, autocast around all of train_step (backward and the optimiser step included), must fail the check.
    import torch as _torch

    from genstudio.core import speedups

    real_apply = speedups.apply

    def apply_around_whole_step(model, sp):
        real_apply(model, sp)
        inner = model.train_step

        def train_step(batch):
            with _torch.autocast(device_type="cpu", dtype=_torch.bfloat16):
                return inner(batch)

        model.train_step = train_step

    monkeypatch.setattr(speedups, "apply", apply_around_whole_step)
    _, _, _, autocast_in = train_rows_and_autocast("gan", "points", "bf16", tmp_path / "whole")
    assert autocast_in == {"backward", "optimizer step"}
