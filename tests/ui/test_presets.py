"""Every shipped preset names real settings with valid values."""

import tomllib

import pytest

from genstudio.core import config as cfg
from genstudio.core.registry import get_model_class
from genstudio.core.spec import RunConfig
from genstudio.ui.model_panel import PRESET_DIR

FILES = sorted(PRESET_DIR.glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_preset_is_valid(path):
    model_cls = get_model_class(path.stem)
    tables = tomllib.loads(path.read_text())
    assert tables
    for key, table in tables.items():
        if key == "defaults":
            continue  # the model's run defaults, not a preset: tests/core/test_run_defaults.py checks them
        assert set(table) <= {"run", "model"}, key
        cfg.with_overrides(RunConfig(), table.get("run", {}))
        cfg.with_overrides(model_cls.config_class(), table.get("model", {}))


def test_recipes_appear_as_presets_of_their_model_and_dataset_with_their_time():
    from genstudio.core.recipes import load_recipes
    from genstudio.ui.model_panel import builtin_presets

    for r in load_recipes().recipes.values():
        presets = builtin_presets(r.model, r.dataset, None)
        mine = [p for p in presets.values() if p.get("recipe") == r.id]
        assert len(mine) == 1 and mine[0]["about"] == r.time_text and mine[0]["run"] == r.run
        assert not any(p.get("recipe") == r.id for p in builtin_presets(r.model, "no-such-dataset", None).values())
