"""Typed configuration: one dataclass per model is the single source of truth.

Every field is declared with :func:`param`, which records its default, its
range or choices and a one-line help. The command line (``--set key=value``),
the TOML file in a run folder and the studio's form are all generated from
those declarations, so nothing restates a default or a bound.

Settings a family shares (learning rate, warm-up, EMA, ...) are declared once
in one dataclass of that family; a model's config either inherits it (its
fields then come first, as for the flows) or takes each field with
:func:`param_of` at the place the form should list it, changing only what
differs for that model (a default, the help).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from dataclasses import dataclass, field
from typing import Any


#: What a field holds: a plain value, or the path of a run folder.
FIELD_KINDS = ("value", "run")


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which and how to fix it."""


@dataclass(frozen=True)
class ParamSpec:
    """What the UI and the CLI need to know about one config field."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False  # spans orders of magnitude: a log slider / scientific entry
    advanced: bool = False
    # "run": the value is the path of a run folder (the studio offers finished runs of the
    # ``accepts`` model ids on data of the current shape, plus a folder browser).
    kind: str = "value"
    accepts: tuple[str, ...] | None = None


def param(
    default: Any,
    help: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: typing.Sequence[Any] | None = None,
    log: bool = False,
    advanced: bool = False,
    kind: str = "value",
    accepts: typing.Sequence[str] | None = None,
) -> Any:
    """Declare a config field with its default, bounds and help text.

    ``kind="run"`` marks a string field that holds a run folder; ``accepts``
    lists the model ids whose runs fit (the form offers only those).
    """
    if kind not in FIELD_KINDS:
        raise ValueError(f"param kind must be one of {', '.join(FIELD_KINDS)}; got {kind!r}")
    if accepts is not None and kind != "run":
        raise ValueError("accepts= only applies to kind='run' fields")
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "choices": tuple(choices) if choices is not None else None,
        "log": log,
        "advanced": advanced,
        "kind": kind,
        "accepts": tuple(accepts) if accepts is not None else None,
    }
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def param_of(cls: type, name: str, **changes: Any) -> Any:
    """Declare a field as ``cls`` declares ``name``, with ``changes`` (any :func:`param` argument) applied.

    The shared declaration says the default, range and help once; a config that
    needs another default or help for its model passes only that.
    """
    s = spec_of(cls, name)
    declared = {
        "default": s.default,
        "help": s.help,
        "min": s.min,
        "max": s.max,
        "choices": s.choices,
        "log": s.log,
        "advanced": s.advanced,
        "kind": s.kind,
        "accepts": s.accepts,
    }
    unknown = set(changes) - set(declared)
    if unknown:
        raise TypeError(f"param_of: unknown argument(s) {', '.join(sorted(unknown))}")
    declared.update(changes)
    return param(declared.pop("default"), declared.pop("help"), **declared)


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    # get_type_hints evaluates every annotation string of the class: cached, since specs() runs per field lookup.
    return typing.get_type_hints(cls)


def _field_type(cls: type, f: dataclasses.Field) -> type:
    hints = _type_hints(cls)
    t = hints.get(f.name, str)
    origin = typing.get_origin(t)
    if origin is typing.Literal:
        return type(typing.get_args(t)[0])
    if origin in (list, tuple):
        return origin
    return t if isinstance(t, type) else str


def specs(cls_or_obj: Any) -> list[ParamSpec]:
    """The field specifications of a config dataclass, in declaration order."""
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        out.append(
            ParamSpec(
                name=f.name,
                type=_field_type(cls, f),
                default=default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
                choices=meta.get("choices"),
                log=meta.get("log", False),
                advanced=meta.get("advanced", False),
                kind=meta.get("kind", "value"),
                accepts=meta.get("accepts"),
            )
        )
    return out


def spec_of(cls: Any, name: str) -> ParamSpec:
    for s in specs(cls):
        if s.name == name:
            return s
    known = ", ".join(s.name for s in specs(cls))
    raise ConfigError(f"unknown setting {name!r}; known settings: {known}")


def coerce(spec: ParamSpec, value: Any) -> Any:
    """Turn a value (possibly a string from the command line) into the field's type and check it."""
    t = spec.type
    try:
        if t is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low in ("1", "true", "yes", "on"):
                    value = True
                elif low in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError
            elif not isinstance(value, (bool, int)):
                raise ValueError
            value = bool(value)
        elif t is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                value = int(value)
            elif isinstance(value, str):
                try:
                    value = int(value)
                except ValueError:
                    as_float = float(value)  # accept "1e3" for an integer field
                    if not as_float.is_integer():
                        raise
                    value = int(as_float)
            value = int(value)
        elif t is float:
            if isinstance(value, bool):
                raise ValueError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        elif t in (list, tuple):
            if isinstance(value, str):
                parts = [p for p in value.replace("(", "").replace(")", "").replace("[", "").replace("]", "").split(",") if p.strip()]
                value = [int(p) if p.strip().lstrip("-").isdigit() else float(p) for p in parts]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            value = list(value)
            # Lists hold numbers (channel multipliers): a nested list, a string or NaN would reach the model.
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) for v in value):
                raise ValueError
        elif t is str:
            if not isinstance(value, str):
                raise ValueError
        else:
            value = t(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"setting '{spec.name}' expects {t.__name__}, got {value!r}; example: {spec.name}={spec.default!r}"
        ) from None
    check(spec, value)
    return value


def check(spec: ParamSpec, value: Any) -> None:
    if spec.choices is not None and value not in spec.choices:
        choices = ", ".join(str(c) for c in spec.choices)
        raise ConfigError(f"setting '{spec.name}' must be one of {choices}; got {value!r}")
    if isinstance(value, (list, tuple)):  # a list field's bounds hold for each of its values
        if spec.min is not None and any(v < spec.min for v in value):
            raise ConfigError(f"setting '{spec.name}' must hold values of at least {spec.min}; got {list(value)}")
        if spec.max is not None and any(v > spec.max for v in value):
            raise ConfigError(f"setting '{spec.name}' must hold values of at most {spec.max}; got {list(value)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            raise ConfigError(f"setting '{spec.name}' must be at least {spec.min}; got {value}")
        if spec.max is not None and value > spec.max:
            raise ConfigError(f"setting '{spec.name}' must be at most {spec.max}; got {value}")


def validate(obj: Any) -> None:
    """Check every field of a config instance against its declared bounds."""
    for s in specs(obj):
        check(s, getattr(obj, s.name))


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a config from a mapping (TOML or JSON), checking every value."""
    known = {s.name: s for s in specs(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(known)}")
        kwargs[key] = coerce(known[key], value)
    obj = cls(**kwargs)
    validate(obj)
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def with_overrides(obj: Any, overrides: dict[str, Any]) -> Any:
    """A copy of ``obj`` with ``overrides`` applied, each coerced and checked."""
    values = to_dict(obj)
    for key, value in overrides.items():
        values[key] = coerce(spec_of(type(obj), key), value)
    new = type(obj)(**values)
    validate(new)
    return new


def parse_assignments(items: typing.Iterable[str]) -> dict[str, str]:
    """Parse ``key=value`` strings from ``--set``."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r} (example: --set lr=2e-4)")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key] = value.strip()
    return out
