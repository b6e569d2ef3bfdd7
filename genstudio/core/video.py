"""MP4 export through ffmpeg, when one is installed: pure Python, no Qt.

genstudio does not ship a video encoder. It uses one already on the machine:
``ffmpeg`` on the PATH first, else the binary that the ``imageio-ffmpeg``
wheel bundles (``imageio_ffmpeg.get_ffmpeg_exe()``). Either way the frames
go the same route: raw RGB bytes piped to ``ffmpeg -f rawvideo``, encoded
to yuv420p (the pixel format every player decodes; it subsamples chroma by
2 in both directions, so width and height must be even, and frames are
padded by one white row or column when they are not).

When neither exists, :func:`find_video_writer` returns None and
:data:`MP4_HOW_TO_ENABLE` says what to install; the studio shows that text
on its disabled MP4 buttons.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

MP4_HOW_TO_ENABLE = (
    "MP4 export needs ffmpeg: install it (Debian/Ubuntu: sudo apt install ffmpeg; macOS: brew install ffmpeg) "
    "or pip install imageio-ffmpeg into genstudio's environment, then restart the studio"
)


class VideoError(RuntimeError):
    """The encoder is missing or failed; the message says why."""


@dataclass(frozen=True)
class VideoWriter:
    """An ffmpeg executable and where it was found ("ffmpeg on PATH" or "imageio-ffmpeg")."""

    executable: str
    source: str


def find_video_writer() -> VideoWriter | None:
    """ffmpeg on the PATH, else imageio-ffmpeg's bundled binary, else None."""
    exe = shutil.which("ffmpeg")
    if exe:
        return VideoWriter(exe, "ffmpeg on PATH")
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the wheel was installed without a binary for this platform
        return None
    return VideoWriter(exe, "imageio-ffmpeg") if exe and Path(exe).is_file() else None


def ffmpeg_command(executable: str, path: str | Path, width: int, height: int, fps: float) -> list[str]:
    """The command that reads ``width`` x ``height`` RGB24 frames from stdin and writes an MP4 at ``path``.

    No codec is forced: ffmpeg picks its MP4 default (H.264 with libx264 when
    it was built with it, MPEG-4 part 2 otherwise), so a minimal build works.
    """
    if width % 2 or height % 2 or width <= 0 or height <= 0:
        raise ValueError(f"yuv420p needs positive even frame sizes, got {width} x {height}; pad the frames with even_frame()")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return [
        executable,
        "-y",  # the user already confirmed the file name in the save dialog
        "-loglevel", "error",
        "-f", "rawvideo",
        "-pix_fmt", "rgb24",
        "-s", f"{width}x{height}",
        "-r", f"{fps:g}",
        "-i", "-",
        "-an",
        "-pix_fmt", "yuv420p",
        "-movflags", "+faststart",  # the index first, so a browser plays it while it loads
        str(path),
    ]  # fmt: skip


def even_frame(frame: np.ndarray) -> np.ndarray:
    """An H x W x 3 uint8 frame (grey H x W or H x W x 1 allowed), padded with white to even sizes."""
    a = np.asarray(frame)
    if a.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 pictures, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"frames must be H x W x 3 (or grey) pictures, got shape {a.shape}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    a = a[:, :, :3]
    h, w = a.shape[:2]
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2), (0, 0)), constant_values=255)
    return np.ascontiguousarray(a)


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 20.0, writer: VideoWriter | None = None) -> int:
    """Encode ``frames`` (uint8 pictures of one size) as an MP4 at ``path``; returns the number of frames.

    Raises :class:`VideoError` when no encoder is installed or ffmpeg fails
    (with its own message), ``ValueError`` for frames of the wrong type or
    changing size. A failed encode leaves no partial file behind.
    """
    writer = writer or find_video_writer()
    if writer is None:
        raise VideoError(MP4_HOW_TO_ENABLE)
    path = Path(path)
    proc: subprocess.Popen | None = None
    size: tuple[int, int] | None = None
    count = 0
    ok = False
    try:
        for frame in frames:
            a = even_frame(frame)
            if proc is None:
                size = (a.shape[1], a.shape[0])
                cmd = ffmpeg_command(writer.executable, path, size[0], size[1], fps)
                try:
                    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                except OSError as e:
                    raise VideoError(f"could not start {writer.executable} ({writer.source}): {e}") from e
            elif (a.shape[1], a.shape[0]) != size:
                raise ValueError(f"frame {count} is {a.shape[1]} x {a.shape[0]}, the first was {size[0]} x {size[1]}; all frames need one size")
            try:
                proc.stdin.write(a.tobytes())
            except BrokenPipeError:
                break  # ffmpeg quit early; its message is read below
            count += 1
        if proc is None:
            raise ValueError("no frames to write")
        try:
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace").strip()
        code = proc.wait()
        if code != 0:
            raise VideoError(f"ffmpeg ({writer.source}) failed with exit code {code}: {err[-800:] or 'no message'}")
        ok = True
        return count
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc is not None:
            proc.stderr.close()
        if not ok and path.exists() and proc is not None:
            path.unlink()  # a half-written video would look like a finished one
