"""The dataset panel: choose a source, load it off the UI thread, show what it holds.

Shows a preview grid of real examples with their labels (a scatter for 2-D
sets), size / shape / classes with a histogram, and every problem the loader
reported, with its path. ``usable`` is True only once a dataset has loaded.
While a run trains, :meth:`DatasetPanel.set_compact` swaps all of it for one
row of examples and the summary line, so the curves and lab tabs get the room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from genstudio.core import registry
from genstudio.core.recipes import first_launch_choice
from genstudio.data.dataset import DataError, DataOptions

from .config_form import ConfigForm
from .examples import pick_examples
from .images import tile_grid
from .tasks import BackgroundCall
from .widgets import ClassHistogram, ImageView, style_plot


@dataclass(frozen=True)
class Source:
    title: str
    ids: tuple[str, ...] | None  # None: every registered id not claimed by another source
    path: str | None = None  # "file" or "folder": the source reads options.path
    options: tuple[str, ...] = ("val_fraction",)
    torchvision: bool = False
    file_filter: str = ""


POINT_OPTIONS = ("n_points", "noise", "val_fraction", "seed")
IMAGE_OPTIONS = ("image_size", "grayscale", "val_fraction")
POINT_SETS = ("moons", "circles", "8gaussians", "swissroll", "checkerboard")

SOURCES = (
    Source("Built-in", None, options=POINT_OPTIONS + IMAGE_OPTIONS),
    Source("torchvision", ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10", "CelebA"), options=IMAGE_OPTIONS, torchvision=True),
    Source("Image folder", ("folder",), path="folder", options=IMAGE_OPTIONS),
    Source("Array file (.npz / .npy)", ("array",), path="file", options=IMAGE_OPTIONS, file_filter="Arrays (*.npz *.npy)"),
    Source("CSV of 2-D points", ("csv",), path="file", options=("val_fraction",), file_filter="CSV (*.csv *.txt)"),
    Source("Audio (.wav file or folder)", ("wav",), path="file", options=("clip_length", "sample_rate", "val_fraction"), file_filter="WAV audio (*.wav)"),
)


def source_ids(source: Source) -> list[str]:
    known = registry.dataset_ids()
    if source.ids is not None:
        return [i for i in source.ids if i in known]
    claimed = {i for s in SOURCES if s.ids for i in s.ids}
    return [i for i in known if i not in claimed]


def source_of(dataset_id: str) -> int:
    for k, s in enumerate(SOURCES):
        if s.ids is not None and dataset_id in s.ids:
            return k
    return 0


def options_for(source: Source, dataset_id: str) -> tuple[str, ...]:
    """The DataOptions fields that matter for this choice (the rest keep their defaults)."""
    if source.ids is None:
        return POINT_OPTIONS if dataset_id in POINT_SETS else IMAGE_OPTIONS
    return source.options


def window_message(exc: DataError, source: Source) -> str:
    """A DataError about the data path, in the window's words: the Path field, not ``data.path``.

    The loaders word their messages for the command line and the window alike
    ("...; set the data path (data.path) to ..."); here the fix is the Path
    field above, and the skipped files are listed below it.
    """
    text = str(exc)
    head = text.split("; set the data path (data.path)")[0]
    what = {"folder": "another folder", "file": "another file"}.get(source.path or "", "another file or folder")
    problems = getattr(exc, "problems", None) or []
    listed = f" The {len(problems)} skipped file{'s are' if len(problems) != 1 else ' is'} listed below with the reason." if problems else ""
    return f"{head[:1].upper()}{head[1:]}.{listed} Choose {what} in the Path field (Browse…)."


def load(dataset_id: str, overrides: dict[str, Any]):
    """Runs on the thread pool: build options and load (raises DataError/ConfigError with a message)."""
    from genstudio.core.config import with_overrides
    from genstudio.data.dataset import load_dataset

    options = with_overrides(DataOptions(), overrides)
    return load_dataset(dataset_id, options)


class DatasetPanel(QWidget):
    """Source, dataset, options, preview, statistics and problems of the training data."""

    datasetLoaded = Signal(object)  # Dataset
    usableChanged = Signal(bool)
    selectionChanged = Signal()

    PREVIEW_N = 48
    STRIP_N = 6  # examples in the compact strip shown while a run trains

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.dataset = None
        self.error: str | None = None
        self._usable = False
        self._loaded_key: tuple | None = None
        self._ticket = 0
        self._loader = BackgroundCall(self)
        self._loader.done.connect(self._on_loaded)
        self._loader.failed.connect(self._on_failed)
        self._debounce = QTimer(self, singleShot=True, interval=250)
        # The dataset last chosen in each source: switching back to a source reselects it.
        self._last_by_source: dict[int, str] = {0: first_launch_choice()[0]}
        self._debounce.timeout.connect(self.reload)

        self.source_box = QComboBox()
        for s in SOURCES:
            self.source_box.addItem(s.title)
        self.source_box.setToolTip("Where the data comes from")
        self.dataset_box = QComboBox()
        self.dataset_box.setToolTip("Which dataset")
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("choose a file or folder…")
        self.path_button = QPushButton("Browse…")
        self.root_edit = QLineEdit(DataOptions().root)
        self.root_edit.setToolTip("Folder holding torchvision datasets")
        self.root_button = QPushButton("Browse…")
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Download the dataset into the root folder (needs the network)")
        self.options_form = ConfigForm(DataOptions, include=())

        form = QFormLayout()
        form.addRow("Source", self.source_box)
        form.addRow("Dataset", self.dataset_box)
        self.path_row = QWidget()
        pr = QHBoxLayout(self.path_row)
        pr.setContentsMargins(0, 0, 0, 0)
        pr.addWidget(self.path_edit, 1)
        pr.addWidget(self.path_button)
        form.addRow("Path", self.path_row)
        self.root_row = QWidget()
        rr = QHBoxLayout(self.root_row)
        rr.setContentsMargins(0, 0, 0, 0)
        rr.addWidget(self.root_edit, 1)
        rr.addWidget(self.root_button)
        rr.addWidget(self.download_button)
        form.addRow("Root", self.root_row)
        self._form = form

        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.image_view = ImageView(placeholder="no data loaded")
        self.scatter = pg.PlotWidget()
        self.scatter.setAspectLocked(True)
        self.scatter.setMenuEnabled(False)
        style_plot(self.scatter)
        self._scatter_item = pg.ScatterPlotItem(size=3, pen=None)
        self.scatter.addItem(self._scatter_item)
        self.preview = QStackedWidget()
        self.preview.addWidget(self.image_view)
        self.preview.addWidget(self.scatter)
        # 160 px: six rows of digits at about their own size. The picture's width sets the height where there
        # is room (_fit_preview); with 200 the Data dock scrolled on a 1366x768 screen before any run.
        self.preview.setMinimumHeight(160)
        self.preview.installEventFilter(self)  # its width decides its height: see _fit_preview
        self.histogram = ClassHistogram()
        self.problems = QListWidget()
        self.problems.setMaximumHeight(110)
        self.problems.setToolTip("What the loader skipped or could not read")
        self.problems_label = QLabel("Problems")

        # The whole view, and the strip that replaces it while a run trains.
        self.full_view = QWidget()
        lay = QVBoxLayout(self.full_view)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(form)
        lay.addWidget(self.options_form)
        lay.addWidget(self.state_label)
        lay.addWidget(self.preview, 1)
        lay.addWidget(self.summary_label)
        lay.addWidget(self.histogram)
        lay.addWidget(self.problems_label)
        lay.addWidget(self.problems)
        lay.addStretch(0)  # the room the preview does not need, below everything instead of around the grid
        self.strip_view = QWidget()
        self.strip_view.setObjectName("data_strip")
        sl = QVBoxLayout(self.strip_view)
        sl.setContentsMargins(0, 0, 0, 0)
        self.strip_image = ImageView(placeholder="no examples")
        self.strip_image.setMinimumSize(120, 40)
        self.strip_image.setFixedHeight(64)
        self.strip_image.setToolTip("A few examples of the training data (the full view returns when no run is training)")
        self.strip_scatter = pg.PlotWidget()
        self.strip_scatter.setAspectLocked(True)
        self.strip_scatter.setMenuEnabled(False)
        self.strip_scatter.setFixedHeight(140)
        self.strip_scatter.hideAxis("left")
        self.strip_scatter.hideAxis("bottom")
        style_plot(self.strip_scatter)
        self._strip_points = pg.ScatterPlotItem(size=2, pen=None, brush=pg.mkBrush(70, 130, 200, 120))
        self.strip_scatter.addItem(self._strip_points)
        self.strip_label = QLabel()
        self.strip_label.setWordWrap(True)
        sl.addWidget(self.strip_image)
        sl.addWidget(self.strip_scatter)
        sl.addWidget(self.strip_label)
        sl.addStretch(1)  # the strip keeps its height at the top; the room below is the dock's
        self.strip_view.hide()
        self._compact = False
        outer = QVBoxLayout(self)
        outer.addWidget(self.full_view, 1)
        outer.addWidget(self.strip_view, 1)

        self.source_box.currentIndexChanged.connect(self._on_source)
        self.dataset_box.currentIndexChanged.connect(self._on_dataset)
        self.path_edit.editingFinished.connect(self._schedule)
        self.root_edit.editingFinished.connect(self._schedule)
        self.options_form.changed.connect(self._schedule)
        self.path_button.clicked.connect(self._browse_path)
        self.root_button.clicked.connect(self._browse_root)
        self.download_button.clicked.connect(lambda: self.reload(download=True))
        self._on_source(0)

    # -- selection -------------------------------------------------------------------
    @property
    def source(self) -> Source:
        return SOURCES[self.source_box.currentIndex()]

    def dataset_id(self) -> str:
        return self.dataset_box.currentText()

    def select(self, dataset_id: str, path: str | None = None) -> None:
        """Choose a dataset by id (and a path for folder / array / csv); loads it."""
        self.source_box.setCurrentIndex(source_of(dataset_id))
        i = self.dataset_box.findText(dataset_id)
        if i >= 0:
            self.dataset_box.setCurrentIndex(i)
        if path is not None:
            self.path_edit.setText(path)
        self.reload()

    def overrides(self, download: bool = False) -> dict[str, Any]:
        """DataOptions values for the current choice (only the fields the source uses)."""
        out = dict(self.options_form.values())
        src = self.source
        if src.path:
            out["path"] = self.path_edit.text().strip()
        if src.torchvision:
            out["root"] = self.root_edit.text().strip() or DataOptions().root
            out["download"] = download
        return out

    def _on_source(self, index: int) -> None:
        src = SOURCES[index]
        self.dataset_box.blockSignals(True)
        self.dataset_box.clear()
        self.dataset_box.addItems(source_ids(src))
        self.dataset_box.setCurrentIndex(max(0, self.dataset_box.findText(self._last_by_source.get(index, ""))))
        self.dataset_box.blockSignals(False)
        self.dataset_box.setEnabled(self.dataset_box.count() > 1)
        self._form.setRowVisible(self.path_row, src.path is not None)
        self._form.setRowVisible(self.root_row, src.torchvision)
        self._on_dataset()

    def _on_dataset(self, *_: Any) -> None:
        if self.dataset_id():
            self._last_by_source[self.source_box.currentIndex()] = self.dataset_id()
        wanted = options_for(self.source, self.dataset_id())
        if set(self.options_form.fields) != set(wanted):
            keep = self.options_form.values()
            self.options_form.blockSignals(True)
            self.options_form.set_config_class(DataOptions, include=wanted, basic=("n_points", "noise", "image_size", "grayscale"))
            self.options_form.set_values({k: v for k, v in keep.items() if k in wanted})
            self.options_form.blockSignals(False)
        self.selectionChanged.emit()
        self._schedule()

    def _browse_path(self) -> None:
        src = self.source
        if src.path == "folder":
            p = QFileDialog.getExistingDirectory(self, "Image folder", self.path_edit.text())
        else:
            p, _ = QFileDialog.getOpenFileName(self, src.title, self.path_edit.text(), src.file_filter)
        if p:
            self.path_edit.setText(p)
            self.reload()

    def _browse_root(self) -> None:
        p = QFileDialog.getExistingDirectory(self, "torchvision root", str(Path(self.root_edit.text()).expanduser()))
        if p:
            self.root_edit.setText(p)
            self.reload()

    # -- loading ----------------------------------------------------------------------
    def _schedule(self) -> None:
        self._debounce.start()

    def is_loading(self) -> bool:
        """The chosen dataset is still loading (an earlier choice's load that is still running does not count:
        its result is dropped, and nothing reports when it ends)."""
        return self._loader.latest_pending()

    def reload(self, download: bool = False) -> None:
        self._debounce.stop()
        did = self.dataset_id()
        if not did:
            self._set_error("no dataset of this kind is installed")
            return
        if not self.options_form.is_valid():
            self._set_error("fix the options marked in red")
            return
        if self.source.path and not self.path_edit.text().strip():
            self._set_error(f"choose a {'folder' if self.source.path == 'folder' else 'file'} to load")
            return
        overrides = self.overrides(download)
        key = (did, tuple(sorted(overrides.items())))
        if key == self._loaded_key and self.dataset is not None and not download:
            return
        self._pending_key = key
        self._set_usable(False)
        self._set_state(f"Downloading {did}…" if download else f"Loading {did}…")
        self.path_edit.setStyleSheet("")
        self._ticket = self._loader.start(lambda: load(did, overrides))

    def _on_loaded(self, ticket: int, dataset: Any) -> None:
        if ticket != self._ticket:
            return  # the user chose something else meanwhile
        self.dataset = dataset
        self.error = None
        self._loaded_key = self._pending_key
        self._set_state("")
        self._show(dataset)
        self._set_usable(True)
        self.datasetLoaded.emit(dataset)

    def _on_failed(self, ticket: int, exc: object, tb: str) -> None:
        if ticket != self._ticket:
            return
        if isinstance(exc, DataError) and exc.option == "path":
            self._set_error(window_message(exc, self.source), details=str(exc), problems=getattr(exc, "problems", None) or [])
            self.path_edit.setStyleSheet("border: 1px solid #d64541;")
            return
        if isinstance(exc, (DataError, ValueError, KeyError, OSError)):
            message = str(exc)
        else:
            message = f"{type(exc).__name__}: {exc}"
        self._set_error(message, details=tb)

    def _set_error(self, message: str, details: str = "", problems: list[str] | None = None) -> None:
        self.dataset = None
        self._loaded_key = None
        self.error = message
        self._set_state(message, "color: #d64541;")
        self.state_label.setToolTip(details)
        self.image_view.set_array(None)
        self._scatter_item.clear()
        self.summary_label.setText("")
        self.histogram.set_counts({})
        # No data, no classes: an empty histogram of the previous set's axes only pushed the problem list out of sight.
        self.histogram.setVisible(False)
        self._show_problems(problems or [])
        self._set_usable(False)

    def _set_state(self, text: str, style: str = "") -> None:
        """The loading or error line; hidden when empty (an empty line and its spacing took 20 px of a dock
        that scrolled at 1366x768)."""
        self.state_label.setStyleSheet(style)
        self.state_label.setText(text)
        self.state_label.setVisible(bool(text))

    def _set_usable(self, usable: bool) -> None:
        if usable != self._usable:
            self._usable = usable
            self.usableChanged.emit(usable)

    def is_usable(self) -> bool:
        return self._usable

    # -- display -----------------------------------------------------------------------
    def _show(self, ds: Any) -> None:
        info = ds.info
        d = ds.describe()
        labels = ds.y.numpy() if hasattr(ds.y, "numpy") else np.asarray(ds.y)
        idx = pick_examples(labels, self.PREVIEW_N if info.kind == "image" else min(len(ds), 5000))
        if info.kind == "points":
            pts = np.asarray(ds.x[idx], dtype=np.float32)
            brushes = None
            if (labels[idx] >= 0).all() and info.num_classes > 1:
                colors = [pg.intColor(int(c), hues=max(info.num_classes, 2), alpha=160) for c in labels[idx]]
                brushes = [pg.mkBrush(c) for c in colors]
            self._scatter_item.setData(pos=pts[:, :2], brush=brushes or pg.mkBrush(70, 130, 200, 120))
            self.scatter.autoRange()
            self.preview.setCurrentWidget(self.scatter)
        elif info.kind == "image":
            x = np.asarray(ds.x[idx])
            ncols = 8
            grid = tile_grid(x, ncols=ncols, pad=1, pad_value=40)
            captions = []
            if (labels[idx] >= 0).all():
                _, h, w = x.shape[1:]
                for i, lab in enumerate(labels[idx]):
                    r, c = divmod(i, ncols)
                    name = info.class_names[lab] if lab < len(info.class_names) else str(int(lab))
                    captions.append((1 + c * (w + 1), 1 + r * (h + 1), w, h, str(name)))
            self.image_view.set_array(grid, captions)
            self.preview.setCurrentWidget(self.image_view)
        else:
            self.image_view.set_array(None)
            self.image_view.placeholder = f"{info.kind} data: no preview"
            self.preview.setCurrentWidget(self.image_view)
        self._fit_preview()
        shape = tuple(d["shape"])
        parts = [f"<b>{d['size']:,}</b> examples", f"shape {' × '.join(map(str, shape))}"]
        if info.kind == "image":
            parts.append(f"{shape[0]} channel{'s' if shape[0] != 1 else ''}")
        if info.num_classes:
            parts.append(f"{info.num_classes} classes")
        else:
            parts.append("unlabelled")
        self.summary_label.setText(" · ".join(parts))
        self.histogram.set_counts(d.get("class_counts", {}), info.class_names)
        self.histogram.setVisible(bool(d.get("class_counts")))
        self._show_problems(d.get("problems", []))
        if self._compact:
            self._fill_strip()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if obj is self.preview and event.type() == QEvent.Type.Resize:
            self._fit_preview()
        return super().eventFilter(obj, event)

    def _fit_preview(self) -> None:
        """The preview is as tall as its picture at the dock's width (a square for a scatter), no taller.

        Stretched to the dock's height, the grid sat between two empty bands and
        pushed the class histogram below the fold (cut at 1920x1080); the room it
        does not need now goes below the histogram and the problem list.
        """
        width = self.preview.width()
        if self.preview.currentWidget() is self.scatter:
            height = width
        elif self.image_view.has_image():
            image = self.image_view.image()
            height = math.ceil(width * image.height() / image.width())
        else:
            height = 16_777_215  # Qt's QWIDGETSIZE_MAX: a placeholder takes what there is
        height = max(self.preview.minimumHeight(), height)
        if height != self.preview.maximumHeight():
            self.preview.setMaximumHeight(height)

    # -- the strip shown while a run trains ---------------------------------------------
    def set_compact(self, compact: bool) -> None:
        """While a run trains: one row of examples and the summary line instead of the whole panel.

        The form is read-only then and the grid and histogram were clipped at the
        bottom of a laptop screen; the strip leaves the room to the curves and the
        lab tabs. ``False`` brings the whole view back, as it was.
        """
        if compact == self._compact:
            return
        self._compact = compact
        if compact:
            self._fill_strip()
        self.full_view.setVisible(not compact)
        self.strip_view.setVisible(compact)
        self.updateGeometry()

    def is_compact(self) -> bool:
        return self._compact

    def _fill_strip(self) -> None:
        ds = self.dataset if self._usable else None
        kind = ds.info.kind if ds is not None else None
        self.strip_image.setVisible(kind == "image")
        self.strip_scatter.setVisible(kind == "points")
        self.strip_label.setText(self.summary_label.text() if ds is not None else (self.error or "no data loaded"))
        if ds is None:
            return
        labels = ds.y.numpy() if hasattr(ds.y, "numpy") else np.asarray(ds.y)
        if kind == "image":
            idx = pick_examples(labels, self.STRIP_N)
            self.strip_image.set_array(tile_grid(np.asarray(ds.x[idx]), ncols=len(idx), pad=1, pad_value=40))
        elif kind == "points":
            idx = pick_examples(labels, min(len(ds), 1000))
            self._strip_points.setData(pos=np.asarray(ds.x[idx], dtype=np.float32)[:, :2])
            self.strip_scatter.autoRange()

    def _show_problems(self, problems: list[str]) -> None:
        """The loader's problems, one line each ("skipped <file>: <reason>"); the full line in the tooltip."""
        self.problems.clear()
        for p in problems:
            self.problems.addItem(p)
            self.problems.item(self.problems.count() - 1).setToolTip(p)
        n = len(problems)
        self.problems_label.setText(f"Problems ({n})" if n else "No problems")
        self.problems_label.setStyleSheet("color: #d68a00; font-weight: bold;" if n else "")
        self.problems.setVisible(n > 0)

    # -- settings -----------------------------------------------------------------------
    def save_settings(self, s: QSettings) -> None:
        s.setValue("dataset/id", self.dataset_id())
        s.setValue("dataset/path", self.path_edit.text())
        s.setValue("dataset/root", self.root_edit.text())

    def restore_settings(self, s: QSettings) -> bool:
        """Reopen the last dataset; False when none is saved (a first launch)."""
        root = s.value("dataset/root", "")
        if root:
            self.root_edit.setText(str(root))
        did = s.value("dataset/id", "")
        if did and did in registry.dataset_ids():
            self.select(str(did), str(s.value("dataset/path", "")) or None)
            return True
        return False

    def set_read_only(self, read_only: bool) -> None:
        """While an opened run is shown: its data, not editable (Train a copy makes it editable again)."""
        for w in (self.source_box, self.dataset_box, self.path_row, self.root_row, self.options_form):
            w.setEnabled(not read_only)
