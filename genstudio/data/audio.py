"""The user's own audio: a ``.wav`` file, or a folder of them, cut into fixed-length clips for WaveNet; and ``.wav`` export.

Audio is represented as everywhere in genstudio (see ``points.waveforms``):
float32 N x 1 x L in [-1, 1], with the sample rate in ``DataInfo``. Each
file is read with the standard library's ``wave`` module (8-, 16-, 24- and
32-bit integer PCM), mixed down to mono, brought to one sample rate and cut
into non-overlapping clips of ``options.clip_length`` samples (the tail
shorter than a clip is dropped).

Sample rate: ``options.sample_rate`` when set, otherwise the most common
rate among the files. A file at another rate is resampled with a polyphase
filter (``scipy.signal.resample_poly``, which low-passes before
decimating, so nothing aliases) and the resampling is listed in
``Dataset.problems``. A file that cannot be read is skipped and listed; a
folder without a usable file is an error. In a folder with sub-folders each
sub-folder is a class, as for image folders.

:func:`write_wav` writes generated audio back out (16-bit PCM), for the
studio's WaveNet view and ``genstudio sample --out x.wav``.
"""

from __future__ import annotations

import math
import wave
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from genstudio.core.data_types import DataInfo
from genstudio.data.dataset import DataError, DataOptions, Dataset

# Worded for the studio and the command line alike (data.path names the setting in both).
_HINT = "set the data path (data.path) to a .wav file or a folder of .wav files (sub-folders are classes)"
#: Rates resampling is allowed between (a typo such as 441 Hz is an error, not a resample).
MIN_RATE, MAX_RATE = 1000, 192_000


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(mono float64 samples in [-1, 1], sample rate) of one PCM ``.wav``; raises DataError naming the problem."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate, frames = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
            raw = f.readframes(frames)
    except (wave.Error, EOFError, RuntimeError) as e:  # RuntimeError: wave's chunk reader on a size past the end
        raise DataError(f"'{path}' is not a PCM .wav file the wave module can read ({e}); convert it to 16-bit PCM") from e
    except OSError as e:
        raise DataError(f"cannot read '{path}' ({e})") from e
    if width not in (1, 2, 3, 4):
        raise DataError(f"'{path}' has {8 * width}-bit samples; use 8-, 16-, 24- or 32-bit PCM")
    usable = len(raw) // (width * channels) * width * channels
    raw = raw[:usable]  # a truncated last frame
    if width == 1:  # 8-bit PCM is unsigned
        a = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        a = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float64) / float(1 << 23)
    else:
        dtype = "<i2" if width == 2 else "<i4"
        a = np.frombuffer(raw, dtype).astype(np.float64) / float(1 << (8 * width - 1))
    a = a.reshape(-1, channels).mean(1)  # mono: the average of the channels
    return np.clip(a, -1.0, 1.0), int(rate)


def write_wav(path: str | Path, audio: np.ndarray | torch.Tensor, sample_rate: int, gap_s: float = 0.1) -> Path:
    """Write mono 16-bit PCM ``.wav``: one clip (L), or several (N x L or N x 1 x L) one after another with ``gap_s`` of silence.

    Samples are clipped to [-1, 1] and scaled to +-32767.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate}")
    a = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if a.ndim == 3:
        a = a[:, 0]
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"audio must be L, N x L or N x 1 x L samples, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("audio contains NaN or infinite samples")
    gap = np.zeros(int(round(gap_s * sample_rate)))
    parts: list[np.ndarray] = []
    for k, clip in enumerate(a):
        if k:
            parts.append(gap)
        parts.append(clip)
    pcm = (np.clip(np.concatenate(parts), -1, 1) * 32767).round().astype("<i2")
    path = Path(path)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(pcm.tobytes())
    return path


def resample(a: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Polyphase resampling from one rate to another (anti-aliased)."""
    if rate_from == rate_to:
        return a
    from scipy.signal import resample_poly

    g = math.gcd(rate_from, rate_to)
    return resample_poly(a, rate_to // g, rate_from // g)


def _list_wavs(root: Path) -> tuple[list[tuple[Path, int]], tuple[str, ...], list[str]]:
    if root.is_file():
        return [(root, -1)], (), []
    visible = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    class_dirs = [p for p in visible if p.is_dir()]
    problems: list[str] = []
    if not class_dirs:
        return [(p, -1) for p in visible if p.is_file() and p.suffix.lower() == ".wav"], (), problems
    files: list[tuple[Path, int]] = []
    names: list[str] = []
    for p in visible:
        if p.is_file() and p.suffix.lower() == ".wav":
            problems.append(f"skipped {p}: not inside a class folder")
    for d in class_dirs:
        members = sorted(f for f in d.rglob("*.wav") if f.is_file())
        if not members:
            problems.append(f"skipped {d}: no .wav files")
            continue
        files += [(f, len(names)) for f in members]
        names.append(d.name)
    return files, tuple(names), problems


def wav_files(options: DataOptions) -> Dataset:
    """Clips of ``options.clip_length`` samples from the ``.wav`` file or folder at ``options.path``."""
    if not options.path:
        raise DataError(f"dataset 'wav' needs a path; {_HINT}")
    root = Path(options.path).expanduser()
    if not root.exists():
        raise DataError(f"data path '{root}' does not exist; {_HINT}")
    if root.is_file() and root.suffix.lower() != ".wav":
        raise DataError(f"'{root}' is not a .wav file; {_HINT}")
    length = int(options.clip_length)
    if length < 2:
        raise DataError(f"clip_length must be at least 2 samples, got {length}")
    want = int(options.sample_rate)
    if want and not MIN_RATE <= want <= MAX_RATE:
        raise DataError(f"sample_rate {want} Hz is outside {MIN_RATE}..{MAX_RATE} Hz; set 0 to keep the files' rate")

    files, class_names, problems = _list_wavs(root)
    decoded: list[tuple[Path, int, np.ndarray, int]] = []
    for path, label in files:
        try:
            a, rate = read_wav(path)
        except DataError as e:
            if root.is_file():
                raise
            problems.append(f"skipped {path}: {e}")
            continue
        if not MIN_RATE <= rate <= MAX_RATE:
            problems.append(f"skipped {path}: sample rate {rate} Hz is outside {MIN_RATE}..{MAX_RATE} Hz")
            continue
        decoded.append((path, label, a, rate))
    if not decoded:
        raise DataError(f"no readable .wav files in '{root}' ({len(problems)} skipped); {_HINT}")
    rate = want or Counter(r for *_, r in decoded).most_common(1)[0][0]

    clips: list[np.ndarray] = []
    labels: list[int] = []
    for path, label, a, r in decoded:
        if r != rate:
            a = resample(a, r, rate)
            problems.append(f"resampled {path} from {r} Hz to {rate} Hz")
        n = len(a) // length
        if n == 0:
            problems.append(f"skipped {path}: {len(a)} samples at {rate} Hz, shorter than one clip of {length}")
            continue
        clips.append(a[: n * length].reshape(n, length))
        labels += [label] * n
    if not clips:
        raise DataError(
            f"every file in '{root}' is shorter than one clip of {length} samples; lower clip_length"
        )
    x = np.clip(np.concatenate(clips), -1.0, 1.0).astype(np.float32)
    y = torch.tensor(labels, dtype=torch.int64)
    if class_names:
        present = sorted(set(labels))
        if len(present) < len(class_names):
            remap = {old: new for new, old in enumerate(present)}
            y = torch.tensor([remap[v] for v in labels], dtype=torch.int64)
            class_names = tuple(class_names[i] for i in present)
    info = DataInfo(
        kind="audio",
        shape=(1, length),
        num_classes=len(class_names),
        name="wav",
        class_names=class_names,
        sample_rate=rate,
    )
    return Dataset(torch.from_numpy(x)[:, None], y, info, problems)
