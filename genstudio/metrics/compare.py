"""Comparing runs: one row per run folder, its metrics, and NFE against quality.

A row gathers what the run folder says about a run (``meta.json``), its
newest evaluation (the last line of ``evals.jsonl`` that
:func:`genstudio.metrics.evaluate.evaluate_run` appended) and, where no
evaluation exists yet, the last validation record of ``metrics.jsonl``
(bits/dim logged at ``eval_every``), with the source marked, so a table of
runs is never empty of numbers and never passes one kind of number off as
the other. A score's floor (``fid_floor``: real data against held-out real
data) travels with the score: an FID means little without the FID a perfect
model would get at the same n.

"NFE against quality", the sweep of DDIM step counts that reads and writes
the same ``evals.jsonl``, lives in ``nfe_sweep.py``.

Plain Python: the compare view (Qt) and tests use the same functions.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from genstudio.core.runs import LIVE, RunError, RunFolder, last_progress, list_runs

EVALS_FILE = "evals.jsonl"

#: evals.jsonl keys that describe an evaluation rather than score the model.
DESCRIPTIVE_KEYS = {
    "run", "model", "dataset", "checkpoint_step", "n", "split", "sampler", "steps", "nfe", "eta",
    "sampling_seconds", "samples_per_second", "features", "time", "likelihood", "likelihood_data", "sweep", "error",
    "n_samples", "reference_split", "pr_k", "num_classes", "num_modes", "kid_std", "inception_weights", "seed",
    "temperature",
}  # fmt: skip
#: metrics.jsonl keys that are bookkeeping, not metrics.
LOG_KEYS = {"step", "split", "elapsed_s", "time", "steps_per_s", "eta_s", "wall_time_s"}
#: One name per quantity: the training log says ``bpd``, the evaluation ``bits_per_dim``.
ALIASES = {"bpd": "bits_per_dim", "nll": "nll_nats"}
#: Reference values shown beside their metric: ``fid_floor`` (real against held-out real data,
#: what a perfect model would score) and ``classifier_score_real`` (the score of real data).
REFERENCE_SUFFIXES = {"_floor": "floor", "_real": "real"}
#: Known metrics: column label, and whether lower is better (for the NFE plot's title).
KNOWN: dict[str, tuple[str, bool]] = {
    "fid": ("FID", True),
    "kid": ("KID", True),
    "precision": ("precision", False),
    "recall": ("recall", False),
    "classifier_score": ("classifier score", False),
    "class_coverage": ("class coverage", False),
    "bits_per_dim": ("bits/dim", True),
    "nll_nats": ("NLL (nats)", True),
    "mmd2": ("MMD²", True),
    "modes_covered": ("modes covered", False),
}
LIKELIHOOD_KEYS = ("bits_per_dim", "nll_nats")


# -- reading a run ------------------------------------------------------------------


def read_evals(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete line of ``evals.jsonl`` (a partly written last line is skipped)."""
    path = Path(run_dir) / EVALS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    end = data.rfind(b"\n")
    for line in data[: end + 1].splitlines():
        if line.strip():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict):
                out.append(rec)
    return out


def append_eval(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one evaluation as a JSON line (what ``evaluate_run(save=True)`` does)."""
    rec = dict(record)
    rec.setdefault("time", time.time())
    with open(Path(run_dir) / EVALS_FILE, "a") as f:
        f.write(json.dumps(_jsonable(rec)) + "\n")
        f.flush()


def _jsonable(rec: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in rec.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None  # JSON has no NaN; missing reads the same as "not computed"
        out[k] = v
    return out


def as_number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def is_sweep(rec: dict[str, Any]) -> bool:
    return rec.get("sweep") == "nfe"


def metric_values(record: dict[str, Any], skip: set[str]) -> dict[str, float]:
    """Numeric entries of a record under their canonical names (floors included)."""
    out: dict[str, float] = {}
    for k, v in record.items():
        if k in skip:
            continue
        x = as_number(v)
        if x is None:
            continue
        name = ALIASES.get(k, k)
        if k in ALIASES and name in record:
            continue  # both spellings present: keep the canonical one
        out[name] = x
    return out


@dataclass
class RunRow:
    """What the compare table shows of one run."""

    path: Path
    name: str
    model: str = "?"
    dataset: str = "?"
    status: str = "?"
    family: str = ""
    step: int | None = None
    total_steps: int | None = None
    wall_time_s: float | None = None
    device: str = ""
    num_params: int | None = None
    created: float = 0.0
    capabilities: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    source: str = ""  # "eval" | "val" | ""
    source_step: int | None = None
    source_detail: str = ""
    likelihood: str | None = None  # "exact" | "bound"
    likelihood_data: str | None = None  # "8-bit" | "binarised" | ... (core.capabilities.LIKELIHOOD_DATA)
    sampling_seconds: float | None = None
    nfe: float | None = None
    grid: Path | None = None
    error: str = ""

    @property
    def is_diffusion(self) -> bool:
        return "Denoiser" in self.capabilities or self.family == "diffusion"

    def source_text(self) -> str:
        if self.source == "eval":
            return f"eval @ {self.source_step:,}" if self.source_step is not None else "eval"
        if self.source == "val":
            return f"training log @ {self.source_step:,}" if self.source_step is not None else "training log"
        return ""


def _likelihood_of_model(model_id: str) -> str | None:
    """exact/bound from the model class (for runs with bits/dim logged but never evaluated)."""
    try:
        from genstudio.core.registry import get_model_class

        cls = get_model_class(model_id)
    except Exception:  # noqa: BLE001 - an unknown or broken model id only loses the label
        return None
    exact = getattr(cls, "exact_likelihood", None)
    if exact is None:
        return None
    return "exact" if exact else "bound"


class RowCache:
    """Rows of run folders, re-read only when a file they come from changed.

    Polled every couple of seconds; a call that finds nothing changed costs a
    few ``stat`` calls per run. ``metrics.jsonl`` is read incrementally from
    the last offset, keeping only the newest validation record.
    """

    def __init__(self) -> None:
        self._rows: dict[str, tuple[tuple, RunRow]] = {}
        self._val: dict[str, tuple[int, dict[str, Any] | None]] = {}  # path -> (offset, last val record)
        self._likelihood: dict[str, str | None] = {}

    def row(self, run: RunFolder) -> RunRow:
        key = str(run.path)
        sig = _signature(run)
        cached = self._rows.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1]
        row = self._collect(run)
        self._rows[key] = (sig, row)
        return row

    def rows(self, runs: Iterable[RunFolder]) -> list[RunRow]:
        return [self.row(r) for r in runs]

    def _last_val(self, run: RunFolder) -> dict[str, Any] | None:
        key = str(run.path)
        offset, last = self._val.get(key, (0, None))
        try:
            size = run.metrics_path.stat().st_size
        except OSError:
            size = 0
        if size < offset:
            offset, last = 0, None  # truncated (a resumed run): read again
        records, offset = run.read_metrics(offset)
        for r in records:
            if r.get("split") == "val":
                last = r
        self._val[key] = (offset, last)
        return last

    def _collect(self, run: RunFolder) -> RunRow:
        row = RunRow(path=run.path, name=run.path.name)
        try:
            meta = run.meta
        except RunError as e:
            row.status, row.error = "unreadable", str(e)
            return row
        row.model = str(meta.get("model", "?"))
        row.dataset = str(meta.get("dataset", "?"))
        row.status = str(meta.get("status", "?"))
        row.family = str(meta.get("family", ""))
        row.step = as_int(meta.get("step"))
        row.total_steps = as_int(meta.get("total_steps"))
        row.wall_time_s = as_number(meta.get("wall_time_s"))
        if row.status in LIVE:
            # meta.json of a live run is written at checkpoints and pauses: the metrics log is newer.
            live = last_progress(run.metrics_path)
            if live is not None and live[0] >= (row.step or 0):
                row.step, row.wall_time_s = live
        row.device = str(meta.get("device", ""))
        row.num_params = as_int(meta.get("num_params"))
        row.created = as_number(meta.get("created")) or 0.0
        row.capabilities = [str(c) for c in meta.get("capabilities") or []]
        if row.status == "failed" and meta.get("message"):
            row.error = str(meta["message"])
        grids = run.sample_grids()
        # A run killed and resumed from an earlier checkpoint leaves grids past its step: not its samples.
        current = [p for s, p in grids if row.step is None or s <= row.step]
        row.grid = current[-1] if current else (grids[-1][1] if grids else None)

        evals = [r for r in read_evals(run.path) if not is_sweep(r)]
        if evals:
            rec = evals[-1]
            row.metrics = metric_values(rec, DESCRIPTIVE_KEYS)
            row.source, row.source_step = "eval", as_int(rec.get("checkpoint_step"))
            parts = [f"n={rec['n']}" if "n" in rec else "", f"sampler {rec['sampler']}" if rec.get("sampler") else "",
                     f"temperature {rec['temperature']}" if rec.get("temperature") is not None else "", str(rec.get("features") or "")]
            when = as_number(rec.get("time"))
            if when:
                parts.append(time.strftime("%Y-%m-%d %H:%M", time.localtime(when)))
            row.source_detail = "; ".join(p for p in parts if p)
            row.likelihood = rec.get("likelihood") if rec.get("likelihood") in ("exact", "bound") else None
            row.likelihood_data = rec.get("likelihood_data") if isinstance(rec.get("likelihood_data"), str) else None
            row.sampling_seconds = as_number(rec.get("sampling_seconds"))
            row.nfe = as_number(rec.get("nfe"))
        else:
            val = self._last_val(run)
            if val is not None:
                row.metrics = metric_values(val, LOG_KEYS)
                row.source, row.source_step = "val", as_int(val.get("step"))
                row.source_detail = "validation metrics logged during training (no evaluation yet)"
        if row.likelihood is None and any(k in row.metrics for k in LIKELIHOOD_KEYS):
            if row.model not in self._likelihood:
                self._likelihood[row.model] = _likelihood_of_model(row.model)
            row.likelihood = self._likelihood[row.model] or ("bound" if row.is_diffusion else None)
        return row


def _signature(run: RunFolder) -> tuple:
    """What changes when a row may have: sizes and mtimes of the files it reads."""
    out = []
    for p in (run.meta_path, run.metrics_path, run.path / EVALS_FILE, run.samples_dir):
        try:
            st = p.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def as_int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def find_runs(roots: Iterable[str | Path]) -> list[RunFolder]:
    """Run folders under each root (a root may itself be a run folder), each once, newest first."""
    seen: dict[str, RunFolder] = {}
    for root in roots:
        root = Path(root)
        found = [RunFolder(root)] if (root / "meta.json").is_file() else list_runs(root)
        for r in found:
            seen.setdefault(str(r.path.resolve()), r)

    def created(r: RunFolder) -> float:
        try:
            return float(r.meta.get("created", 0))
        except (RunError, TypeError, ValueError):
            return 0.0

    return sorted(seen.values(), key=created, reverse=True)


# -- columns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # an attribute of RunRow, or "metric:<name>"
    label: str
    numeric: bool = False
    floor: str | None = None  # metric name of the floor shown beside this metric

    @property
    def metric(self) -> str | None:
        return self.key[7:] if self.key.startswith("metric:") else None


FIXED_COLUMNS = [
    Column("name", "run"),
    Column("model", "model"),
    Column("dataset", "dataset"),
    Column("status", "status"),
    Column("step", "steps", numeric=True),
    Column("wall_time_s", "wall time", numeric=True),
    Column("device", "device"),
    Column("num_params", "params", numeric=True),
    Column("source", "metrics from"),
]
TAIL_COLUMNS = [Column("sampling_seconds", "sampling s", numeric=True), Column("nfe", "NFE", numeric=True)]


def metric_label(name: str) -> str:
    return KNOWN.get(name, (name, True))[0]


def build_columns(rows: Iterable[RunRow]) -> list[Column]:
    """Fixed columns, then one per metric in the union of the rows' metrics (floors folded in), then sampling."""
    names: set[str] = set()
    for r in rows:
        names.update(r.metrics)
    refs = {n: reference_of(n) for n in names}
    refs = {n: base for n, base in refs.items() if base is not None and base in names}
    metrics = sorted(names - set(refs), key=lambda n: (list(KNOWN).index(n) if n in KNOWN else len(KNOWN), n))
    cols = list(FIXED_COLUMNS)
    for n in metrics:
        floor = next((r for r, base in sorted(refs.items()) if base == n), None)
        cols.append(Column(f"metric:{n}", metric_label(n), numeric=True, floor=floor))
    return cols + TAIL_COLUMNS


def reference_of(name: str) -> str | None:
    """``fid_floor`` -> ``fid``: the metric a reference value belongs to (None for a metric)."""
    for suffix in REFERENCE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


def reference_label(name: str) -> str:
    for suffix, label in REFERENCE_SUFFIXES.items():
        if name.endswith(suffix):
            return label
    return "floor"


def raw_value(row: RunRow, col: Column) -> float | str | None:
    """The value a column sorts by and exports: a number, a string, or None when missing."""
    m = col.metric
    if m is not None:
        return row.metrics.get(m)
    if col.key == "source":
        return row.source_text()
    v = getattr(row, col.key)
    if col.numeric:
        return v if isinstance(v, int) and not isinstance(v, bool) else as_number(v)
    return "" if v is None else str(v)


def format_number(v: float | None) -> str:
    if v is None:
        return ""
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3g}" if a < 1 else f"{v:.3f}".rstrip("0").rstrip(".")
    return f"{v:.2e}"


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def likelihood_mix_warning(rows: list[RunRow]) -> str:
    """A warning when ``rows`` hold likelihoods of different data (8-bit and binarised, ...), else ""."""
    counts: dict[str, int] = {}
    for r in rows:
        if r.likelihood_data and any(k in r.metrics for k in LIKELIHOOD_KEYS):
            counts[r.likelihood_data] = counts.get(r.likelihood_data, 0) + 1
    if len(counts) < 2:
        return ""
    kinds = ", ".join(f"{k} ({n})" for k, n in sorted(counts.items()))
    return f"These bits/dim are likelihoods of different data: {kinds}. Rank runs only within one kind."


def display_text(row: RunRow, col: Column) -> str:
    """The cell text: floors beside their metric, exact/bound beside a likelihood."""
    v = raw_value(row, col)
    m = col.metric
    if m is not None:
        if v is None:
            return ""
        text = format_number(v)
        if col.floor and row.metrics.get(col.floor) is not None:
            text += f" ({reference_label(col.floor)} {format_number(row.metrics[col.floor])})"
        if m in LIKELIHOOD_KEYS and row.likelihood:
            text += f" ({row.likelihood}; {row.likelihood_data})" if row.likelihood_data else f" ({row.likelihood})"
        return text
    if col.key == "step":
        if row.step is None:
            return ""
        return f"{row.step:,} / {row.total_steps:,}" if row.total_steps else f"{row.step:,}"
    if col.key == "wall_time_s":
        return format_duration(row.wall_time_s)
    if col.key == "num_params":
        n = row.num_params
        if n is None:
            return ""
        return f"{n / 1e6:.2f} M" if n >= 1e6 else (f"{n / 1e3:.1f} k" if n >= 1e3 else str(n))
    if col.key == "sampling_seconds":
        return format_number(row.sampling_seconds)
    if col.key == "nfe":
        return "" if row.nfe is None else f"{int(row.nfe):,}"
    return "" if v is None else str(v)


# -- CSV ---------------------------------------------------------------------------------


def csv_table(rows: list[RunRow], columns: list[Column]) -> tuple[list[str], list[list[str]]]:
    """Header and cells for CSV: raw numbers at full precision, each floor in a column of its own."""
    header: list[str] = []
    for c in columns:
        header.append(c.label)
        if c.floor:
            header.append(f"{c.label} {reference_label(c.floor)}")
        if c.metric in LIKELIHOOD_KEYS:
            header.append(f"{c.label} likelihood")
            header.append(f"{c.label} of")
    body = []
    for r in rows:
        cells: list[str] = []
        for c in columns:
            v = raw_value(r, c)
            cells.append("" if v is None else (repr(v) if isinstance(v, float) else str(v)))
            if c.floor:
                f = r.metrics.get(c.floor)
                cells.append("" if f is None else repr(f))
            if c.metric in LIKELIHOOD_KEYS:
                cells.append((r.likelihood or "") if v is not None else "")
                cells.append((r.likelihood_data or "") if v is not None else "")
        body.append(cells)
    return header, body


def write_csv(path: str | Path, rows: list[RunRow], columns: list[Column]) -> Path:
    """Write the table to ``path`` (UTF-8, one header line); returns the path."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"'{path}' is a folder; give a file name such as runs.csv")
    header, body = csv_table(rows, columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body)
    return path


Evaluator = Callable[..., dict]


def evaluate_and_save(
    run_dir: str | Path, n: int, device: str = "auto", evaluator: Evaluator | None = None, should_stop: Callable[[], bool] | None = None
) -> dict:
    """Evaluate a run's latest checkpoint with its default sampler; ``evaluate_run`` saves it to evals.jsonl.

    ``should_stop`` is passed on, so the evaluation can be cancelled between batches.
    """
    evaluator = evaluator or default_evaluator()
    return evaluator(run_dir, n=n, checkpoint=None, device=device, save=True, should_stop=should_stop)


def default_evaluator() -> Evaluator:
    from genstudio.metrics.evaluate import evaluate_run  # imported when used: it loads torch models and the feature network

    return evaluate_run
