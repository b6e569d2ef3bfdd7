"""The Training tab's curves read as a person reads them: at 1366x768 and 1920x1080 no two tick
labels of an axis touch ("0 200400 600"), a short run still gets two or more step labels (a lone
"50" said nothing), and nothing names the series on top of the data (a legend box covered the
curves): the plot's title names them instead.

The label rectangles are the ones pyqtgraph draws (its own draw specs, measured with the axis'
font), so the check sees what the screen shows. Offscreen, geometric, never timed.
"""

from __future__ import annotations

import pytest
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication

from genstudio.core.engine import train
from genstudio.core.spec import RunSpec

SIZES = [(1366, 768), (1920, 1080)]
#: 50 steps, a loss every 10 and a validation pass at 25 and 50: the Loss plot holds three series
#: (loss, loss (val), loss_ema (val)) and the bound plots start at step 25, later than the others.
RUN = {"batch_size": 16, "log_every": 10, "sample_every": 0, "preview_every_s": 0, "eval_every": 25, "checkpoint_every": 0, "preview_n": 4, "steps": 50}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plots-run") / "ddpm"
    spec = RunSpec.create("ddpm", "digits", RUN, {"base_channels": 8, "timesteps": 40, "attention": False}, {})
    events = list(train(spec, out))
    assert events[-1].status == "completed", events[-1].message
    return out


def tick_label_rects(axis: pg.AxisItem) -> list[tuple[QRectF, str]]:
    """The rectangles and texts of the labels ``axis`` draws at its current size and range."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(QRectF(rect), text) for rect, _flags, text in texts]


#: Pixels that must separate two labels: closer, "200" and "400" read as "200400".
GAP = 6


def label_collisions(axis: pg.AxisItem) -> list[str]:
    rects = [(r.adjusted(-GAP / 2, -GAP / 2, GAP / 2, GAP / 2), t) for r, t in tick_label_rects(axis)]
    return [f"{a[1]!r} {a[0]} touches {b[1]!r} {b[0]}" for i, a in enumerate(rects) for b in rects[i + 1 :] if a[0].intersects(b[0])]


@pytest.fixture
def sized_window(qtbot, settings, tmp_path, monkeypatch, request):
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
def test_ticks_apart_and_no_legend_on_the_curves(sized_window, qtbot, short_run):
    window = sized_window
    assert window.open_run(short_run)
    curves = window.training_view.curves
    qtbot.waitUntil(lambda: len([p for p in curves.plots.values() if p.placed]) == 4 and curves.graphics.isVisible(), timeout=10_000)
    curves.redraw()
    qtbot.wait(100)  # the titles wrap on a queued call after the layout settles
    QApplication.processEvents()
    problems: list[str] = []
    for title, plot in curves.plots.items():
        item = plot.item
        assert item.legend is None, f"{title}: a legend box lies on the data"
        vb_rect = item.vb.sceneBoundingRect()
        assert vb_rect.width() > 100 and vb_rect.height() > 60, (title, vb_rect)  # room to read a curve
        heading = item.titleLabel
        text = heading.item.toPlainText()
        if len(plot.curves) > 1:
            for (name, split) in plot.curves:
                label = name if split == "train" else f"{name} ({split})"
                assert label in text, f"{title}: the title {text!r} does not name {label!r}"
        # The title (with its key) sits above the data, wrapped inside the plot's width.
        title_rect = heading.mapRectToScene(heading.itemRect())
        if title_rect.intersects(vb_rect):
            problems.append(f"{title}: its title {title_rect} covers the data {vb_rect}")
        if title_rect.width() > item.sceneBoundingRect().width() + 1:
            problems.append(f"{title}: its title {title_rect.width():.0f} px is wider than the plot {item.sceneBoundingRect().width():.0f}")
        for side in ("left", "bottom"):
            problems += [f"{title} {side}: {c}" for c in label_collisions(item.getAxis(side))]
        steps = [t for _, t in tick_label_rects(item.getAxis("bottom"))]
        if len(steps) < 2:
            problems.append(f"{title}: the step axis shows {steps} over a 50-step run")
        # Every plot shows the whole run: the training curves start at step 10 even where a plot's
        # own series (a validation bound) starts at step 25.
        lo, hi = item.vb.viewRange()[0]
        if not (lo <= 10 and hi >= 50):
            problems.append(f"{title}: shows steps {lo:.1f}-{hi:.1f}, not the run's 10-50")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("width", [150, 240, 420, 900])
def test_a_short_run_gets_two_or_more_step_labels_at_any_width(qtbot, width):
    """Steps 10-50 in a plot 150 to 900 px wide: two labels at least, none touching."""
    from genstudio.ui.curves_view import FittedAxis

    w = pg.PlotWidget(axisItems={"bottom": FittedAxis("bottom"), "left": FittedAxis("left")})
    qtbot.addWidget(w)
    w.plot([10, 20, 30, 40, 50], [1.0, 0.9, 0.8, 0.7, 0.6])
    w.resize(width, 200)
    w.show()
    qtbot.waitExposed(w)
    QApplication.processEvents()
    bottom = w.getPlotItem().getAxis("bottom")
    labels = [t for _, t in tick_label_rects(bottom)]
    assert len(labels) >= 2, labels
    assert not label_collisions(bottom)
    assert not label_collisions(w.getPlotItem().getAxis("left"))


def test_the_collision_check_sees_labels_run_together(qtbot):
    """A deliberately broken axis (a label every 200 steps in a plot 200 px wide, as pyqtgraph's own
    spacing chose) prints "0 200400 600": the check reports it, and the fitted axis at the same size does not."""
    from genstudio.ui.curves_view import FittedAxis

    broken = pg.PlotWidget()
    broken.getPlotItem().getAxis("bottom").setTickSpacing(major=200, minor=100)
    fitted = pg.PlotWidget(axisItems={"bottom": FittedAxis("bottom")})
    for w in (broken, fitted):
        qtbot.addWidget(w)
        w.plot([0, 1000], [0, 1])
        w.resize(200, 150)
        w.show()
        qtbot.waitExposed(w)
    QApplication.processEvents()
    assert label_collisions(broken.getPlotItem().getAxis("bottom"))
    assert not label_collisions(fitted.getPlotItem().getAxis("bottom"))


def test_a_wrapped_title_keeps_each_series_name_whole(qtbot):
    """A title wrapped to a narrow plot broke 'd_fake (val)' after 'd_fake' (seen at 1920x1080: '(val)' alone on
    the second line, under another series' name)."""
    from genstudio.ui.curves_view import TitleKey

    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    item = widget.getPlotItem()
    key = TitleKey(item, "D outputs")
    curves = {}
    for k, (name, split) in enumerate([("d_real", "train"), ("d_real", "val"), ("d_fake", "train"), ("d_fake", "val")]):
        pen = pg.mkPen(pg.intColor(k))
        curves[(name, split)] = type("C", (), {"smooth": item.plot(pen=pen)})()
    widget.show()
    key.update(curves)
    wrapped = 0
    for width in range(200, 460, 10):
        widget.resize(width, 200)
        QApplication.processEvents()
        key.fit()
        doc = item.titleLabel.item.document()
        lines = []
        block = doc.begin()
        while block.isValid():
            layout = block.layout()
            for i in range(layout.lineCount()):
                line = layout.lineAt(i)
                lines.append(block.text()[line.textStart() : line.textStart() + line.textLength()].strip())
            block = block.next()
        wrapped += len(lines) >= 2
        assert not any(line.startswith("(val)") for line in lines), (width, lines)
        assert not any(line.rstrip("\u2060").endswith(("\u2013", "\u25cf", "\u2501")) for line in lines), (width, lines)  # a key glyph without its name
    assert wrapped, "the title never wrapped: the check saw nothing"


@pytest.mark.parametrize("sized_window", SIZES, ids=lambda s: f"{s[0]}x{s[1]}", indirect=True)
def test_the_curves_get_the_width_the_samples_do_not_need(sized_window, qtbot, short_run):
    """The sample grid takes at most 40 % of the Training tab's width (and no more than its height): at
    1920x1080 the splitter gave an 8 x 8 grid 526 px and the VAE's five curves one column of 411 px.
    Five plots then go in two columns. A handle dragged by the user is left where it was put."""
    window = sized_window
    assert window.open_run(short_run)
    view = window.training_view
    curves = view.curves
    qtbot.waitUntil(lambda: curves.graphics.isVisible() and curves.graphics.width() > 0, timeout=10_000)
    QApplication.processEvents()
    left, right = view.splitter.sizes()
    assert right <= 0.4 * (left + right) + 1, (left, right)
    assert right <= view.splitter.height(), (right, view.splitter.height())
    assert left >= 1.4 * right, (left, right)
    assert curves._columns(5) == 2, (curves.graphics.size(), "five plots in one column")
    # The user's split stays through a resize of the window.
    view.splitter.moveSplitter(left // 2, 1)
    QApplication.processEvents()
    moved = view.splitter.sizes()
    assert view.split_by_user and moved[0] < left
    window.resize(window.width() - 40, window.height())
    QApplication.processEvents()
    assert view.splitter.sizes()[0] < 0.5 * sum(view.splitter.sizes()), view.splitter.sizes()
