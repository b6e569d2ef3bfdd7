"""The reverse-process tab's export: the cached chain as a GIF, an MP4 video (through ffmpeg) or one frame as a PNG.

A mixin of :class:`.reverse_view.ReverseView`; the writers themselves, with
no Qt, are in :mod:`..diffusion_frames`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from genstudio.core.video import MP4_HOW_TO_ENABLE, VideoError, find_video_writer

from ..diffusion_frames import save_chain_gif, save_chain_mp4, save_frame_png


class ChainExport:
    """Mixin (before QWidget): Export GIF, Export MP4 and Save frame PNG of ``self.chain``."""

    chain: Any
    slider: Any
    speed_combo: Any
    info_label: QLabel

    def _build_export_row(self, leading: list[QWidget]) -> QHBoxLayout:
        """The export buttons and the stride, after ``leading`` (the frame label, stretched, and the view's own switches)."""
        self.gif_button = QPushButton("Export GIF…")
        self.png_button = QPushButton("Save frame PNG…")
        self.mp4_button = QPushButton("Export MP4…")
        self.video_writer = find_video_writer()
        self.mp4_button.setToolTip(
            f"Export the chain as an MP4 video (every k-th step, like the GIF; encoder: {self.video_writer.source})"
            if self.video_writer is not None
            else MP4_HOW_TO_ENABLE
        )
        self.gif_stride = QSpinBox()
        self.gif_stride.setRange(1, 1000)
        self.gif_stride.setPrefix("every ")
        self.gif_stride.setSuffix(" steps")
        self.gif_stride.setToolTip("Frames of the GIF and the MP4: every k-th step, always ending on the finished sample")
        export = QHBoxLayout()
        export.addWidget(leading[0], 1)
        for w in (*leading[1:], self.gif_stride, self.gif_button, self.mp4_button, self.png_button):
            export.addWidget(w)
        self.gif_button.clicked.connect(self._gif_dialog)
        self.png_button.clicked.connect(self._png_dialog)
        self.mp4_button.clicked.connect(self._mp4_dialog)
        return export

    def _set_export_enabled(self, on: bool) -> None:
        for w in (self.gif_button, self.png_button, self.gif_stride):
            w.setEnabled(on)
        # Without an encoder the button stays disabled; its tooltip says what to install.
        self.mp4_button.setEnabled(on and self.video_writer is not None)

    def export_gif(self, path: str | Path, stride: int | None = None) -> int:
        """Write the cached chain as a GIF; returns its number of frames."""
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        fps = float(self.speed_combo.currentData())
        return save_chain_gif(self.chain, path, stride or self.gif_stride.value(), fps=fps)

    def export_mp4(self, path: str | Path, stride: int | None = None) -> int:
        """Write the cached chain as an MP4 through ffmpeg; returns its number of chain frames."""
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        if self.video_writer is None:
            raise VideoError(MP4_HOW_TO_ENABLE)
        fps = float(self.speed_combo.currentData())
        return save_chain_mp4(self.chain, path, stride or self.gif_stride.value(), fps=fps, writer=self.video_writer)

    def export_png(self, path: str | Path) -> Path:
        if self.chain is None:
            raise RuntimeError("no chain to export: run the sampler first")
        return save_frame_png(self.chain, self.slider.value(), path)

    def _gif_dialog(self) -> None:
        self._export_dialog("Export the chain as a GIF", "diffusion_chain.gif", "GIF (*.gif)", self.export_gif)

    def _mp4_dialog(self) -> None:
        self._export_dialog("Export the chain as an MP4 video", "diffusion_chain.mp4", "MP4 video (*.mp4)", self.export_mp4)

    def _png_dialog(self) -> None:
        self._export_dialog("Save this frame as a PNG", f"diffusion_frame_{self.slider.value()}.png", "PNG (*.png)", self.export_png)

    def _export_dialog(self, title: str, name: str, kinds: str, write: Callable[[str], Any]) -> None:
        """Ask where, write there, and say what was written (or why not) in the info line."""
        path, _ = QFileDialog.getSaveFileName(self, title, name, kinds)
        if not path:
            return
        try:
            written = write(path)
        except (OSError, VideoError) as e:
            self.info_label.setText(f"could not write '{path}': {e}")
            return
        self.info_label.setText(f"wrote {written} frames to {path}" if isinstance(written, int) else f"wrote {path}")
