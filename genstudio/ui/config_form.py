"""A form generated from a config dataclass's ``ParamSpec`` list.

The dataclass is the single source of truth: the editor kind, range, choices,
help tooltip and validation all come from ``specs()`` and ``coerce()``. A bad
value is never clamped or dropped: the field turns red, shows the
``ConfigError`` message under itself, and ``is_valid()`` is False until fixed.

A field declared with ``kind="run"`` (the path of a run folder, e.g. the
autoencoder of ``ldm``) is a combo of the finished runs under the runs root
whose model it accepts and whose data has the current dataset's shape, plus
"Browse…" for any folder; the chosen run is checked on disk (model, a
checkpoint, the data shape) and the reason shown when it does not fit
(those checks live in :mod:`genstudio.ui.run_field`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core.config import ConfigError, ParamSpec, coerce, specs

from .run_field import BROWSE, RunCombo, RunContext, run_choices, run_problem, shape_text

INVALID_STYLE = "border: 1px solid #d64541; background: rgba(214, 69, 65, 40);"
#: A label an alarm points at ("try fewer d_steps"): marked until the form is rebuilt.
REVEALED_STYLE = "background: rgba(240, 180, 40, 90); font-weight: bold; border-radius: 2px;"
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

    def __init__(self, spec: ParamSpec, on_change, context: RunContext | None = None):
        self.spec = spec
        self.context = context or RunContext()
        self._run_value = ""
        self._on_change = on_change
        self.error: str | None = None
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d64541;")
        self.error_label.hide()
        t = spec.type
        if spec.kind == "run":
            w = RunCombo()
            w.setMinimumContentsLength(24)
            w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            w.aboutToShow.connect(self.refresh_runs)
            w.activated.connect(self._on_run_activated)
        elif t is bool:
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
        if spec.kind == "run":
            self.refresh_runs()
        self.set(spec.default)

    # -- run fields ------------------------------------------------------------------
    def refresh_runs(self) -> None:
        """Rebuild a run combo from the runs folder, keeping the chosen run (listed even when it does not fit)."""
        w = self.widget
        value = self._run_value
        w.blockSignals(True)
        w.clear()
        w.addItem("(choose a run)", "")
        for c in run_choices(self.context.root, self.spec.accepts, self.context.shape):
            w.addItem(c.label, c.path)
            w.setItemData(w.count() - 1, f"{c.path}\n{c.model} on {c.dataset} ({shape_text(c.shape)}), {c.status}, checkpoint at step {c.step:,}", Qt.ItemDataRole.ToolTipRole)
        if value and w.findData(value) < 0:
            w.addItem(value, value)
        w.addItem("Browse…", BROWSE)
        w.setItemData(w.count() - 1, "Choose any run folder on disk", Qt.ItemDataRole.ToolTipRole)
        w.setCurrentIndex(max(0, w.findData(value)))
        w.blockSignals(False)

    def _on_run_activated(self, index: int) -> None:
        w = self.widget
        if w.itemData(index) != BROWSE:
            self.set(w.itemData(index) or "")
            self._on_change()
            return
        start = str(self.context.root) if self.context.root is not None else ""
        path = QFileDialog.getExistingDirectory(w, f"Choose a run folder for {humanize(self.spec.name)}", start)
        self.set(path if path else self._run_value)  # cancelled: back to the previous choice
        self._on_change()

    def set(self, value: Any) -> None:
        w = self.widget
        if self.spec.kind == "run":
            self._run_value = str(value or "")
            w.blockSignals(True)
            i = w.findData(self._run_value)
            if i < 0:
                w.insertItem(w.count() - 1, self._run_value, self._run_value)
                i = w.count() - 2
            w.setCurrentIndex(i)
            w.blockSignals(False)
            return
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
        if self.spec.kind == "run":
            return self._run_value
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
        problem = run_problem(self.spec, value, self.context) if self.spec.kind == "run" else None
        self._show_error(problem)
        return None if problem else value

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
        self.labels: dict[str, QLabel] = {}
        self.advanced: set[str] = set()
        self._valid = True
        self.run_context = RunContext()
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
        self.labels = {}
        self.advanced = set()
        self._explicit: set[str] = set()  # fields set_values set (not following the defaults)
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
            field = ConfigField(s, self._on_change, self.run_context)
            self.fields[s.name] = field
            label = QLabel(humanize(s.name))
            label.setToolTip(field.tooltip)
            self.labels[s.name] = label
            is_basic = (s.name in basic_set) if basic_set is not None else not s.advanced
            if not is_basic:
                self.advanced.add(s.name)
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

    def set_run_context(self, context: RunContext) -> None:
        """The runs folder and the dataset that run fields list and check runs against."""
        if context == self.run_context:
            return
        self.run_context = context
        for f in self.fields.values():
            if f.spec.kind == "run":
                f.context = context
                f.refresh_runs()
        self._on_change()

    def run_fields(self) -> list[str]:
        return [name for name, f in self.fields.items() if f.spec.kind == "run"]

    def reveal(self, names: Iterable[str]) -> None:
        """Show the named fields (unfolding "More settings" when one is there) and mark their labels."""
        names = [n for n in names if n in self.fields]
        if any(n in self.advanced for n in names):
            self.advanced_toggle.setChecked(True)
        for n in names:
            self.labels[n].setStyleSheet(REVEALED_STYLE)
            self.labels[n].setToolTip(f"An alarm suggests changing this setting.\n\n{self.fields[n].tooltip}")

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
                self._explicit.add(name)  # set on purpose: a change of defaults leaves it
        self._on_change()

    def reset(self) -> None:
        for f in self.fields.values():
            f.set(f.spec.default)
        self._explicit.clear()
        self._on_change()

    def forget_set_values(self) -> None:
        """Let every field that shows its default follow the next ``set_defaults`` (another model was chosen)."""
        self._explicit.clear()

    def set_defaults(self, defaults: dict[str, Any]) -> None:
        """Make ``defaults`` the fields' defaults (a model's own run defaults), the dataclass's for the rest.

        A field that shows its old default shows the new one; a value set on
        purpose (``set_values``: a preset, an opened run's settings) or typed
        stays. ``reset`` and ``changed_values`` use the new defaults.
        """
        declared = {s.name: s.default for s in specs(self.config_class)} if self.config_class is not None else {}
        for name, f in self.fields.items():
            new = defaults.get(name, declared.get(name, f.spec.default))
            if new == f.spec.default:
                continue
            showing_default = name not in self._explicit and f.validate() == f.spec.default and f.error is None
            f.spec = replace(f.spec, default=new)
            f.tooltip = f.tooltip.rsplit("\ndefault: ", 1)[0] + f"\ndefault: {format_value(f.spec, new)}"
            f.widget.setToolTip(f.tooltip)
            if name in self.labels:
                self.labels[name].setToolTip(f.tooltip)
            if showing_default:
                f.set(new)
        self._on_change()
