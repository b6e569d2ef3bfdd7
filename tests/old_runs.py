"""A run folder as an older genstudio wrote it: a config.toml without a model setting added since."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec


def model_read_back(folder: Path, model_id: str, field: str, written: Any = None, dataset: str = "digits") -> Any:
    """Write ``folder``/config.toml of today's ``model_id`` with ``field`` left out (``written`` None) or set
    to ``written``, and return the model config :meth:`RunFolder.spec` reads back from it."""
    d = RunSpec.create(model_id, dataset).to_dict()
    d["model"].pop(field)
    if written is not None:
        d["model"][field] = written
    folder.mkdir()
    (folder / "config.toml").write_text(tomli_w.dumps(d))
    return RunFolder(folder).spec().model
