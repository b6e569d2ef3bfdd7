"""Each model's own run defaults (its steps fit a few minutes on a 2-core CPU), for the command line and config files.

They live in the ``[defaults]`` table of the model's packaged preset file;
--steps, --set and a config file's [run] table win over them.
"""

from __future__ import annotations

import tomllib

import pytest

from genstudio.cli import _spec_from_args, build_parser, main
from genstudio.core import registry, spec as specmod
from genstudio.core.config import ConfigError
from genstudio.core.resources import resource_path
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunConfig, RunSpec, model_run_defaults, run_defaults_vary_by_kind

DATASET_OF_KIND = {"image": "digits", "points": "moons", "audio": "waveforms"}


def parsed(*argv: str):
    return _spec_from_args(build_parser().parse_args(["train", *argv]))


def test_the_packaged_defaults_of_the_slow_models():
    assert model_run_defaults("ddpm") == {"steps": 1200}
    assert model_run_defaults("ddpm", "points") == {"steps": 2000}  # a 2-D step is far cheaper
    assert model_run_defaults("ddpm", "image") == {"steps": 1200}
    assert model_run_defaults("gated-pixelcnn") == {"steps": 1800, "batch_size": 16}  # batches of 16: more steps in the same minutes
    assert model_run_defaults("realnvp", "image") == {"steps": 2000, "batch_size": 32}  # images: batches of 32
    assert model_run_defaults("realnvp", "points") == {"steps": 2000}  # 2-D points: the run's batch of 64
    assert model_run_defaults("glow", "image") == {"steps": 3000, "batch_size": 32} and model_run_defaults("glow", "points") == {}
    assert model_run_defaults("cascade")["steps"] == 500
    assert model_run_defaults("vae")["steps"] == 3000 and model_run_defaults("dcgan") == {"steps": 5000, "batch_size": 32}
    assert run_defaults_vary_by_kind("ddpm") and not run_defaults_vary_by_kind("vae")
    assert model_run_defaults("no-such-model") == {} and model_run_defaults("../recipes") == {}


def test_every_packaged_defaults_table_is_valid_for_each_kind_its_model_takes():
    checked = 0
    for path in sorted(resource_path("presets").glob("*.toml")):
        table = tomllib.loads(path.read_text()).get("defaults")
        if table is None:
            continue
        model_id = path.stem
        assert model_id in registry.model_ids(), f"{path.name}: no model '{model_id}' is registered"
        cls = registry.get_model_class(model_id)
        assert set(table) <= {"run"} | set(cls.data_kinds), f"{path.name}: [defaults] tables {sorted(table)}"
        for kind in cls.data_kinds:
            defaults = model_run_defaults(model_id, kind)
            assert set(defaults) <= {s for s in RunConfig.__dataclass_fields__}, defaults
            spec = RunSpec.create(model_id, DATASET_OF_KIND[kind], data_kind=kind)  # validates every value
            assert 50 <= spec.run.steps <= 5000, (model_id, kind, spec.run.steps)
            checked += 1
    assert checked >= 13


def test_a_spec_without_steps_takes_the_models_default_and_explicit_values_win():
    assert RunSpec.create("ddpm", "digits").run.steps == 1200
    assert RunSpec.create("ddpm", "moons", data_kind="points").run.steps == 2000
    assert RunSpec.create("ddpm", "digits", {"steps": 7}).run.steps == 7
    assert RunSpec.create("made", "digits").run.steps == RunConfig.steps  # no defaults of its own: RunConfig's
    # A config file that leaves steps out gets the model's default; one that says it keeps it.
    run = RunSpec.from_dict({"run": {"model": "gated-pixelcnn", "dataset": "digits"}}).run
    assert (run.steps, run.batch_size) == (1800, 16)
    assert RunSpec.from_dict({"run": {"model": "gated-pixelcnn", "dataset": "digits", "steps": 9}}).run.steps == 9


def test_the_command_line_without_steps_uses_the_models_default_for_its_data():
    assert parsed("--model", "ddpm", "--dataset", "digits").run.steps == 1200
    assert parsed("--model", "ddpm", "--dataset", "moons").run.steps == 2000  # the data is points: their default
    assert parsed("--model", "vae", "--dataset", "digits").run.steps == 3000
    assert parsed("--model", "ddpm", "--dataset", "moons", "--steps", "11").run.steps == 11
    assert parsed("--model", "ddpm", "--dataset", "digits", "--set", "steps=12").run.steps == 12
    assert parsed("--model", "ddpm", "--dataset", "digits", "--set", "run.steps=13").run.steps == 13


def test_a_config_file_without_steps_gets_the_default_and_one_with_steps_keeps_them(tmp_path):
    without = tmp_path / "a.toml"
    without.write_text('[run]\nmodel = "gated-pixelcnn"\ndataset = "digits"\n')
    assert parsed("--config", str(without)).run.steps == 1800
    with_steps = tmp_path / "b.toml"
    with_steps.write_text('[run]\nmodel = "gated-pixelcnn"\ndataset = "digits"\nsteps = 21\n')
    assert parsed("--config", str(with_steps)).run.steps == 21
    assert parsed("--config", str(with_steps), "--steps", "22").run.steps == 22


def test_genstudio_train_without_steps_trains_the_models_default_number(tmp_path, monkeypatch, capsys):
    """End to end through `genstudio train`, with the test model given a default of 6 steps."""
    monkeypatch.setattr(specmod, "_defaults_table", lambda mid: {"run": {"steps": 6}} if mid == "toy" else {})
    out = tmp_path / "run"
    assert main(["train", "--model", "toy", "--dataset", "moons", "--out", str(out), "--set", "log_every=1"]) == 0
    meta = RunFolder(out).meta
    assert (meta["total_steps"], meta["step"], meta["status"]) == (6, 6, "completed")
    assert RunFolder(out).spec().run.steps == 6  # the config.toml written says the number used
    out2 = tmp_path / "run2"
    assert main(["train", "--model", "toy", "--dataset", "moons", "--out", str(out2), "--steps", "3"]) == 0
    assert RunFolder(out2).meta["total_steps"] == 3


def test_a_broken_defaults_file_is_one_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "presets"
    bad.mkdir()
    (bad / "toy.toml").write_text("[defaults.run\nsteps = 3\n")
    monkeypatch.setattr(specmod, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    specmod._defaults_table.cache_clear()
    try:
        with pytest.raises(ConfigError, match="toy.toml"):
            model_run_defaults("toy")
    finally:
        specmod._defaults_table.cache_clear()
