"""The history of a run's metrics, kept as growing numpy arrays, plus EMA smoothing.

Plain Python (no Qt): the curve view reads arrays from here on a timer, so
thousands of metric events cost appends, not redraws.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter


class Series:
    """Steps and values of one metric on one split; amortised O(1) append."""

    __slots__ = ("_steps", "_values", "n", "version")

    def __init__(self, capacity: int = 1024):
        self._steps = np.empty(capacity, np.float64)
        self._values = np.empty(capacity, np.float64)
        self.n = 0
        self.version = 0  # bumped on every change, so views redraw only what changed

    def append(self, step: float, value: float) -> None:
        if self.n == len(self._steps):
            self._steps = np.resize(self._steps, 2 * self.n)
            self._values = np.resize(self._values, 2 * self.n)
        self._steps[self.n] = step
        self._values[self.n] = value
        self.n += 1
        self.version += 1

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        k = len(steps)
        need = self.n + k
        if need > len(self._steps):
            cap = max(need, 2 * len(self._steps))
            self._steps = np.resize(self._steps, cap)
            self._values = np.resize(self._values, cap)
        self._steps[self.n : need] = steps
        self._values[self.n : need] = values
        self.n = need
        self.version += 1

    @property
    def steps(self) -> np.ndarray:
        return self._steps[: self.n]

    @property
    def values(self) -> np.ndarray:
        return self._values[: self.n]


class MetricStore:
    """All metrics of one run: ``{(name, split): Series}``."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, str], Series] = {}
        self.last_step = 0

    def clear(self) -> None:
        self.series.clear()
        self.last_step = 0

    def add(self, step: int, values: dict[str, float], split: str = "train") -> None:
        for name, v in values.items():
            try:
                v = float(v)
            except (TypeError, ValueError):
                continue  # a non-numeric entry (e.g. a note) has no curve
            s = self.series.get((name, split))
            if s is None:
                s = self.series[(name, split)] = Series()
            s.append(step, v)
        self.last_step = max(self.last_step, step)

    def add_record(self, record: dict) -> None:
        """A line of metrics.jsonl: step, split, elapsed_s and the values."""
        skip = {"step", "split", "elapsed_s", "time", "steps_per_s", "eta_s", "wall_time_s"}
        values = {k: v for k, v in record.items() if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}
        self.add(int(record.get("step", 0)), values, record.get("split", "train"))

    def names(self) -> list[str]:
        seen: dict[str, None] = {}
        for name, _ in self.series:
            seen.setdefault(name, None)
        return list(seen)

    def get(self, name: str, split: str = "train") -> Series | None:
        return self.series.get((name, split))


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average, starting from the first value (``weight`` 0 = no smoothing).

    Non-finite values are carried through as gaps (NaN) without poisoning what follows.
    """
    v = np.asarray(values, np.float64)
    if weight <= 0 or len(v) == 0:
        return v
    finite = np.isfinite(v)
    if not finite.all():
        out = np.full_like(v, np.nan)
        if finite.any():
            out[finite] = ema(v[finite], weight)
        return out
    a = float(weight)
    y, _ = lfilter([1.0 - a], [1.0, -a], v, zi=[a * v[0]])
    return y


def ema_continue(values: np.ndarray, weight: float, last: float) -> np.ndarray:
    """The EMA of ``values`` appended to a series whose smoothed value so far is ``last``."""
    v = np.asarray(values, np.float64)
    if len(v) == 0:
        return v
    if not np.isfinite(last) or not np.isfinite(v).all():
        return ema(v, weight) if np.isfinite(v).all() else np.full_like(v, np.nan)
    a = float(weight)
    y, _ = lfilter([1.0 - a], [1.0, -a], v, zi=[a * last])
    return y


def nearest_index(steps: np.ndarray, x: float) -> int | None:
    """Index of the step closest to ``x`` in a sorted array (for the hover readout)."""
    n = len(steps)
    if n == 0 or not math.isfinite(x):
        return None
    i = int(np.searchsorted(steps, x))
    if i <= 0:
        return 0
    if i >= n:
        return n - 1
    return i if abs(steps[i] - x) < abs(steps[i - 1] - x) else i - 1
