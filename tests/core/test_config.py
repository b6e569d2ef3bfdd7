"""Config dataclasses: the single source of defaults, bounds and help."""

from dataclasses import dataclass

import pytest

from genstudio.core import config as cfg
from genstudio.core.config import ConfigError, param, spec_of, specs
from genstudio.core.registry import get_model_class, model_ids
from genstudio.core.spec import RunSpec, split_overrides


@dataclass
class Demo:
    lr: float = param(1e-3, "learning rate", min=1e-6, max=1.0, log=True)
    width: int = param(32, "channels", min=1, max=512)
    kind: str = param("a", "which", choices=("a", "b"))
    flag: bool = param(False, "a switch")


def test_specs_carry_default_range_help():
    s = {p.name: p for p in cfg.specs(Demo)}
    assert s["lr"].default == 1e-3 and s["lr"].min == 1e-6 and s["lr"].log and s["lr"].help
    assert s["kind"].choices == ("a", "b") and s["width"].type is int and s["flag"].type is bool


@pytest.mark.parametrize("key,value,expected", [("lr", "2e-4", 2e-4), ("width", "64", 64), ("width", "1e2", 100), ("flag", "yes", True), ("kind", "b", "b")])
def test_coerce_from_strings(key, value, expected):
    assert getattr(cfg.with_overrides(Demo(), {key: value}), key) == expected


@pytest.mark.parametrize("key,value,msg", [("lr", "2", "at most"), ("width", "0", "at least"), ("width", "1.5", "expects int"), ("kind", "c", "one of"), ("flag", "maybe", "expects bool"), ("nope", "1", "unknown setting")])
def test_bad_values_are_refused(key, value, msg):
    with pytest.raises(ConfigError, match=msg):
        cfg.with_overrides(Demo(), {key: value})


def test_every_registered_model_config_is_valid_and_documented():
    for mid in model_ids():
        cls = get_model_class(mid)
        cfg.validate(cls.config_class())
        for s in cfg.specs(cls.config_class):
            assert s.help, f"{mid}.{s.name} has no help"
        assert cls.summary and cls.family, mid


def test_spec_toml_round_trip():
    spec = RunSpec.create("toy", "moons", {"steps": 7}, {"lr": 0.01})
    again = RunSpec.from_dict(__import__("tomllib").loads(spec.to_toml()))
    assert again.to_dict() == spec.to_dict()


def test_split_overrides_routes_keys():
    r, m, d = split_overrides({"steps": "5", "lr": "0.1", "data.path": "x", "run.seed": "3", "n_points": "500"}, get_model_class("toy"))
    assert r == {"steps": "5", "seed": "3"} and m == {"lr": "0.1"} and d == {"path": "x", "n_points": "500"}
    with pytest.raises(ConfigError):
        split_overrides({"zzz": 1}, get_model_class("toy"))


def test_param_of_takes_a_shared_declaration_and_changes_only_what_is_given():
    from genstudio.core.config import param_of

    @dataclass
    class Shared:
        lr: float = param(1e-3, "Adam learning rate", min=1e-6, max=1e-1, log=True)
        mults: list = param([1, 2], "multipliers", min=1)

    @dataclass
    class Model:
        width: int = param(8, "width", min=1)
        lr: float = param_of(Shared, "lr", default=2e-4)
        mults: list = param_of(Shared, "mults")

    lr = spec_of(Model, "lr")
    assert (lr.default, lr.help, lr.min, lr.max, lr.log) == (2e-4, "Adam learning rate", 1e-6, 1e-1, True)
    assert [s.name for s in specs(Model)] == ["width", "lr", "mults"]  # placed where the config lists it
    a, b = Model(), Model()
    a.mults.append(4)
    assert b.mults == [1, 2]  # a list default is still copied per instance
    with pytest.raises(TypeError, match="unknown argument"):
        param_of(Shared, "lr", maximum=1.0)
    with pytest.raises(ConfigError, match="unknown setting"):
        param_of(Shared, "beta1")
