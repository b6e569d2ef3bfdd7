"""Model and dataset registries, filled from entry points.

The built-in families are declared in ``pyproject.toml`` under the groups
``genstudio.models`` and ``genstudio.datasets`` exactly as a third-party
package would declare its own, so the engine never imports a model module
by name.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable

MODEL_GROUP = "genstudio.models"
DATASET_GROUP = "genstudio.datasets"


class UnknownIdError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want a plain line
        return str(self.args[0])


_extra_models: dict[str, Any] = {}
_extra_datasets: dict[str, Any] = {}


@lru_cache(maxsize=None)
def _entry_points(group: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=group)}


def model_ids() -> list[str]:
    return sorted(set(_entry_points(MODEL_GROUP)) | set(_extra_models))


def dataset_ids() -> list[str]:
    return sorted(set(_entry_points(DATASET_GROUP)) | set(_extra_datasets), key=str.lower)


def get_model_class(model_id: str) -> type:
    """The model class registered under ``model_id``."""
    if model_id in _extra_models:
        return _extra_models[model_id]
    eps = _entry_points(MODEL_GROUP)
    if model_id not in eps:
        raise UnknownIdError(f"unknown model '{model_id}'; available: {', '.join(model_ids())}")
    return _load(eps[model_id])


def get_dataset_loader(dataset_id: str) -> Callable[..., Any]:
    """The loader function registered under ``dataset_id``."""
    if dataset_id in _extra_datasets:
        return _extra_datasets[dataset_id]
    eps = _entry_points(DATASET_GROUP)
    if dataset_id not in eps:
        raise UnknownIdError(f"unknown dataset '{dataset_id}'; available: {', '.join(dataset_ids())}")
    return _load(eps[dataset_id])


@lru_cache(maxsize=None)
def _load(ep: Any) -> Any:
    return ep.load()


def register_model(model_id: str, cls: type) -> None:
    """Register a model at run time (tests and notebooks; packages use entry points)."""
    _extra_models[model_id] = cls


def register_dataset(dataset_id: str, loader: Callable[..., Any]) -> None:
    _extra_datasets[dataset_id] = loader


def unregister(model_id: str | None = None, dataset_id: str | None = None) -> None:
    if model_id:
        _extra_models.pop(model_id, None)
    if dataset_id:
        _extra_datasets.pop(dataset_id, None)


def models_by_family() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for mid in model_ids():
        out.setdefault(get_model_class(mid).family, []).append(mid)
    return out
