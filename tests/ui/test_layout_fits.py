"""The window looked at as a person would: at 1366x768 and 1920x1080, with a small
trained run of each family open, every tab (and every tab inside a panel) is
shown, and no visible label, button or check box is narrower than its text, and
no visible widget lies outside the window.

Labels that elide on purpose carry their full text in a tooltip and are skipped.
The checks are geometric (offscreen platform, no display), never timed.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QAbstractButton, QAbstractScrollArea, QApplication, QCheckBox, QLabel, QPushButton, QScrollArea, QSlider, QTabWidget, QWidget

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

RUN = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}
#: One tiny run per family (a few steps: the layout is what is tested, not the pictures).
TINY = {
    "ddpm": ("digits", {"base_channels": 8, "timesteps": 40, "attention": False}, {}),
    "vae": ("digits", {"latent_dim": 2, "channels": 8, "hidden": 32}, {}),
    "dcgan": ("digits", {"g_channels": 8, "d_channels": 8, "z_dim": 16}, {}),
    "gated-pixelcnn": ("digits", {"channels": 12, "layers": 3, "first_kernel": 3, "output_hidden": 12}, {}),
    "realnvp": ("moons", {"couplings": 4, "hidden": 32}, {"n_points": 500}),
}
SIZES = [(1366, 768), (1920, 1080)]
MIN_SLIDER = 60  # pixels: a narrower slider jumps from end to end when dragged
SLACK = 2  # pixels of rounding between a font's advance and a laid-out width


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("layout-runs")
    out = {}
    for model, (dataset, over, data) in TINY.items():
        spec = RunSpec.create(model, dataset, {**RUN, "steps": 3}, over, data)
        events = list(train(spec, root / model))
        assert events[-1].status == "completed", events[-1].message
        out[model] = root / model
    return out


def _text_of(w: QWidget) -> str:
    if isinstance(w, QLabel):
        if w.wordWrap() or w.pixmap() is not None and not w.pixmap().isNull():
            return ""  # a wrapping label grows down, not sideways
        text = w.text()
        if "<" in text and ">" in text:
            return ""  # rich text: its width is not the plain advance
        return text
    if isinstance(w, QAbstractButton):
        return w.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    return ""


def _needed_width(w: QWidget, text: str) -> int:
    fm = w.fontMetrics()
    widest = max((fm.horizontalAdvance(line) for line in text.splitlines()), default=0)
    if isinstance(w, QCheckBox):
        return widest + 16  # the box and its gap
    if isinstance(w, QPushButton):
        return widest + 8
    if isinstance(w, QLabel):
        return widest + 2 * w.margin() + 2 * w.indent() * 0
    return widest


def _in_scroll_area(w: QWidget, window: QWidget) -> bool:
    """True when ``w`` is scrolled content (a scroll area clips it on purpose; it is checked for sideways scrolling instead)."""
    p = w.parentWidget()
    while p is not None and p is not window:
        if isinstance(p, QAbstractScrollArea) and p.viewport().isAncestorOf(w):
            return True
        p = p.parentWidget()
    return False


def layout_problems(window: QWidget) -> list[str]:
    """Every visible text widget narrower than its text, and every visible widget outside ``window``."""
    problems: list[str] = []
    frame = QRect(QPoint(0, 0), window.size())
    for w in window.findChildren(QWidget):
        if not w.isVisible() or w.isWindow() or w.width() <= 0:
            continue
        if isinstance(w, QScrollArea) and w.horizontalScrollBar().isVisible():
            problems.append(f"{type(w).__name__} {w.objectName()!r} scrolls sideways ({w.widget().minimumSizeHint().width()} px in {w.viewport().width()})")
        if not _in_scroll_area(w, window) and not w.visibleRegion().isEmpty():  # a dock tabbed behind another is parked off-window
            rect = QRect(w.mapTo(window, QPoint(0, 0)), w.size())
            if not frame.contains(rect):
                problems.append(f"{type(w).__name__} {w.objectName() or _text_of(w)[:30]!r} at {rect} lies outside the window {frame}")
        if isinstance(w, QSlider) and w.orientation() == Qt.Orientation.Horizontal and not w.visibleRegion().isEmpty() and w.width() < MIN_SLIDER:
            problems.append(f"QSlider {w.toolTip()[:30]!r} is {w.width()} px wide: too narrow to drag")
        if not isinstance(w, (QLabel, QPushButton, QCheckBox)) or w.visibleRegion().isEmpty():
            continue
        text = _text_of(w)
        if not text.strip():
            continue
        if w.toolTip() and w.toolTip().strip():
            continue  # elides on purpose: the full text is in its tooltip
        need = _needed_width(w, text)
        if w.width() + SLACK < need:
            problems.append(f"{type(w).__name__} {text[:40]!r} is {w.width()} px wide, its text needs {need}")
    return problems


def _tab_widgets(root: QWidget) -> list[QTabWidget]:
    return [t for t in root.findChildren(QTabWidget) if t.isVisible()]


def walk_tabs(qtbot, window, seen: list[str]) -> list[str]:
    """Show every tab of every visible tab widget, recursively; the problems seen on each."""
    problems: list[str] = []
    top = window.training_view.tabs
    for i in range(top.count()):
        top.setCurrentIndex(i)
        qtbot.wait(30)
        QApplication.processEvents()
        inner = [t for t in _tab_widgets(top.widget(i))]
        if not inner:
            seen.append(top.tabText(i))
            problems += [f"[{top.tabText(i)}] {p}" for p in layout_problems(window)]
            continue
        for tabs in inner:
            for j in range(tabs.count()):
                tabs.setCurrentIndex(j)
                qtbot.wait(30)
                QApplication.processEvents()
                name = f"{top.tabText(i)} / {tabs.tabText(j)}"
                seen.append(name)
                problems += [f"[{name}] {p}" for p in layout_problems(window)]
    return problems


@pytest.fixture
def sized_window(qtbot, settings, tmp_path, monkeypatch, request):
    """The main window as it opens on a screen of the given size (the offscreen screen is 800x800:
    the laptop layout is chosen by size, as MainWindow chooses it from the real screen)."""
    from genstudio.ui.main_window import MainWindow

    size = request.param
    monkeypatch.setattr(MainWindow, "COMPACT_BELOW", size[0] + 1 if size[0] < 1600 else 0)
    w = MainWindow(settings=settings, runs_root=tmp_path / "runs")
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    yield w
    w.shutdown(30_000)


@pytest.mark.parametrize("sized_window", SIZES, ids=lambda s: f"{s[0]}x{s[1]}", indirect=True)
def test_every_tab_fits_the_screen(sized_window, qtbot, runs):
    window = sized_window
    size = (window.width(), window.height())
    seen: list[str] = []
    problems: list[str] = []
    for model, run in runs.items():
        assert window.open_run(run), model
        # Let the panels load their checkpoints (their placeholders differ from what they show).
        qtbot.wait(400)
        problems += [f"{model} {p}" for p in walk_tabs(qtbot, window, seen)]
    assert len(seen) >= 10, seen
    assert not problems, "\n".join(dict.fromkeys(problems))


def test_the_check_fails_on_a_label_too_narrow_for_its_text(qtbot):
    """A deliberately broken layout: a fixed-width label and a widget pushed off the window."""
    from PySide6.QtWidgets import QHBoxLayout

    w = QWidget()
    qtbot.addWidget(w)
    lay = QHBoxLayout(w)
    cut = QLabel("A long label that cannot fit in forty pixels")
    cut.setFixedWidth(40)
    lay.addWidget(cut)
    w.resize(300, 100)
    outside = QPushButton("Off", w)
    outside.setGeometry(280, 10, 80, 30)
    w.show()
    qtbot.waitExposed(w)
    problems = layout_problems(w)
    assert any("forty pi" in p and "40 px" in p for p in problems), problems
    assert any("outside the window" in p for p in problems), problems
    cut.setToolTip(cut.text())  # the same label, eliding on purpose, is accepted
    assert not any("forty pi" in p for p in layout_problems(w))


def test_the_window_opens_at_a_size_that_fits_the_screen(window):
    # The offscreen screen is 800x800: the window takes its height, and no more width than its minimum.
    screen = window.screen().availableGeometry()
    minimum = window.minimumSizeHint()
    assert minimum.width() <= 1366 - 16 and minimum.height() <= 768 - 40, minimum  # fits a 1366x768 laptop with its frame
    assert window.height() <= screen.height(), (window.size(), screen)
    assert window.width() <= max(screen.width(), minimum.width()), (window.size(), screen)
