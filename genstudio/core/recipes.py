"""Recipes: what the studio opens on, each family's flagship model, and the Start page's one-click runs.

All of it is data, in ``genstudio/resources/recipes.toml``; this module only
reads and checks it (Qt-free, so the tests and the command line can use it).
A recipe is a dataset, a model, the settings that size it for a 2-core laptop
CPU, the minutes it is expected to take there and the tab the studio shows.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .resources import resource_path

RECIPES_FILE = resource_path("recipes.toml")
#: Used when the file is missing or broken: the pair the studio opens on must always exist.
FALLBACK_DATASET, FALLBACK_MODEL = "mnist5k", "ddpm"


class RecipeError(ValueError):
    """The recipes file is malformed; the message names the entry."""


@dataclass(frozen=True)
class Recipe:
    id: str
    title: str
    blurb: str
    dataset: str
    model: str
    minutes: float
    tab: str
    run: dict[str, Any] = field(default_factory=dict)
    model_settings: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def time_text(self) -> str:
        """"about 5 minutes on a 2-core CPU": the expected time, as the form and the Start page say it."""
        m = self.minutes
        return f"about {m:g} minute{'s' if m != 1 else ''} on a 2-core CPU"


@dataclass(frozen=True)
class RecipeBook:
    recipes: dict[str, Recipe]
    first_launch: str
    flagships: dict[str, str]

    def first(self) -> Recipe | None:
        return self.recipes.get(self.first_launch)


def parse(text: str) -> RecipeBook:
    """A RecipeBook from the TOML text; RecipeError naming the entry when one is malformed."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"recipes file: {e}") from e
    recipes = {}
    for rid, t in (raw.get("recipe") or {}).items():
        try:
            recipes[rid] = Recipe(
                id=rid,
                title=str(t["title"]),
                blurb=str(t.get("blurb", "")),
                dataset=str(t["dataset"]),
                model=str(t["model"]),
                minutes=float(t["minutes"]),
                tab=str(t.get("tab", "Training")),
                run=dict(t.get("run_settings", {})),
                model_settings=dict(t.get("model_settings", {})),
                data=dict(t.get("data_settings", {})),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RecipeError(f"recipe '{rid}' lacks or mistypes {e}") from e
    first = str(raw.get("first_launch", ""))
    if first and first not in recipes:
        raise RecipeError(f"first_launch names '{first}', which is not a recipe")
    return RecipeBook(recipes, first, {str(k): str(v) for k, v in (raw.get("flagship") or {}).items()})


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> RecipeBook:
    return parse(Path(path).read_text())


def load_recipes(path: Path | None = None) -> RecipeBook:
    """The shipped recipes (re-read when the file changes); an empty book when it cannot be read."""
    p = Path(path) if path is not None else RECIPES_FILE
    try:
        return _load(str(p), p.stat().st_mtime)
    except (OSError, RecipeError):
        return RecipeBook({}, "", {})


def first_launch_choice(book: RecipeBook | None = None) -> tuple[str, str]:
    """(dataset id, model id) of the first launch."""
    r = (book or load_recipes()).first()
    return (r.dataset, r.model) if r is not None else (FALLBACK_DATASET, FALLBACK_MODEL)


def flagship(family: str, candidates: list[str], book: RecipeBook | None = None) -> str | None:
    """The model a family opens on: its flagship when installed, else the first candidate."""
    want = (book or load_recipes()).flagships.get(family)
    if want in candidates:
        return want
    return candidates[0] if candidates else None


def recipe_problems(recipe: Recipe) -> list[str]:
    """Why a recipe cannot train (empty when it can): unknown ids, bad settings, a data kind the model does not take.

    Builds the run's spec, as Train would, and reads the model's data kinds;
    the dataset's kind comes from loading it (the built-in sets load in well
    under a second).
    """
    from . import registry
    from .config import ConfigError
    from .spec import RunSpec

    out = []
    try:
        RunSpec.create(recipe.model, recipe.dataset, recipe.run, recipe.model_settings, recipe.data)
    except (ConfigError, KeyError, ValueError) as e:
        return [f"recipe '{recipe.id}': {e}"]
    from .config import with_overrides
    from .data_types import DataOptions
    from .loading import load_data  # through the registry: core imports no data module

    try:
        ds = load_data(recipe.dataset, with_overrides(DataOptions(), recipe.data))
    except (ConfigError, ValueError, OSError) as e:
        return [f"recipe '{recipe.id}': dataset {recipe.dataset}: {e}"]
    kinds = registry.get_model_class(recipe.model).data_kinds
    if ds.info.kind not in kinds:
        out.append(f"recipe '{recipe.id}': {recipe.model} works on {', '.join(kinds)} data; {recipe.dataset} is {ds.info.kind} data")
    return out
