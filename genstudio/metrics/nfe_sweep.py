"""NFE against quality: how a diffusion run's sample quality falls as its DDIM steps drop.

DDIM reaches near-full quality at 50 steps (Song et al. 2021); below that the
curve says what a faster sampler costs. The sweep is a series of evaluations
at several step counts, each cached as an ``evals.jsonl`` line tagged
``"sweep": "nfe"``, so reopening the plot reads instead of recomputing.

Plain Python: the compare view, the Diffusion tab (Qt) and tests use the same functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genstudio.metrics.compare import (
    DESCRIPTIVE_KEYS,
    KNOWN,
    Evaluator,
    default_evaluator,
    as_int,
    as_number,
    reference_of,
    append_eval,
    metric_values,
    read_evals,
)

DEFAULT_NFE_STEPS = (5, 10, 20, 50, 100)


def parse_steps(text: str) -> list[int]:
    """``"5, 10, 20"`` -> [5, 10, 20]; raises ValueError saying what is wrong."""
    out = []
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            k = int(part)
        except ValueError:
            raise ValueError(f"'{part.strip()}' is not a whole number of DDIM steps; write e.g. 5, 10, 20, 50, 100") from None
        if k < 1:
            raise ValueError(f"DDIM steps must be at least 1 (got {k})")
        out.append(k)
    if not out:
        raise ValueError("give at least one DDIM step count, e.g. 5, 10, 20, 50, 100")
    return sorted(set(out))


def sweep_records(run_dir: str | Path, checkpoint: int | None = None) -> list[dict[str, Any]]:
    """DDIM evaluations of a run (from the sweep or ``genstudio eval --sampler ddim``), newest per step count."""
    by_steps: dict[int, dict[str, Any]] = {}
    for rec in read_evals(run_dir):
        if rec.get("sampler") != "ddim" or as_int(rec.get("steps")) is None:
            continue
        if checkpoint is not None and as_int(rec.get("checkpoint_step")) != checkpoint:
            continue
        by_steps[int(rec["steps"])] = rec
    return [by_steps[k] for k in sorted(by_steps)]


@dataclass
class NfeCurve:
    metric: str
    nfe: list[float]
    values: list[float]
    floor: float | None
    steps: list[int]


def nfe_curve(records: list[dict[str, Any]], metric: str) -> NfeCurve:
    """Points (NFE, metric) sorted by NFE, and the mean floor of the records that report one."""
    pts = []
    floors = []
    for rec in records:
        v = as_number(rec.get(metric))
        if v is None:
            continue
        k = int(rec["steps"])
        nfe = as_number(rec.get("nfe")) or float(k)
        pts.append((nfe, v, k))
        f = as_number(rec.get(f"{metric}_floor"))
        if f is not None:
            floors.append(f)
    pts.sort()
    return NfeCurve(metric, [p[0] for p in pts], [p[1] for p in pts], sum(floors) / len(floors) if floors else None, [p[2] for p in pts])


def sweep_metrics(records: list[dict[str, Any]]) -> list[str]:
    """Metric names the sweep records can plot (FID first when present)."""
    names: set[str] = set()
    for rec in records:
        names.update(metric_values(rec, DESCRIPTIVE_KEYS))
    names = {k for k in names if reference_of(k) not in names}
    return sorted(names, key=lambda n: (list(KNOWN).index(n) if n in KNOWN else len(KNOWN), n))


def evaluate_nfe_point(
    run_dir: str | Path,
    steps: int,
    n: int,
    device: str = "auto",
    checkpoint: int | None = None,
    evaluator: Evaluator | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict:
    """One point of the sweep: evaluate with DDIM at ``steps`` and cache it in evals.jsonl (tagged)."""
    evaluator = evaluator or default_evaluator()
    result = dict(evaluator(run_dir, n=n, checkpoint=checkpoint, device=device, sampler="ddim", steps=steps, save=False, should_stop=should_stop))
    result.setdefault("sampler", "ddim")
    result.setdefault("steps", steps)
    result["sweep"] = "nfe"
    result.setdefault("time", time.time())
    append_eval(run_dir, result)
    return result


def missing_steps(run_dir: str | Path, steps: list[int], checkpoint: int | None) -> list[int]:
    """Step counts of the sweep that evals.jsonl does not hold yet for this checkpoint."""
    have = {int(r["steps"]) for r in sweep_records(run_dir, checkpoint)}
    return [k for k in steps if k not in have]
