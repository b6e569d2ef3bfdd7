"""The centre of the window: run controls, live curves, the sample grid and capability panels."""

from __future__ import annotations

from typing import Any, Iterable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QScrollArea, QLabel, QSplitter, QTabWidget, QToolButton, QVBoxLayout, QWidget

from .curves_view import CurvesView
from .panels import PanelContext, panels_for
from .panels.builtin import load_builtin_panels
from .panels.controls import fitted
from .samples_view import SamplesView
from .widgets import ElidedLabel

BANNER_STYLES = {
    "error": "background: #5c1f1d; color: #ffd9d6; padding: 6px; border-radius: 3px;",
    "warning": "background: #5c4a12; color: #fff0c2; padding: 6px; border-radius: 3px;",
    "info": "background: #173a5c; color: #d8ebff; padding: 6px; border-radius: 3px;",
}


class TrainingView(QWidget):
    def __init__(self, actions: Iterable[QAction] = (), parent: QWidget | None = None):
        super().__init__(parent)
        self.curves = CurvesView()
        self.samples = SamplesView()
        # A long run name must not widen the window: the label elides ("…") with the full text in its tooltip.
        self.title = ElidedLabel("No run yet: choose data and a model, then press Train.")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self.buttons: dict[str, QToolButton] = {}
        bar = QHBoxLayout()
        for action in actions:
            b = QToolButton()
            b.setDefaultAction(action)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.buttons[action.objectName()] = b
            bar.addWidget(b)
        bar.addSpacing(12)
        bar.addWidget(self.title, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.curves)
        split.addWidget(self.samples)
        self.splitter = split
        # The curves and the samples share the width by fit_split until the user drags the handle.
        self.split_by_user = False
        split.splitterMoved.connect(self._on_split_moved)
        split.installEventFilter(self)
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Training")
        self.panel_widgets: list[Any] = []
        self._panel_holders: dict[int, QWidget] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(self.banner)
        lay.addWidget(self.tabs, 1)

    # -- curves beside samples ----------------------------------------------------------
    #: The samples take at most this share of the width, and no more than the height (a grid of
    #: samples is about square, and wider than tall it is drawn at the height's size anyway).
    SAMPLES_SHARE = 0.4

    def fit_split(self) -> None:
        """Give the samples their capped share and the curves the rest.

        QSplitter split the width by the two views' size hints and stretch factors:
        at 1920x1080 the VAE's five curves got one column 411 px wide beside an
        8 x 8 grid of 526 px, and the stretch factors, applied to the shortfall as
        well, shrank the curves more than the samples.
        """
        if self.split_by_user:
            return
        # From the width, not sum(sizes()): on a Resize event the splitter has not yet spread its new width.
        total = self.splitter.contentsRect().width() - self.splitter.handleWidth()
        if total <= 0:
            return
        samples = min(int(total * self.SAMPLES_SHARE), self.splitter.height())
        samples = max(samples, min(self.samples.minimumSizeHint().width(), total // 2))
        wanted = [total - samples, samples]
        if self.splitter.sizes() != wanted:
            self.splitter.setSizes(wanted)

    def _on_split_moved(self, *_args) -> None:
        self.split_by_user = True

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt naming)
        if watched is self.splitter and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.fit_split()
        return super().eventFilter(watched, event)

    # -- banner ------------------------------------------------------------------------
    def show_banner(self, text: str, level: str = "info") -> None:
        self.banner.setStyleSheet(BANNER_STYLES.get(level, BANNER_STYLES["info"]))
        self.banner.setText(text)
        self.banner.show()

    def hide_banner(self) -> None:
        self.banner.hide()

    # -- capability panels --------------------------------------------------------------
    def set_panels(self, context: PanelContext | None) -> None:
        """Replace the extra tabs with those the run's capabilities call for."""
        for w in self.panel_widgets:
            if hasattr(w, "shutdown"):
                try:
                    w.shutdown()
                except Exception:  # noqa: BLE001 - a panel's cleanup must not break the window
                    pass
            holder = self._panel_holders.pop(id(w), w)
            i = self.tabs.indexOf(holder)
            if i >= 0:
                self.tabs.removeTab(i)
            holder.deleteLater()
        self.panel_widgets = []
        if context is None:
            return
        load_builtin_panels()
        for title, factory in panels_for(context.capabilities):
            try:
                w = factory(context)
            except Exception as e:  # noqa: BLE001
                w = QLabel(f"The {title} panel could not be built: {e}")
            self.panel_widgets.append(w)
            # A panel's minimum size must not widen the window past the screen: it scrolls instead.
            holder = QScrollArea()
            holder.setWidgetResizable(True)
            holder.setFrameShape(QScrollArea.Shape.NoFrame)
            holder.setWidget(fitted(w))  # sized by the panel's minimum height, see panels/controls.py
            self._panel_holders[id(w)] = holder
            self.tabs.addTab(holder, title)

    def forward_event(self, event: Any) -> None:
        for w in self.panel_widgets:
            handler = getattr(w, "on_event", None)
            if handler is not None:
                handler(event)
