"""MP4 export: finding an encoder, the ffmpeg command, the pipe (with a stand-in ffmpeg), and a real encode when ffmpeg exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from genstudio.core import video
from genstudio.core.video import VideoError, VideoWriter, even_frame, ffmpeg_command, find_video_writer, write_mp4

# A stand-in for ffmpeg: reads the frame size from "-s WxH", counts the raw RGB frames on stdin and writes
# "frames=N size=WxH first=R,G,B" to the output path (the last argument); exits 1 with a message when told to.
FAKE_FFMPEG = """#!{python}
import sys
args = sys.argv[1:]
if "{fail}" == "yes":
    sys.stderr.write("Unknown encoder 'libfoo'\\n")
    sys.exit(1)
w, h = map(int, args[args.index("-s") + 1].split("x"))
data = sys.stdin.buffer.read()
n, rest = divmod(len(data), w * h * 3)
assert rest == 0, "partial frame"
open(args[-1], "w").write(f"frames={{n}} size={{w}}x{{h}} first={{data[0]}},{{data[1]}},{{data[2]}}")
"""


def fake_ffmpeg(tmp_path, fail: bool = False) -> VideoWriter:
    exe = tmp_path / ("ffmpeg-fail" if fail else "ffmpeg")
    exe.write_text(FAKE_FFMPEG.format(python=sys.executable, fail="yes" if fail else "no"))
    exe.chmod(0o755)
    return VideoWriter(str(exe), "test stand-in")


def test_writer_found_on_path_then_imageio_ffmpeg_then_none(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffmpeg" if name == "ffmpeg" else None)
    assert find_video_writer() == VideoWriter("/usr/bin/ffmpeg", "ffmpeg on PATH")

    monkeypatch.setattr(shutil, "which", lambda name: None)
    bundled = tmp_path / "ffmpeg-linux64-v7"
    bundled.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", types.SimpleNamespace(get_ffmpeg_exe=lambda: str(bundled)))
    assert find_video_writer() == VideoWriter(str(bundled), "imageio-ffmpeg")

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails
    assert find_video_writer() is None
    with pytest.raises(VideoError, match="install it"):
        write_mp4([np.zeros((4, 4, 3), np.uint8)], tmp_path / "x.mp4")


def test_ffmpeg_command_pipes_raw_rgb_to_yuv420p(tmp_path):
    cmd = ffmpeg_command("/opt/ffmpeg", tmp_path / "out.mp4", 320, 162, 12.5)
    assert cmd[0] == "/opt/ffmpeg" and cmd[-1] == str(tmp_path / "out.mp4")
    joined = " ".join(cmd)
    assert "-f rawvideo -pix_fmt rgb24 -s 320x162 -r 12.5 -i -" in joined
    assert joined.index("-i -") < joined.index("-pix_fmt yuv420p")  # the output's pixel format, after the input
    assert "-y" in cmd and "-an" in cmd
    with pytest.raises(ValueError, match="even frame sizes"):
        ffmpeg_command("ffmpeg", "o.mp4", 321, 162, 10)
    with pytest.raises(ValueError, match="fps must be positive"):
        ffmpeg_command("ffmpeg", "o.mp4", 320, 162, 0)


def test_even_frame_pads_with_white_and_makes_rgb():
    grey = np.zeros((5, 7), np.uint8)
    out = even_frame(grey)
    assert out.shape == (6, 8, 3) and out[:5, :7].max() == 0 and out[5].min() == 255 and out[:, 7].min() == 255
    assert even_frame(np.zeros((4, 6, 4), np.uint8)).shape == (4, 6, 3)
    with pytest.raises(ValueError, match="uint8"):
        even_frame(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="H x W x 3"):
        even_frame(np.zeros((4, 4, 2), np.uint8))


def test_frames_are_piped_whole_and_failures_keep_ffmpeg_message(tmp_path):
    writer = fake_ffmpeg(tmp_path)
    frames = [np.full((9, 5, 3), k, np.uint8) for k in (10, 20, 30)]
    out = tmp_path / "chain.mp4"
    assert write_mp4(frames, out, fps=5, writer=writer) == 3
    assert out.read_text() == "frames=3 size=6x10 first=10,10,10"  # padded to even sizes
    with pytest.raises(ValueError, match="all frames need one size"):
        write_mp4([frames[0], np.zeros((4, 4, 3), np.uint8)], tmp_path / "mixed.mp4", writer=writer)
    assert not (tmp_path / "mixed.mp4").exists()
    with pytest.raises(ValueError, match="no frames"):
        write_mp4([], tmp_path / "none.mp4", writer=writer)
    bad = tmp_path / "bad.mp4"
    with pytest.raises(VideoError, match="Unknown encoder 'libfoo'"):
        write_mp4(frames, bad, writer=fake_ffmpeg(tmp_path, fail=True))
    assert not bad.exists()


@pytest.mark.skipif(find_video_writer() is None, reason="no ffmpeg on this machine (neither on PATH nor imageio-ffmpeg)")
def test_real_encode_decodes_back(tmp_path):
    writer = find_video_writer()
    h, w = 33, 50
    frames = []
    for k in range(12):
        f = np.full((h, w, 3), 255, np.uint8)
        f[:, : 4 * (k + 1)] = (200, 30, 30)  # a red bar that grows
        frames.append(f)
    out = tmp_path / "real.mp4"
    assert write_mp4(frames, out, fps=10, writer=writer) == 12
    assert out.stat().st_size > 100
    raw = subprocess.run(
        [writer.executable, "-loglevel", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    decoded = np.frombuffer(raw, np.uint8).reshape(-1, h + 1, w, 3)
    assert len(decoded) == 12
    last = decoded[-1].astype(int)
    assert abs(last[10, 5, 0] - 200) < 40 and last[10, 5, 1] < 90  # red survives the lossy encode
    assert last[10, w - 2].min() > 200  # white beyond the bar
    assert os.path.getsize(out) < 200_000
    assert video.MP4_HOW_TO_ENABLE.startswith("MP4 export needs ffmpeg")
