"""The model panel: family, model, its generated hyperparameter form, run settings, presets."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from genstudio.core import registry
from genstudio.core.config import specs
from genstudio.core.recipes import Recipe, flagship, load_recipes
from genstudio.core.resources import resource_path
from genstudio.core.spec import RunConfig, model_run_defaults

from .config_form import ConfigForm, humanize
from .run_field import RunContext

PRESET_DIR = resource_path("presets")  # package data: found in a checkout, a wheel or a frozen app
RUN_BASIC = ("steps", "batch_size", "seed", "device")
RUN_HIDDEN = ("model", "dataset")
FAMILY_TITLES = {
    "autoregressive": "Autoregressive",
    "autoencoder": "Autoencoders",
    "adversarial": "Adversarial (GANs)",
    "flow": "Normalizing flows",
    "diffusion": "Diffusion",
}


def builtin_presets(model_id: str, dataset_id: str, kind: str | None) -> dict[str, dict]:
    """Presets for this model and dataset: the Start page's recipes for the pair, then those shipped
    in genstudio/resources/presets/<model>.toml for the dataset (or its data kind).

    A preset is ``{"run": {...}, "model": {...}}``, plus ``"about"`` (the expected time, shown on
    the form) and ``"recipe"`` (its id) where it has them.
    """
    out = {}
    for r in load_recipes().recipes.values():
        if r.model == model_id and r.dataset == dataset_id:
            out[f"{r.title} ({r.minutes:g} min)"] = recipe_preset(r)
    path = PRESET_DIR / f"{model_id}.toml"
    if not path.is_file():
        return out
    try:
        tables = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, OSError):
        return out
    for key in (dataset_id, kind):
        if key and key in tables:
            out[f"tuned for {key}"] = tables[key]
    return out


def recipe_preset(r: Recipe) -> dict:
    return {"run": dict(r.run), "model": dict(r.model_settings), "about": r.time_text, "recipe": r.id}


class ModelPanel(QWidget):
    """Pick a model and edit its config; ``is_valid`` says whether Train may start."""

    validityChanged = Signal(bool)
    modelChanged = Signal(str)
    readOnlyChanged = Signal(bool)
    settingsChanged = Signal()  # any field, the model or the preset: the estimate is measured again

    def __init__(self, parent: QWidget | None = None, settings: QSettings | None = None):
        super().__init__(parent)
        self.settings = settings
        self._valid = False
        self._data_kind: str | None = None
        self._dataset_id = ""
        self._data_shape: tuple[int, ...] | None = None
        self._data_info: Any = None  # the loaded dataset's DataInfo, for a model's own data_problem check
        self._runs_root: Path | None = None
        self.family_box = QComboBox()
        self.family_box.setToolTip("Model family")
        self.model_box = QComboBox()
        self.model_box.setToolTip("Model")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.compat = QLabel()
        self.compat.setWordWrap(True)
        self.compat.setStyleSheet("color: #d64541;")
        self.compat.hide()
        self.preset_box = QComboBox()
        self.preset_box.setToolTip("Settings that train well for this dataset, or ones you saved")
        # A long preset name must not widen the Model dock past a laptop screen: the combo elides it.
        self.preset_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.preset_box.setMinimumContentsLength(14)
        self.save_preset_button = QPushButton("Save…")
        self.save_preset_button.setToolTip("Save the current settings as a preset for this model and dataset")
        self.reset_button = QPushButton("Defaults")
        self.reset_button.setToolTip("Reset every setting of the model and the run to its default")
        self.model_form = ConfigForm()
        self.run_form = ConfigForm(RunConfig, include=[n for n in _run_fields() if n not in RUN_HIDDEN], basic=RUN_BASIC)
        # What the chosen preset is expected to take, and what a short measured step says (estimate.py).
        self.preset_note = QLabel()
        self.preset_note.setObjectName("preset_note")
        self.preset_note.setWordWrap(True)
        self.preset_note.hide()
        self.estimate_label = QLabel()
        self.estimate_label.setObjectName("estimate")
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setToolTip("Measured on this machine: a few training steps of the model on a small batch, before Train")
        # Shown while the panel displays an opened run's settings (read-only).
        self.shown_run_box = QWidget()
        srl = QHBoxLayout(self.shown_run_box)
        srl.setContentsMargins(0, 0, 0, 0)
        self.shown_run_label = QLabel()
        self.shown_run_label.setWordWrap(True)
        self.copy_button = QPushButton("Train a copy")
        self.copy_button.setToolTip("Make these settings editable again, for a new run (the run shown stays as it is)")
        srl.addWidget(self.shown_run_label, 1)
        srl.addWidget(self.copy_button)
        self.shown_run_box.hide()
        self._read_only = False

        top = QFormLayout()
        top.addRow("Family", self.family_box)
        top.addRow("Model", self.model_box)
        presets = QHBoxLayout()
        presets.addWidget(self.preset_box, 1)
        presets.addWidget(self.save_preset_button)
        presets.addWidget(self.reset_button)
        top.addRow("Preset", presets)
        model_group = QGroupBox("Model settings")
        QVBoxLayout(model_group).addWidget(self.model_form)
        run_group = QGroupBox("Run settings")
        QVBoxLayout(run_group).addWidget(self.run_form)
        lay = QVBoxLayout(self)
        lay.addWidget(self.shown_run_box)
        lay.addLayout(top)
        lay.addWidget(self.preset_note)
        lay.addWidget(self.estimate_label)
        lay.addWidget(self.summary)
        lay.addWidget(self.compat)
        lay.addWidget(model_group)
        lay.addWidget(run_group)
        lay.addStretch(1)

        self.family_box.currentIndexChanged.connect(self._on_family)
        self.model_box.currentIndexChanged.connect(self._on_model)
        self.model_form.validityChanged.connect(self._update_validity)
        self.run_form.validityChanged.connect(self._update_validity)
        self.model_form.changed.connect(self.settingsChanged)
        self.run_form.changed.connect(self.settingsChanged)
        self.reset_button.clicked.connect(self.reset)
        self.preset_box.activated.connect(self._apply_preset)
        self.copy_button.clicked.connect(lambda: self.set_read_only(None))
        self.save_preset_button.clicked.connect(self._save_preset)
        self.refresh_models()

    # -- choosing -----------------------------------------------------------------
    def refresh_models(self) -> None:
        by_family, self.broken = models_by_family()
        self.family_box.blockSignals(True)
        self.family_box.clear()
        for fam in sorted(by_family, key=lambda f: list(FAMILY_TITLES).index(f) if f in FAMILY_TITLES else 99):
            self.family_box.addItem(FAMILY_TITLES.get(fam, fam.title() or "Other"), fam)
        self.family_box.blockSignals(False)
        self._by_family = by_family
        if self.broken:
            lines = "\n".join(f"{k}: {v}" for k, v in self.broken.items())
            self.model_box.setToolTip(f"Model\n\nNot available (failed to load):\n{lines}")
        self._on_family()

    def _on_family(self, *_: Any) -> None:
        fam = self.family_box.currentData()
        ids = self._by_family.get(fam, [])
        self.model_box.blockSignals(True)
        self.model_box.clear()
        for mid in ids:
            self.model_box.addItem(mid)
        # A family opens on its flagship (recipes.toml), not on the first id in the list.
        first = flagship(fam, ids)
        if first is not None:
            self.model_box.setCurrentIndex(self.model_box.findText(first))
        self.model_box.blockSignals(False)
        self._on_model()

    def model_id(self) -> str:
        return self.model_box.currentText()

    def model_class(self) -> type | None:
        mid = self.model_id()
        return registry.get_model_class(mid) if mid else None

    def select(self, model_id: str) -> bool:
        if model_id not in registry.model_ids():
            return False
        fam = registry.get_model_class(model_id).family
        self.family_box.setCurrentIndex(max(0, self.family_box.findData(fam)))
        self.model_box.setCurrentIndex(max(0, self.model_box.findText(model_id)))
        return True

    def apply_recipe(self, recipe: Recipe) -> bool:
        """Choose the recipe's model and its settings (the dataset is the dataset panel's to choose)."""
        if not self.select(recipe.model):
            return False
        self._dataset_id = recipe.dataset  # its preset entry is listed before the data has loaded
        self._refresh_presets()
        i = next((k for k in range(self.preset_box.count()) if (self.preset_box.itemData(k) or {}).get("recipe") == recipe.id), -1)
        if i >= 0:
            self.preset_box.setCurrentIndex(i)
            self._apply_preset(i)
        else:
            self._apply_preset_values(recipe_preset(recipe))
        return True

    def set_read_only(self, run_name: str | None) -> None:
        """Show an opened run's settings read-only (``run_name``), or make the form editable again (None)."""
        self._read_only = run_name is not None
        if run_name is not None:
            self.shown_run_label.setText(f"Showing the settings of <b>{run_name}</b> (read-only).")
        self.shown_run_box.setVisible(run_name is not None)
        for w in (self.family_box, self.model_box, self.preset_box, self.save_preset_button, self.reset_button, self.model_form, self.run_form):
            w.setEnabled(run_name is None)
        self._update_validity()
        self.readOnlyChanged.emit(self._read_only)

    def is_read_only(self) -> bool:
        return self._read_only

    def reveal(self, names: list[str]) -> list[str]:
        """Make the named settings visible (unfold "More settings" where they are) and mark them; returns those found."""
        found = []
        for form in (self.model_form, self.run_form):
            hit = [n for n in names if n in form.fields]
            if hit:
                form.reveal(hit)
                found += hit
        return found

    def _on_model(self, *_: Any) -> None:
        cls = self.model_class()
        self.model_form.set_config_class(cls.config_class if cls else None)
        # Another model: a run setting still at the last model's default (a recipe's steps included) takes this one's.
        self.run_form.forget_set_values()
        self._apply_run_defaults()
        if cls is not None:
            kinds = ", ".join(cls.data_kinds)
            self.summary.setText(f"{cls.summary}<br><i>works on {kinds} data</i>")
        else:
            self.summary.setText("No model is installed.")
        self._refresh_presets()
        self._update_validity()
        self.modelChanged.emit(self.model_id())

    def set_dataset(self, dataset_id: str, kind: str | None, shape: tuple[int, ...] | None = None, info: Any = None) -> None:
        """Tell the panel which data it will train on (for compatibility, presets, and the runs a run field offers)."""
        self._dataset_id, self._data_kind, self._data_info = dataset_id, kind, info
        self._data_shape = tuple(shape) if shape is not None else None
        self.model_form.set_run_context(self._run_context())
        self._apply_run_defaults()
        self._refresh_presets()
        self._update_validity()

    def _apply_run_defaults(self) -> None:
        """The run form starts from the model's own run defaults for this kind of data (its steps fit a few minutes)."""
        mid = self.model_id()
        self.run_form.set_defaults(model_run_defaults(mid, self._data_kind) if mid else {})

    def set_runs_root(self, root: str | Path | None) -> None:
        """The folder whose runs the model's run fields (the ldm's autoencoder) list."""
        self._runs_root = Path(root) if root is not None else None
        self.model_form.set_run_context(self._run_context())
        self._update_validity()

    def _run_context(self) -> RunContext:
        return RunContext(self._runs_root, self._dataset_id, self._data_shape)

    def use_run_for(self, model_id: str, field: str, path: str) -> bool:
        """Choose ``model_id`` and put the run folder ``path`` in its run field ``field`` (the runs browser's "Use as ..." action)."""
        if not self.select(model_id) or field not in self.model_form.fields:
            return False
        self.model_form.set_values({field: str(path)})
        self._update_validity()
        return True

    # -- validity -------------------------------------------------------------------
    def compatibility_error(self) -> str | None:
        cls = self.model_class()
        if cls is None:
            return "choose a model"
        if self._data_kind and self._data_kind not in cls.data_kinds:
            return f"{self.model_id()} works on {', '.join(cls.data_kinds)} data; {self._dataset_id or 'this dataset'} is {self._data_kind} data"
        # A model that needs more of the data than its kind (sgan: class labels) says why, as building it would.
        data_problem = getattr(cls, "data_problem", None)
        if data_problem is not None and self._data_info is not None:
            return data_problem(self._data_info)
        return None

    def _update_validity(self, *_: Any) -> None:
        err = self.compatibility_error()
        self.compat.setText(err or "")
        self.compat.setVisible(bool(err) and self.model_class() is not None)
        valid = err is None and self.model_form.is_valid() and self.run_form.is_valid() and not self._read_only
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)

    def is_valid(self) -> bool:
        return self._valid

    def problems(self) -> list[str]:
        out = []
        if self._read_only:
            out.append("the form shows an opened run's settings: press Train a copy to train with them")
        err = self.compatibility_error()
        if err:
            out.append(err)
        out += list(self.model_form.errors().values()) + list(self.run_form.errors().values())
        return out

    # -- values -------------------------------------------------------------------
    def model_overrides(self) -> dict[str, Any]:
        return self.model_form.values()

    def run_overrides(self) -> dict[str, Any]:
        return self.run_form.values()

    def reset(self) -> None:
        self.model_form.reset()
        self.run_form.reset()
        self.preset_box.setCurrentIndex(0)
        self._show_preset_note(None)

    def apply(self, run: dict[str, Any] | None = None, model: dict[str, Any] | None = None) -> None:
        if model:
            self.model_form.set_values(model)
        if run:
            self.run_form.set_values(run)

    # -- presets -------------------------------------------------------------------
    def _user_presets(self) -> dict[str, dict]:
        if self.settings is None:
            return {}
        raw = self.settings.value(f"presets/{self.model_id()}", "")
        try:
            return json.loads(raw) if raw else {}
        except (TypeError, json.JSONDecodeError):
            return {}

    def _refresh_presets(self) -> None:
        current = self.preset_box.currentText()
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        self.preset_box.addItem("Defaults", None)
        for name, p in builtin_presets(self.model_id(), self._dataset_id, self._data_kind).items():
            self.preset_box.addItem(name, p)
        for name, p in self._user_presets().items():
            ds = p.get("dataset")
            self.preset_box.addItem(f"{name} ({ds})" if ds else name, p)
        for k in range(self.preset_box.count()):  # the combo elides long names: the full one on hover
            self.preset_box.setItemData(k, self.preset_box.itemText(k), Qt.ItemDataRole.ToolTipRole)
        i = self.preset_box.findText(current)
        self.preset_box.setCurrentIndex(max(0, i))
        self.preset_box.blockSignals(False)
        if i < 0:
            self._show_preset_note(None)  # the preset applied is not one of this model and dataset's

    def _apply_preset(self, index: int) -> None:
        self._apply_preset_values(self.preset_box.itemData(index))

    def _apply_preset_values(self, p: dict | None) -> None:
        self.model_form.reset()
        self.run_form.reset()
        if p:
            self.apply(run=p.get("run"), model=p.get("model"))
        self._show_preset_note(p)

    def _show_preset_note(self, p: dict | None) -> None:
        about = (p or {}).get("about")
        self.preset_note.setText(f"This preset takes {about}." if about else "")
        self.preset_note.setVisible(bool(about))

    def _save_preset(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Name for these settings:")
        if ok and name.strip():
            self.save_preset(name.strip())

    def save_preset(self, name: str) -> None:
        if self.settings is None:
            return
        presets = self._user_presets()
        presets[name] = {"dataset": self._dataset_id, "model": self.model_form.changed_values(), "run": self.run_form.changed_values()}
        self.settings.setValue(f"presets/{self.model_id()}", json.dumps(presets))
        self._refresh_presets()
        self.preset_box.setCurrentIndex(self.preset_box.count() - 1)

    # -- settings -------------------------------------------------------------------
    def save_settings(self, s: QSettings) -> None:
        s.setValue("model/id", self.model_id())
        s.setValue("model/preset", self.preset_box.currentText())
        s.setValue("model/values", json.dumps(self.model_form.changed_values()))
        s.setValue("model/run", json.dumps(self.run_form.changed_values()))

    def restore_settings(self, s: QSettings, dataset_id: str = "") -> bool:
        """Reopen the last model and its settings; False when none is saved (a first launch)."""
        mid = s.value("model/id", "")
        if not (mid and self.select(str(mid))):
            return False
        if dataset_id:
            self._dataset_id = dataset_id
            self._refresh_presets()
        i = self.preset_box.findText(str(s.value("model/preset", "") or ""))
        if i > 0:
            self.preset_box.setCurrentIndex(i)
            self._show_preset_note(self.preset_box.itemData(i))
        try:
            self.apply(run=json.loads(s.value("model/run", "{}") or "{}"), model=json.loads(s.value("model/values", "{}") or "{}"))
        except (TypeError, json.JSONDecodeError):
            pass
        return True


def models_by_family() -> tuple[dict[str, list[str]], dict[str, str]]:
    """Installed models by family, and those whose module failed to import (id -> reason).

    A broken plugin must not take the window down with it: it is listed in a
    tooltip instead.
    """
    out: dict[str, list[str]] = {}
    broken: dict[str, str] = {}
    for mid in registry.model_ids():
        try:
            cls = registry.get_model_class(mid)
        except Exception as e:  # noqa: BLE001 - any import error of a third-party model
            broken[mid] = f"{type(e).__name__}: {e}"
            continue
        out.setdefault(getattr(cls, "family", "") or "other", []).append(mid)
    return out, broken


def run_field_uses(run_model: str) -> list[tuple[str, str, str]]:
    """Where a run of ``run_model`` can be used: (model id, field, menu text) for every installed model
    with a run field that accepts it, e.g. ("ldm", "autoencoder_run", "Use as autoencoder for ldm")."""
    out = []
    for mid in registry.model_ids():
        try:
            cls = registry.get_model_class(mid)
        except Exception:  # noqa: BLE001 - a broken plugin is listed by the model panel, not here
            continue
        for s in specs(cls.config_class):
            if s.kind == "run" and (s.accepts is None or run_model in s.accepts):
                what = humanize(s.name[: -len("_run")] if s.name.endswith("_run") else s.name)
                out.append((mid, s.name, f"Use as {what} for {mid}"))
    return out


def _run_fields() -> list[str]:
    from genstudio.core.config import specs

    return [s.name for s in specs(RunConfig)]
