""".wav files as a dataset: clips, mono mix-down, sample widths, resampling, classes, and clear errors."""

from __future__ import annotations

import wave

import numpy as np
import pytest

import torch

from genstudio.data.audio import read_wav, wav_files, write_wav
from genstudio.data.dataset import DataError, DataOptions, load_dataset


def write(path, samples, rate=8000, width=2, channels=1):
    """Write float samples in [-1, 1] (L or L x channels) as PCM of ``width`` bytes."""
    a = np.asarray(samples, np.float64).reshape(-1, channels)
    if width == 1:
        raw = (np.round(a * 127) + 128).astype(np.uint8).tobytes()
    elif width == 3:
        v = np.round(a * (2**23 - 1)).astype(np.int32).reshape(-1)
        raw = np.stack([(v >> s) & 0xFF for s in (0, 8, 16)], 1).astype(np.uint8).tobytes()
    else:
        raw = np.round(a * (2 ** (8 * width - 1) - 1)).astype("<i2" if width == 2 else "<i4").tobytes()
    with wave.open(str(path), "wb") as f:
        f.setnchannels(channels)
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes(raw)
    return path


def tone(n, freq=440.0, rate=8000, amp=0.5):
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / rate)


def test_one_file_is_cut_into_clips(tmp_path):
    x = tone(1000)
    write(tmp_path / "a.wav", x)
    ds = wav_files(DataOptions(path=str(tmp_path / "a.wav"), clip_length=300))
    assert ds.x.shape == (3, 1, 300) and ds.x.dtype.is_floating_point
    assert ds.info.kind == "audio" and ds.info.sample_rate == 8000 and ds.info.shape == (1, 300)
    assert np.allclose(ds.x[1, 0].numpy(), x[300:600], atol=1 / 32767)
    assert (ds.y == -1).all() and ds.info.num_classes == 0


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_sample_widths_and_stereo_mix_down(tmp_path, width):
    left, right = tone(400, 300), tone(400, 500, amp=0.25)
    write(tmp_path / "s.wav", np.stack([left, right], 1), width=width, channels=2)
    a, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and a.shape == (400,)
    assert np.allclose(a, (left + right) / 2, atol=2.0 / 2 ** (8 * width - 1))


def test_folder_with_classes_resamples_other_rates(tmp_path):
    (tmp_path / "hi").mkdir()
    (tmp_path / "lo").mkdir()
    write(tmp_path / "hi" / "1.wav", tone(800, 1000))
    write(tmp_path / "hi" / "2.wav", tone(800, 1200))
    write(tmp_path / "lo" / "1.wav", tone(1600, 200, rate=16000), rate=16000)  # twice the rate: resampled to 8 kHz
    (tmp_path / "lo" / "notes.txt").write_text("not audio")
    ds = wav_files(DataOptions(path=str(tmp_path), clip_length=200))
    assert ds.info.sample_rate == 8000 and ds.info.class_names == ("hi", "lo") and ds.info.num_classes == 2
    assert ds.x.shape == (12, 1, 200) and ds.y.tolist() == [0] * 8 + [1] * 4
    assert any("resampled" in p and "16000 Hz to 8000 Hz" in p for p in ds.problems)
    # The resampled tone is still a 200 Hz tone at 8 kHz.
    clip = ds.x[-2, 0].numpy()
    spectrum = np.abs(np.fft.rfft(clip * np.hanning(len(clip))))
    assert abs(np.argmax(spectrum) * 8000 / len(clip) - 200) <= 40
    # Asking for a rate resamples everything to it.
    ds16 = wav_files(DataOptions(path=str(tmp_path), clip_length=200, sample_rate=16000))
    assert ds16.info.sample_rate == 16000 and len(ds16) == 8 + 8 + 8


def test_bad_input_gets_a_clear_message(tmp_path):
    with pytest.raises(DataError, match="needs a path"):
        wav_files(DataOptions())
    with pytest.raises(DataError, match="does not exist"):
        wav_files(DataOptions(path=str(tmp_path / "missing.wav")))
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(DataError, match="not a .wav file"):
        wav_files(DataOptions(path=str(tmp_path / "x.txt")))
    (tmp_path / "bad.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(DataError, match="not a PCM .wav"):
        wav_files(DataOptions(path=str(tmp_path / "bad.wav")))
    write(tmp_path / "short.wav", tone(100))
    folder = tmp_path
    with pytest.raises(DataError, match="shorter than one clip"):
        wav_files(DataOptions(path=str(folder), clip_length=500))
    write(tmp_path / "long.wav", tone(1200))
    ds = wav_files(DataOptions(path=str(folder), clip_length=500))
    assert len(ds) == 2
    assert any("bad.wav" in p for p in ds.problems) and any("short.wav" in p for p in ds.problems)
    with pytest.raises(DataError, match="outside"):
        wav_files(DataOptions(path=str(folder), sample_rate=50))


def test_registered_and_trains_a_wavenet(tmp_path):
    from genstudio.core.engine import train
    from genstudio.core.spec import RunSpec

    write(tmp_path / "a.wav", tone(4096))
    ds = load_dataset("wav", DataOptions(path=str(tmp_path), clip_length=256))
    assert len(ds) == 16
    spec = RunSpec.create(
        "wavenet", "wav",
        {"batch_size": 4, "steps": 2, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 2},
        {"residual_channels": 4, "skip_channels": 4, "dilation_layers": 2, "stacks": 1, "output_hidden": 8},
        {"path": str(tmp_path), "clip_length": 256},
    )
    events = list(train(spec, tmp_path / "run"))
    assert events[-1].status == "completed", events[-1].message
    # genstudio sample writes a .wav for an audio model (the clips one after another), and refuses one for images.
    from genstudio.cli import main

    assert main(["sample", str(tmp_path / "run"), "--n", "3", "--out", str(tmp_path / "s.wav")]) == 0
    a, rate = read_wav(tmp_path / "s.wav")
    assert rate == 8000 and len(a) == 3 * 256 + 2 * 800  # two gaps of 0.1 s
    assert main(["sample", str(tmp_path / "run"), "--n", "2", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["audio"].shape == (2, 256)


def test_write_wav_round_trips(tmp_path):
    audio = torch.sin(torch.linspace(0, 20, 300))[None, None].repeat(2, 1, 1) * 0.5
    path = write_wav(tmp_path / "a.wav", audio, 8000, gap_s=0.01)
    with wave.open(str(path), "rb") as f:
        assert (f.getnchannels(), f.getsampwidth(), f.getframerate()) == (1, 2, 8000)
        assert f.getnframes() == 2 * 300 + 80
        pcm = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    assert np.allclose(pcm[:300] / 32767, audio[0, 0].numpy(), atol=1 / 32767)
    assert (pcm[300:380] == 0).all()
    with pytest.raises(ValueError, match="sample rate"):
        write_wav(tmp_path / "b.wav", audio, 0)
    with pytest.raises(ValueError, match="NaN"):
        write_wav(tmp_path / "b.wav", np.array([0.0, np.nan]), 8000)
