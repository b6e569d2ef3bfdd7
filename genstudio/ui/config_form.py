"""A form generated from a config dataclass's ``ParamSpec`` list.

The dataclass is the single source of truth: the editor kind, range, choices,
help tooltip and validation all come from ``specs()`` and ``coerce()``. A bad
value is never clamped or dropped: the field turns red, shows the
``ConfigError`` message under itself, and ``is_valid()`` is False until fixed.
"""

from __future__ import annotations

from typing import Any, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.config import ConfigError, ParamSpec, coerce, specs

INVALID_STYLE = "border: 1px solid #d64541; background: rgba(214, 69, 65, 40);"
INT_LIMIT = 2**31 - 1


def format_value(spec: ParamSpec, value: Any) -> str:
    """Text shown in a line edit: scientific notation for log-scaled floats."""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if spec.type is float:
        value = float(value)
        if spec.log or (value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5)):
            return f"{value:.3g}" if "e" in f"{value:.3g}" else f"{value:.2e}"
        return f"{value:g}"
    return str(value)


def humanize(name: str) -> str:
    return name.replace("_", " ")


def describe_range(spec: ParamSpec) -> str:
    parts = []
    if spec.choices is not None:
        parts.append("one of " + ", ".join(str(c) for c in spec.choices))
    if spec.min is not None and spec.max is not None:
        parts.append(f"from {spec.min:g} to {spec.max:g}")
    elif spec.min is not None:
        parts.append(f"at least {spec.min:g}")
    elif spec.max is not None:
        parts.append(f"at most {spec.max:g}")
    if spec.log:
        parts.append("log scale, e.g. 2e-4")
    return "; ".join(parts)


class ConfigField:
    """One editor plus its error label; reads and checks its value through ``coerce``."""

    def __init__(self, spec: ParamSpec, on_change):
        self.spec = spec
        self.error: str | None = None
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d64541;")
        self.error_label.hide()
        t = spec.type
        if t is bool:
            w = QCheckBox()
            w.toggled.connect(on_change)
        elif spec.choices is not None:
            w = QComboBox()
            for c in spec.choices:
                w.addItem(str(c), c)
            w.currentIndexChanged.connect(on_change)
        elif t is int:
            # The spin box's own range is wide on purpose: an out-of-range
            # value is shown as an error with its reason, not silently clamped.
            w = QSpinBox()
            w.setRange(-INT_LIMIT, INT_LIMIT)
            w.setKeyboardTracking(True)
            w.setAccelerated(True)
            w.textChanged.connect(on_change)
        else:
            w = QLineEdit()
            w.textChanged.connect(on_change)
        self.widget = w
        rng = describe_range(spec)
        tip = spec.help + (f"\n({rng})" if rng else "") + f"\ndefault: {format_value(spec, spec.default)}"
        self.tooltip = tip
        w.setToolTip(tip)
        w.setObjectName(f"field_{spec.name}")
        self.set(spec.default)

    def set(self, value: Any) -> None:
        w, t = self.widget, self.spec.type
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QComboBox):
            i = w.findData(value)
            if i < 0:
                i = w.findText(str(value))
            w.setCurrentIndex(max(i, 0))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        else:
            w.setText(format_value(self.spec, value))

    def raw(self) -> Any:
        w = self.widget
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentData()
        if isinstance(w, QSpinBox):
            return w.cleanText()
        return w.text()

    def validate(self) -> Any:
        """The coerced value; records (and shows) the error and returns None when invalid."""
        try:
            value = coerce(self.spec, self.raw())
        except ConfigError as e:
            self._show_error(str(e))
            return None
        self._show_error(None)
        return value

    def _show_error(self, message: str | None) -> None:
        if message == self.error:
            return
        self.error = message
        if message:
            self.widget.setStyleSheet(INVALID_STYLE)
            self.widget.setToolTip(f"{message}\n\n{self.tooltip}")
            self.error_label.setText(message)
            self.error_label.show()
        else:
            self.widget.setStyleSheet("")
            self.widget.setToolTip(self.tooltip)
            self.error_label.hide()


class ConfigForm(QWidget):
    """Editors for a config dataclass; advanced fields fold under a "More settings" toggle.

    ``include`` limits the form to some fields; ``basic`` overrides which
    fields show without unfolding (default: those not marked advanced).
    """

    changed = Signal()
    validityChanged = Signal(bool)

    def __init__(
        self,
        config_class: type | None = None,
        parent: QWidget | None = None,
        include: Iterable[str] | None = None,
        basic: Iterable[str] | None = None,
    ):
        super().__init__(parent)
        self.fields: dict[str, ConfigField] = {}
        self._valid = True
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._body: QWidget | None = None
        self.set_config_class(config_class, include=include, basic=basic)

    # -- building ----------------------------------------------------------------
    def set_config_class(self, config_class: type | None, include: Iterable[str] | None = None, basic: Iterable[str] | None = None) -> None:
        if self._body is not None:
            # Hide and delete in place: reparenting to None would turn it into a visible top-level window.
            self._layout.removeWidget(self._body)
            self._body.hide()
            self._body.deleteLater()
        self.fields = {}
        self.config_class = config_class
        body = QWidget(self)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(0, 0, 0, 0)
        main_form, adv_form = QFormLayout(), QFormLayout()
        for f in (main_form, adv_form):
            f.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
            f.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        adv_box = QWidget()
        adv_box.setLayout(adv_form)
        all_specs = specs(config_class) if config_class is not None else []
        wanted = set(include) if include is not None else None
        basic_set = set(basic) if basic is not None else None
        n_adv = 0
        for s in all_specs:
            if wanted is not None and s.name not in wanted:
                continue
            field = ConfigField(s, self._on_change)
            self.fields[s.name] = field
            label = QLabel(humanize(s.name))
            label.setToolTip(field.tooltip)
            is_basic = (s.name in basic_set) if basic_set is not None else not s.advanced
            form = main_form if is_basic else adv_form
            form.addRow(label, field.widget)
            form.addRow("", field.error_label)
            n_adv += not is_basic
        lay.addLayout(main_form)
        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText(f"More settings ({n_adv})")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setAutoRaise(True)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)
        self.advanced_toggle.setVisible(n_adv > 0)
        lay.addWidget(self.advanced_toggle)
        adv_box.setVisible(False)
        lay.addWidget(adv_box)
        self._advanced_box = adv_box
        self._body = body
        self._layout.addWidget(body)
        self._on_change()

    def _toggle_advanced(self, on: bool) -> None:
        self._advanced_box.setVisible(on)
        self.advanced_toggle.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)

    # -- values ------------------------------------------------------------------
    def _on_change(self, *_: Any) -> None:
        for f in self.fields.values():
            f.validate()
        valid = not self.errors()
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)
        self.changed.emit()

    def is_valid(self) -> bool:
        return self._valid

    def errors(self) -> dict[str, str]:
        return {name: f.error for name, f in self.fields.items() if f.error}

    def values(self) -> dict[str, Any]:
        """Coerced values of the valid fields."""
        out = {}
        for name, f in self.fields.items():
            v = f.validate()
            if f.error is None:
                out[name] = v
        return out

    def changed_values(self) -> dict[str, Any]:
        """Only the values that differ from the dataclass defaults (what a preset stores)."""
        return {k: v for k, v in self.values().items() if v != self.fields[k].spec.default}

    def set_values(self, values: dict[str, Any]) -> None:
        """Set fields by name; unknown names are ignored (a preset for another version)."""
        for name, v in values.items():
            if name in self.fields:
                self.fields[name].set(v)
        self._on_change()

    def reset(self) -> None:
        for f in self.fields.values():
            f.set(f.spec.default)
        self._on_change()
