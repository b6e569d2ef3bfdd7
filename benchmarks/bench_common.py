"""What every benchmark writes beside its numbers: the machine, the date, the load, and earlier rows kept."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any, Iterable

import torch

from genstudio.core.device import cpu_count
from genstudio.core.speedups import cpu_has_native_bf16


def machine_line() -> str:
    return (
        f"{platform.machine()} {cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {cpu_has_native_bf16()}"
    )


def machine_info() -> dict[str, Any]:
    """The CPU's model name, cores, versions and platform, for results files that keep them as fields."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def save_results(path: Path, rows: list[dict[str, Any]], key: Iterable[str] | None = None, **fields: Any) -> list[dict[str, Any]]:
    """Write ``rows`` with the machine, date and load average; return the rows written.

    With ``key`` (row fields), rows of an earlier run whose key was not measured
    this time are kept, so one model can be re-measured alone. Every new row gets
    this machine's line as its ``machine`` (unless it has one): once rows of two
    runs share a file, the file's own ``machine`` names only the latest run's.
    """
    rows = [{**r, "machine": r.get("machine") or machine_line()} for r in rows]
    if key is not None and path.is_file():
        key = tuple(key)
        ran = {tuple(r[k] for k in key) for r in rows}
        earlier = [r for r in json.loads(path.read_text()).get("rows", []) if tuple(r.get(k) for k in key) not in ran]
        rows = earlier + rows
    result = {"machine": machine_line(), "date": time.strftime("%Y-%m-%d"), **fields, "load_average_at_end": list(os.getloadavg()), "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return rows
