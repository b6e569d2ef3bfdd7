"""The adversarial view of an image GAN (dcgan, and gan / cgan / wgan-gp / lsgan on images).

What the 2-D heatmap shows on toy data has no picture in 784 dimensions, so
on images the GAN view shows the game through D's eyes on one batch:

1. the distributions of D(x) on real validation images and of D(G(z)) on a
   fixed batch of fakes, as two overlaid histograms (a D that wins pushes
   them apart; at equilibrium they overlap, D(x) = D(G(z)) = 1/2 for the
   original GAN, Goodfellow et al. 2014, Proposition 1);
2. the run's D and G loss curves side by side, read from its
   ``metrics.jsonl``, with the sandbox steps continuing them after the
   checkpoint step;
3. the fakes D finds most and least real, and the real images D finds least
   real (where D's idea of "real" is narrower than the data).

The widget only draws; :class:`.panel.GanViewPanel`
owns the sandbox model, computes D's scores and steps the players.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...widgets import ImageView, style_plot
from ..gan_math import ScoresView, sandbox_window, scores_view
from ..run_data import LossHistory

REAL_COLOUR = (30, 60, 140)
FAKE_COLOUR = (235, 100, 30)
#: Sandbox steps drawn with a dot each; more are a plain line.
SYMBOLS_UP_TO = 60


class AdversarialImageView(QWidget):
    """Histograms of D(x) and D(G(z)), D and G loss curves side by side, most / least real samples."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.hist = pg.PlotWidget()
        self.hist.setMenuEnabled(False)
        self.hist.setMouseEnabled(False, False)
        style_plot(self.hist)
        # No legend box: both ends of the axis hold bars. The title names the colours instead.
        self.hist_real = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(*REAL_COLOUR, 110), pen=pg.mkPen(*REAL_COLOUR, width=2), name="D(x), real")
        self.hist_fake = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(*FAKE_COLOUR, 110), pen=pg.mkPen(*FAKE_COLOUR, width=2), name="D(G(z)), fake")
        self.hist.addItem(self.hist_real)
        self.hist.addItem(self.hist_fake)
        self.hist.getPlotItem().setLabel("left", "images")
        self.counts: tuple[np.ndarray, np.ndarray] | None = None
        self.means: tuple[float, float] = (float("nan"), float("nan"))
        self._title = ""
        self._kind = ""
        self._run_shown: object = None  # the LossHistory drawn: redrawn only when another one comes

        self.loss_plots: dict[str, pg.PlotWidget] = {}
        self.run_curves: dict[str, pg.PlotDataItem] = {}
        self.sandbox_curves: dict[str, pg.PlotDataItem] = {}
        self.checkpoint_lines: dict[str, pg.InfiniteLine] = {}
        real_hex, fake_hex = ("#%02x%02x%02x" % c for c in (REAL_COLOUR, FAKE_COLOUR))
        for key, title in (("d_loss", "D loss"), ("g_loss", "G loss")):
            # The title names the colours: a legend box covered the curves in a plot this low (1366x768).
            p = pg.PlotWidget(title=f"{title}: <span style='color:{real_hex}'>training run</span>, "
                                    f"<span style='color:{fake_hex}'>sandbox</span>")
            p.setMenuEnabled(False)
            style_plot(p)
            p.getPlotItem().setLabel("bottom", "step")
            self.run_curves[key] = p.plot(pen=pg.mkPen(*REAL_COLOUR, width=2), name="training run")
            self.sandbox_curves[key] = p.plot(pen=pg.mkPen(*FAKE_COLOUR, width=2), symbol="o", symbolSize=4, symbolBrush=FAKE_COLOUR, symbolPen=None, name="sandbox", connect="finite")
            line = pg.InfiniteLine(angle=90, pen=pg.mkPen(120, 120, 120, style=pg.QtCore.Qt.PenStyle.DashLine))
            p.addItem(line)
            self.checkpoint_lines[key] = line
            self.loss_plots[key] = p

        self.strips = {
            "fake_most": ImageView(placeholder="no fakes yet"),
            "fake_least": ImageView(placeholder="no fakes yet"),
            "real_least": ImageView(placeholder="no real images (dataset not available)"),
        }
        self.strip_labels = {
            "fake_most": QLabel("Fakes D finds most real"),
            "fake_least": QLabel("Fakes D finds least real"),
            "real_least": QLabel("Real images D finds least real"),
        }
        self.strip_scores: dict[str, np.ndarray] = {}
        for v in self.strips.values():
            v.setMinimumSize(200, 40)

        strips = QGridLayout()
        for row, key in enumerate(self.strips):
            strips.addWidget(self.strip_labels[key], row, 0)
            strips.addWidget(self.strips[key], row, 1)
        strips.setColumnStretch(1, 1)
        losses = QHBoxLayout()
        losses.addWidget(self.loss_plots["d_loss"])
        losses.addWidget(self.loss_plots["g_loss"])
        top = QHBoxLayout()
        # The strips' size hints (320 px images) would otherwise squeeze the histograms to ~70 px on a laptop.
        self.hist.setMinimumWidth(340)
        top.addWidget(self.hist, 1)
        top.addLayout(strips, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top, 3)
        lay.addLayout(losses, 2)

    def show_scores(
        self, kind: str, d_real: np.ndarray, d_fake: np.ndarray, real: np.ndarray, fakes: np.ndarray
    ) -> None:
        """Histograms and strips for D's outputs on ``real`` and ``fakes`` (images N x C x H x W in [0, 1])."""
        self.show_view(scores_view(kind, d_real, d_fake, real, fakes))

    def show_view(self, view: ScoresView) -> None:
        """Draw what :func:`..gan_math.scores_view` computed (on the sandbox's worker thread): no arithmetic here."""
        self.hist_real.setData(view.edges, view.real_counts)
        self.hist_fake.setData(view.edges, view.fake_counts)
        self.counts = (view.real_counts, view.fake_counts)
        self.means = view.means
        real_hex, fake_hex = ("#%02x%02x%02x" % c for c in (REAL_COLOUR, FAKE_COLOUR))
        title = (
            # Two short lines: a long title sets the plot's minimum width and the layout then crops the axis.
            f"<span style='color:{real_hex}'>D(x) on {view.n_real} real images: mean {self.means[0]:.2f}</span><br>"
            f"<span style='color:{fake_hex}'>D(G(z)) on {view.n_fake} fakes: mean {self.means[1]:.2f}</span>"
        )
        plot = self.hist.getPlotItem()
        if title != self._title:  # a new title re-lays the plot out: only when it changed
            self._title = title
            plot.setTitle(title)
        if view.kind != self._kind:
            self._kind = view.kind
            plot.setLabel("bottom", "D's probability of real" if view.kind == "probability" else "D's score (higher: more real)")
        edges = view.edges
        self.hist.setXRange(float(edges[0]), float(edges[-1]), padding=0.02)
        self.hist.setYRange(0, max(int(view.real_counts.max(initial=0)), int(view.fake_counts.max(initial=0)), 1) * 1.08, padding=0)
        for key, (picture, scores) in view.strips.items():
            self.strips[key].set_array(picture)
            self.strip_scores[key] = scores
            shown = ", ".join(f"{s:.2f}" for s in scores[:4])
            base = self.strip_labels[key].text().split("\n")[0]
            self.strip_labels[key].setText(f"{base}\nD: {shown}{'…' if len(scores) > 4 else ''}")

    def show_losses(self, run: LossHistory, checkpoint_step: int, sandbox: dict[str, list[float]]) -> None:
        """The run's curves, a dashed line at the checkpoint the sandbox started from, and the sandbox's steps after it.

        Once the sandbox has steps the x axis zooms to the checkpoint's
        neighbourhood (a few sandbox steps are invisible beside thousands of
        training steps); the mouse pans and zooms back out.
        """
        steps = checkpoint_step + np.asarray(sandbox.get("step", []), float)
        new_run = run is not self._run_shown  # the run's curves change with a new checkpoint, not with sandbox steps
        self._run_shown = run
        for key in ("d_loss", "g_loss"):
            p = self.loss_plots[key]
            if new_run:
                self.run_curves[key].setData(run.step, getattr(run, key))
            values = np.asarray(sandbox.get(key, []), float)
            ok = np.isfinite(values)  # a G-only first step leaves d_loss unknown
            # A dot per sandbox step while they can be told apart; past that the dots only cost drawing time.
            self.sandbox_curves[key].setSymbol("o" if ok.sum() <= SYMBOLS_UP_TO else None)
            self.sandbox_curves[key].setData(steps[ok], values[ok])
            self.checkpoint_lines[key].setValue(checkpoint_step)
            if len(steps):
                lo, hi = sandbox_window(checkpoint_step, len(steps), float(run.step[0]) if len(run.step) else 0.0)
                near = run.step >= lo
                shown = np.concatenate([getattr(run, key)[near], values[np.isfinite(values)]])
                p.setXRange(lo, hi, padding=0.02)
                if len(shown):
                    p.setYRange(float(shown.min()), float(shown.max()), padding=0.1)
            else:
                p.enableAutoRange()
