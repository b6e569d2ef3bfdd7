"""Every model's config fields stay what the form, ``--set`` and old run folders know.

``data/config_fields.json`` was written from the code before the configs were
factored into shared bases (commit 2931c1b): name, type, default, range,
choices, help and flags of every field, in declaration order (the studio form
shows them in that order). ``data/old_run_configs.toml`` holds the ``[model]``
table a run of each model wrote to its ``config.toml`` at that commit.
Regenerate neither to make a test pass: a difference is a change users see.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from genstudio.core import registry
from genstudio.core.config import ParamSpec, specs
from genstudio.core.spec import RunSpec

DATA = Path(__file__).parent / "data"
SNAPSHOT = json.loads((DATA / "config_fields.json").read_text())
OLD_CONFIGS = tomllib.loads((DATA / "old_run_configs.toml").read_text())
#: Fields whose default changed, or that were added, on purpose since those files were written (a
#: changed default is a change users see: each entry says why). An old run's config.toml still loads,
#: and every other default is still the one it wrote.
CHANGED_DEFAULTS: dict[str, set[str]] = {
    # Issue 21 (ten CPU minutes to good samples): min-SNR loss weighting added, and v-prediction with the
    # cosine schedule and min-SNR the default (benchmarks/ddpm_methods.py, RESULTS.md).
    **{m: {"loss_weighting", "snr_gamma", "prediction", "schedule"} for m in ("ddpm", "cfg-ddpm")},
    "ldm": {"loss_weighting", "snr_gamma"},  # the latent diffusion keeps eps / linear / uniform
    # Issue 21: weight averages for sampling and bits/dim (gated-pixelcnn samples from them by default: its
    # last checkpoints stopped swinging), the flows' learning-rate warm-up (benchmarks/likelihood_methods.py).
    # and a first layer that sees 7 rows up, not 3; a learning rate that falls linearly over the run's budget, from 2e-3.
    # Dropout 0.1 on the gated layers (PixelCNN++ section 2.6).
    "gated-pixelcnn": {"ema_decay", "first_kernel", "lr_schedule", "lr", "dropout"},
    # and, for the two flows, the RealNVP paper's MNIST logit constant for both, a third scale reaching 7 x 7, 16 channels and Glow's learned
    # prior on the factored-out parts for RealNVP; Flow++'s mixture couplings, actnorm and variational dequantisation can be asked for
    # (benchmarks/RESULTS.md, likelihood methods); Glow's class-conditional prior, the default of both.
    # A learning rate that falls linearly over the run's budget, from 2e-3, for both.
    "realnvp": {"ema_decay", "warmup_steps", "logit_alpha", "scales", "split_prior", "coupling", "components", "actnorm", "channels", "dequantization",
                "class_conditional", "lr_schedule", "lr"},
    "glow": {"ema_decay", "warmup_steps", "logit_alpha", "split_prior", "dequantization", "class_conditional", "lr_schedule", "lr"},
    # Issue 21: the VAEs sample from a mixture fitted to the encoded training set, with a KL warm-up
    # (benchmarks/vae_methods.py) of 30 components (benchmarks/vae_mixture.py); a wider decoder can be asked for.
    **{m: {"kl_warmup", "decoder_channels", "prior", "mixture_components", "code_bank"} for m in ("vae", "beta-vae", "cvae")},
}


def describe(s: ParamSpec) -> dict[str, Any]:
    """One field as the snapshot stores it (JSON types: tuples become lists)."""
    d = s.default
    return {
        "name": s.name,
        "type": s.type.__name__,
        "default": list(d) if isinstance(d, tuple) else d,
        "help": s.help,
        "min": s.min,
        "max": s.max,
        "choices": list(s.choices) if s.choices is not None else None,
        "log": s.log,
        "advanced": s.advanced,
        "kind": s.kind,
        "accepts": list(s.accepts) if s.accepts is not None else None,
    }


def test_the_registered_models_are_the_snapshots():
    # tests/conftest.py registers toy models of its own; the snapshot covers the shipped ones.
    shipped = [m for m in registry.model_ids() if registry.get_model_class(m).__module__.startswith("genstudio.")]
    assert sorted(shipped) == sorted(SNAPSHOT)


@pytest.mark.parametrize("model_id", sorted(SNAPSHOT))
def test_config_fields_equal_the_snapshot(model_id):
    cls = registry.get_model_class(model_id).config_class
    now = [describe(s) for s in specs(cls)]
    before = SNAPSHOT[model_id]["fields"]
    assert [f["name"] for f in now] == [f["name"] for f in before], "field order changed (the studio form shows it)"
    for a, b in zip(now, before):
        assert a == b, f"{model_id}.{a['name']} changed"
    # Types too: an int default that became a float would print as 1.0 in config.toml.
    for s, b in zip(specs(cls), before):
        assert type(s.default).__name__ == type(b["default"]).__name__ or isinstance(s.default, tuple), s.name


@pytest.mark.parametrize("model_id", sorted(OLD_CONFIGS))
def test_an_old_runs_config_toml_still_loads(model_id):
    old = OLD_CONFIGS[model_id]
    spec = RunSpec.from_dict(old)
    changed = CHANGED_DEFAULTS.get(model_id, set())
    loaded = spec.to_dict()["model"]
    assert {k: v for k, v in loaded.items() if k in old["model"]} == old["model"]
    assert set(loaded) - set(old["model"]) <= changed, "a field was added without an entry in CHANGED_DEFAULTS"
    # The defaults are still the ones the old run wrote, apart from the deliberate changes.
    now = RunSpec.create(model_id, "mnist5k").to_dict()["model"]
    assert {k: v for k, v in now.items() if k not in changed} == {k: v for k, v in old["model"].items() if k not in changed}


def test_the_snapshot_check_catches_a_changed_field():
    """A broken variant: a changed default or help fails the comparison."""
    s = specs(registry.get_model_class("ddpm").config_class)[0]
    changed = describe(ParamSpec(**{**s.__dict__, "help": s.help + "!"}))
    assert changed != SNAPSHOT["ddpm"]["fields"][0]
