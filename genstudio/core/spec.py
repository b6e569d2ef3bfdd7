"""A run's full specification: run settings, model config and data options.

This is what ``config.toml`` in a run folder holds, what ``--config`` reads
and what the studio's forms edit. Building it validates every value, so a
bad setting is refused before a run folder exists.

Run settings nobody set come from the model's own run defaults
(:func:`model_run_defaults`: its ``steps`` fit a few minutes on a 2-core
CPU), then from :class:`RunConfig`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import tomli_w

from . import config as cfg
from .config import ConfigError, param
from .data_types import DataOptions
from .registry import UnknownIdError, get_dataset_loader, get_model_class
from .resources import resource_path


@dataclass
class RunConfig:
    """Settings of the training loop, shared by every model."""

    model: str = param("vae", "model id (genstudio list models)")
    dataset: str = param("mnist5k", "dataset id (genstudio list datasets)")
    steps: int = param(2000, "number of training steps", min=1, max=10_000_000)
    batch_size: int = param(64, "examples per training step", min=1, max=65536)
    seed: int = param(0, "seed for weights, batches and noise", min=0, max=2**32 - 1)  # numpy and scikit-learn take 32-bit seeds
    device: str = param("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps")
    threads: int = param(0, "torch CPU threads (0: the cores the load average leaves free; in the studio one fewer)", min=0, max=256)
    log_every: int = param(10, "write metrics every N steps", min=1)
    sample_every: int = param(500, "save a preview grid every N steps (0: only at the end)", min=0)
    preview_every_s: float = param(30.0, "also make a preview after this many seconds (0: off)", min=0.0)
    preview_n: int = param(64, "samples in a preview grid", min=1, max=1024)
    checkpoint_every: int = param(1000, "save a checkpoint every N steps (0: only at the end)", min=0)
    checkpoint_every_minutes: float = param(2.0, "also save a checkpoint after this many minutes of training without one (0: off)", min=0.0)
    # Retention (RunFolder.prune_checkpoints): a long run's folder stays bounded.
    keep_last: int = param(3, "checkpoints kept: the newest N (0: keep every checkpoint)", min=0, advanced=True)
    keep_every: int = param(5000, "also keep the first checkpoint after every N steps (0: none)", min=0, advanced=True)
    keep_best: bool = param(True, "also keep the checkpoint with the lowest validation loss", advanced=True)
    eval_every: int = param(500, "validation metrics every N steps (0: off)", min=0)
    eval_batches: int = param(4, "validation batches per evaluation", min=1)
    quality_every: int = param(0, "sample-quality metrics (FID/KID for images, MMD for points) every N steps (0: off)", min=0, advanced=True)
    quality_n: int = param(256, "samples and real examples per sample-quality evaluation", min=8, max=10000, advanced=True)
    max_minutes: float = param(0.0, "stop after this many minutes of training (0: no limit)", min=0.0)
    # Speed-ups: 'auto' follows the measurements in benchmarks/RESULTS.md (core/speedups.py).
    channels_last: str = param("auto", "NHWC memory layout (auto: on for conv models without GroupNorm, where it measured faster)", choices=("auto", "on", "off"), advanced=True)
    autocast: str = param("auto", "bf16 mixed precision (auto: only where the hardware has native bf16)", choices=("auto", "bf16", "off"), advanced=True)
    compile: str = param("off", "torch.compile each sub-network (slow to start; see benchmarks/RESULTS.md)", choices=("auto", "on", "off"), advanced=True)


@lru_cache(maxsize=None)
def _defaults_table(model_id: str) -> dict[str, Any]:
    """The ``[defaults]`` table of the model's packaged preset file (empty when it has none)."""
    path = resource_path("presets", f"{model_id}.toml")
    if "/" in model_id or "\\" in model_id or not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("defaults", {})
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"preset file '{path}' cannot be read: {e}") from None
    return table if isinstance(table, dict) else {}


def model_run_defaults(model_id: str, kind: str | None = None) -> dict[str, Any]:
    """The run settings ``model_id`` starts from when nothing else sets them (``{"steps": 1200}`` for ddpm).

    One place for the command line and the studio's form alike: ``[defaults.run]``
    in the model's packaged preset file (``genstudio/resources/presets/<model>.toml``),
    with ``[defaults.<kind>.run]`` over it for that kind of data (``points``: a
    2-D step is far cheaper than an image step). The steps are sized to train for
    a few minutes on a 2-core CPU. ``--steps``, ``--set``, a config file's [run]
    table and the form's fields all win over them.
    """
    table = _defaults_table(model_id)
    out = dict(table.get("run") or {})
    if kind and isinstance(table.get(kind), dict):
        out.update(table[kind].get("run") or {})
    return out


def run_defaults_vary_by_kind(model_id: str) -> bool:
    """True when the model's run defaults depend on the kind of data (so the data must be known to choose them)."""
    return any(isinstance(v, dict) and k != "run" for k, v in _defaults_table(model_id).items())


@dataclass
class RunSpec:
    run: RunConfig
    model: Any
    data: Any = None

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = DataOptions(seed=self.run.seed)

    @classmethod
    def create(
        cls,
        model: str,
        dataset: str,
        run_overrides: dict[str, Any] | None = None,
        model_overrides: dict[str, Any] | None = None,
        data_overrides: dict[str, Any] | None = None,
        data_kind: str | None = None,
    ) -> "RunSpec":
        """Build a validated spec from ids and overrides (unknown ids and bad values raise).

        Run settings not in ``run_overrides`` come from the model's run defaults for
        ``data_kind`` (:func:`model_run_defaults`), then from :class:`RunConfig`.
        """
        model_cls = get_model_class(model)
        get_dataset_loader(dataset)
        run = cfg.with_overrides(RunConfig(model=model, dataset=dataset), {**model_run_defaults(model, data_kind), **(run_overrides or {})})
        mcfg = cfg.with_overrides(model_cls.config_class(), model_overrides or {})
        data = cfg.with_overrides(DataOptions(seed=run.seed), data_overrides or {})
        return cls(run, mcfg, data)

    def to_dict(self) -> dict[str, Any]:
        return {"run": cfg.to_dict(self.run), "model": cfg.to_dict(self.model), "data": cfg.to_dict(self.data)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunSpec":
        unknown = set(d) - {"run", "model", "data"}
        if unknown:
            raise ConfigError(f"unknown section(s) {sorted(unknown)} in config; expected [run], [model], [data]")
        for section in ("run", "model", "data"):
            if not isinstance(d.get(section, {}), dict):
                raise ConfigError(f"[{section}] in the config must be a table of settings (key = value lines), got {d[section]!r}")
        run_table = d.get("run", {})
        # A file that leaves a run setting out gets the model's default, as the command line does.
        run = cfg.from_dict(RunConfig, {**model_run_defaults(str(run_table.get("model", RunConfig.model))), **run_table})
        try:  # an unknown id in a file is a bad setting of that file
            get_dataset_loader(run.dataset)
            model_cls = get_model_class(run.model)
        except UnknownIdError as e:
            raise ConfigError(str(e)) from None
        model = cfg.from_dict(model_cls.config_class, d.get("model", {}))
        data = cfg.from_dict(DataOptions, {"seed": run.seed, **d.get("data", {})})
        return cls(run, model, data)

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    @staticmethod
    def read_toml_file(path: str | Path, require: tuple[str, ...] = ()) -> dict[str, Any]:
        """The tables of a config file as written; every error names the file. ``require``: [run] keys that must be present."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file '{p}' does not exist")
        try:
            d = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"config file '{p}' is not valid TOML: {e}") from None
        except OSError as e:
            raise ConfigError(f"config file '{p}' cannot be read: {e.strerror or e}") from None
        missing = [k for k in require if not isinstance(d.get("run"), dict) or k not in d["run"]]
        if missing:
            raise ConfigError(f"config file '{p}' has no {', '.join(missing)} in its [run] table; it is incomplete")
        return d

    @classmethod
    def from_written(cls, d: dict[str, Any], path: str | Path) -> "RunSpec":
        """Validate the tables ``read_toml_file`` read from ``path`` (named in every error)."""
        try:
            return cls.from_dict(d)
        except ConfigError as e:
            raise ConfigError(f"config file '{Path(path)}': {e}") from None

    @classmethod
    def from_toml_file(cls, path: str | Path, require: tuple[str, ...] = ()) -> "RunSpec":
        """Read and validate a config file; every error names the file. ``require``: [run] keys that must be present."""
        return cls.from_written(cls.read_toml_file(path, require), path)

    def with_overrides(
        self, run: dict[str, Any] | None = None, model: dict[str, Any] | None = None, data: dict[str, Any] | None = None
    ) -> "RunSpec":
        return RunSpec(
            cfg.with_overrides(self.run, run or {}),
            cfg.with_overrides(self.model, model or {}),
            cfg.with_overrides(self.data, data or {}),
        )


def split_overrides(assignments: dict[str, Any], model_cls: type) -> tuple[dict, dict, dict]:
    """Route ``--set`` keys to run, model or data settings.

    Keys may be qualified (``run.steps``, ``model.lr``, ``data.path``); a bare
    key is looked up in the model config first, then run, then data.
    """
    sections = {"run": RunConfig, "model": model_cls.config_class, "data": DataOptions}
    out: dict[str, dict] = {"run": {}, "model": {}, "data": {}}
    for key, value in assignments.items():
        if "." in key:
            section, name = key.split(".", 1)
            if section not in sections:
                raise ConfigError(f"unknown section {section!r} in {key!r}; use run., model. or data.")
            cfg.spec_of(sections[section], name)
            out[section][name] = value
            continue
        for section in ("model", "run", "data"):
            if any(s.name == key for s in cfg.specs(sections[section])):
                out[section][key] = value
                break
        else:
            names = sorted({s.name for c in sections.values() for s in cfg.specs(c)})
            raise ConfigError(f"unknown setting {key!r} for model '{model_cls.__name__}'; known: {', '.join(names)}")
    return out["run"], out["model"], out["data"]
