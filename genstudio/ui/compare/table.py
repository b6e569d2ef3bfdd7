"""The compare table: one row per run (its newest evaluation or last validation), sorted and filtered."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from genstudio.core.capabilities import LIKELIHOOD_DATA
from genstudio.metrics import compare as cmp
from genstudio.metrics.compare import Column, RunRow

from ..curves_view import PALETTE
from ..runs_browser import STATUS_COLORS, run_problems


SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole
ALL = "all"


def run_color(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


# -- the table ------------------------------------------------------------------------------


class RunTableModel(QAbstractTableModel):
    """Rows of :class:`RunRow` under :class:`Column` s, plus a UI-only "evaluation" column."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.rows: list[RunRow] = []
        self.columns: list[Column] = list(cmp.FIXED_COLUMNS) + list(cmp.TAIL_COLUMNS)
        self.eval_state: dict[str, tuple[str, str, str]] = {}  # path -> (state, text, details)
        self.problems: dict[str, list[str]] = {}  # path -> what is wrong with the folder (runs_browser.run_problems)

    @property
    def eval_column(self) -> int:
        return len(self.columns)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.columns) + 1

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return "evaluation" if section == self.eval_column else self.columns[section].label
        if role == Qt.ItemDataRole.ToolTipRole and section < len(self.columns):
            c = self.columns[section]
            if c.metric in cmp.LIKELIHOOD_KEYS:
                return ("Likelihood: 'exact' for flows and autoregressive models, 'bound' for a VAE's importance-weighted bound or DDPM's variational bound; "
                        "then what it is a likelihood of (8-bit, binarised, ...). Only rows with the same 'of' can be ranked against each other")
            if c.floor:
                return f"{c.label}; the floor beside it is real data against held-out real data at the same n (what a perfect model would score)"
            if c.key == "source":
                return "Where the metrics come from: an evaluation (evals.jsonl) or, before any, the last validation record of training"
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        c = index.column()
        key = str(row.path)
        if role == PATH_ROLE:
            return key
        if c == self.eval_column:
            state = self.eval_state.get(key)
            problems = self.problems.get(key) or []
            if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
                if state is not None:
                    return state[1]
                if row.error:
                    return f"run failed: {row.error}"
                return f"damaged: {problems[0]}" if problems else ""
            if role == Qt.ItemDataRole.ToolTipRole:
                if state is not None:
                    return state[2] or state[1]
                return "\n".join(([row.error] if row.error else []) + problems) or None
            if role == Qt.ItemDataRole.ForegroundRole and ((state and state[0] == "error") or (state is None and (row.error or problems))):
                return QColor(STATUS_COLORS["failed"])
            return None
        col = self.columns[c]
        if role == Qt.ItemDataRole.DisplayRole:
            return cmp.display_text(row, col)
        if role == SORT_ROLE:
            return cmp.raw_value(row, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col.key == "source":
                return row.source_detail or None
            if col.key == "name":
                return str(row.path)
            if col.metric in cmp.LIKELIHOOD_KEYS and row.likelihood_data:
                return f"a likelihood of {LIKELIHOOD_DATA.get(row.likelihood_data, row.likelihood_data)}"
            return None
        if role == Qt.ItemDataRole.ForegroundRole and col.key == "status":
            return QColor(STATUS_COLORS.get(row.status, "#888888"))
        if role == Qt.ItemDataRole.TextAlignmentRole and col.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_rows(self, rows: list[RunRow], columns: list[Column]) -> bool:
        """Show ``rows``; returns True when the model was reset (the caller restores the selection)."""
        same_shape = columns == self.columns and [r.path for r in rows] == [r.path for r in self.rows]
        if same_shape:
            changed = [i for i, (a, b) in enumerate(zip(self.rows, rows)) if a is not b and a != b]
            self.rows = rows
            for i in changed:
                self.dataChanged.emit(self.index(i, 0), self.index(i, self.columnCount() - 1))
            return False
        self.beginResetModel()
        self.rows, self.columns = rows, columns
        self.endResetModel()
        return True

    def set_eval_state(self, path: str, state: str | None, text: str = "", details: str = "") -> None:
        if state is None:
            self.eval_state.pop(path, None)
        else:
            self.eval_state[path] = (state, text, details)
        for i, r in enumerate(self.rows):
            if str(r.path) == path:
                self.dataChanged.emit(self.index(i, self.eval_column), self.index(i, self.eval_column))

    def row_of(self, path: str) -> RunRow | None:
        for r in self.rows:
            if str(r.path) == path:
                return r
        return None


def _missing(v: Any) -> bool:
    return v is None or v == "" or (isinstance(v, float) and math.isnan(v))


class RunFilterProxy(QSortFilterProxyModel):
    """Numeric sort with missing values last in both orders; text, dataset, model and likelihood filters."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.text = ""
        self.dataset = ALL
        self.model = ALL
        self.likelihood_only = False
        self._order = Qt.SortOrder.AscendingOrder

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        self._order = order
        super().sort(column, order)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        a, b = left.data(SORT_ROLE), right.data(SORT_ROLE)
        ma, mb = _missing(a), _missing(b)
        if ma or mb:
            # Qt reverses the comparison for a descending sort; answer so missing stays at the bottom.
            if ma and mb:
                return False
            return mb if self._order == Qt.SortOrder.AscendingOrder else ma
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return str(a).lower() < str(b).lower()

    def set_filters(self, text: str | None = None, dataset: str | None = None, model: str | None = None, likelihood_only: bool | None = None) -> None:
        self.beginFilterChange()
        if text is not None:
            self.text = text.strip().lower()
        if dataset is not None:
            self.dataset = dataset
        if model is not None:
            self.model = model
        if likelihood_only is not None:
            self.likelihood_only = likelihood_only
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        m: RunTableModel = self.sourceModel()
        row = m.rows[source_row]
        if self.dataset != ALL and row.dataset != self.dataset:
            return False
        if self.model != ALL and row.model != self.model:
            return False
        if self.likelihood_only and not any(k in row.metrics for k in cmp.LIKELIHOOD_KEYS):
            return False
        if self.text:
            hay = " ".join((row.name, row.model, row.dataset, row.status, row.device, row.family)).lower()
            return all(word in hay for word in self.text.split())
        return True
