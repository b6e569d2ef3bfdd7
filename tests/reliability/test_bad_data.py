"""Bad data: every file is used correctly, skipped with a reason, or refused with one line; never a traceback.

Every file is made here with Pillow or numpy. For an image folder the
contract is: each file is either in the dataset with the right pixel
values (CMYK and 16-bit converted, transparency on white) or named in
``Dataset.problems`` with why; a folder with nothing usable is one
DataError line that names the folder and the first reason. For a CSV or an
array file the whole input is refused with one DataError line naming the
file (and the row, for a CSV) and what to do; NaN never reaches training.
"""

from __future__ import annotations

import io
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from genstudio.data import DataError, DataOptions, Dataset, load_dataset

ROOT = Path(__file__).resolve().parents[2]
SIZE = (12, 10)  # (W, H) of the ordinary images: the most common size, so the one every image is brought to


def load(dataset_id: str, path: Path, **kw) -> Dataset:
    return load_dataset(dataset_id, DataOptions(path=str(path), **kw))


def refused(dataset_id: str, path: Path, **kw) -> str:
    """The DataError message for ``path``, checked to be one line that names the file."""
    with pytest.raises(DataError) as err:
        load(dataset_id, path, **kw)
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 600, msg
    assert str(path) in msg, msg
    return msg


def assert_usable(ds: Dataset) -> None:
    """What training would receive: finite floats, images in [0, 1]."""
    batch = ds.get(slice(0, len(ds)))
    assert torch.isfinite(batch.x).all()
    if ds.info.kind == "image":
        assert batch.x.min() >= 0 and batch.x.max() <= 1


# ----------------------------------------------------------------- image files


def _save(img: Image.Image, path: Path, **kw) -> Path:
    img.save(path, **kw)
    return path


def _make(path: Path, maker) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    maker(path)
    return path


def _rgb(path: Path, colour=(200, 30, 40), size=SIZE) -> Path:
    return _save(Image.new("RGB", size, colour), path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_16bit_rgb(path: Path, value: int, size=SIZE) -> Path:
    """A 48-bit PNG (16 bits per channel), which Pillow reads but cannot write: chunks by hand."""
    w, h = size
    row = b"\0" + struct.pack(">H", value) * 3 * w  # filter byte 0, then R, G, B big-endian
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    png += _png_chunk(b"IDAT", zlib.compress(row * h)) + _png_chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def _png_claiming(path: Path, w: int, h: int) -> Path:
    """A grey PNG whose header claims w x h but holds one row: what a decompression bomb looks like to a header reader.

    Pillow checks the size when it opens the file, before any decoding, so
    a guard that works never gets to the missing rows.
    """
    png = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += _png_chunk(b"IDAT", zlib.compress(b"\0" * (w + 1))) + _png_chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def _truncated(path: Path) -> Path:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # header intact, pixels cut off
    return path


def _p_transparent(path: Path) -> Path:
    img = Image.new("P", SIZE, 0)
    img.putpalette([9, 9, 9, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, SIZE[0], SIZE[1] // 2))  # top half index 1 (opaque blue), bottom index 0 (transparent)
    return _save(img, path, transparency=0)


# (file name, maker, expected): expected is a pixel check for a file that must load, or a
# phrase of the reason for one that must be skipped. Kept small so the test stays fast.
def _image_cases(tmp: Path) -> list[tuple[str, object, object]]:
    mid16 = 32768  # half of 16-bit full scale: 128 in 8 bits, never 255 (clipped) nor 0
    return [
        ("ok_rgb.png", lambda p: _rgb(p), lambda px: px[:, 0, 0].tolist() == [200, 30, 40]),
        ("ok_rgb2.jpg", lambda p: _save(Image.new("RGB", SIZE, (20, 220, 20)), p, quality=95),
         lambda px: abs(int(px[1, 4, 4]) - 220) <= 3 and int(px[0, 4, 4]) < 30),
        # CMYK (0, 255, 255, 0) is red: Pillow's conversion, not the raw channels.
        ("cmyk.jpg", lambda p: _save(Image.new("CMYK", SIZE, (0, 255, 255, 0)), p, quality=95),
         lambda px: int(px[0, 4, 4]) > 240 and int(px[1, 4, 4]) < 20 and int(px[2, 4, 4]) < 20),
        ("grey16.png", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], mid16, np.uint16)), p),
         lambda px: (px.int() - 128).abs().max() <= 1),
        # 16-bit values in a 32-bit "I" image (how older Pillow opened 16-bit PNGs).
        ("grey16_as_i32.tif", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], mid16, np.int32)), p),
         lambda px: (px.int() - 128).abs().max() <= 1),
        ("rgb48.png", lambda p: _png_16bit_rgb(p, mid16), lambda px: (px.int() - 128).abs().max() <= 1),
        ("float01.tif", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], 0.25, np.float32)), p),
         lambda px: (px.int() - 64).abs().max() <= 1),
        ("rgba_clear.png", lambda p: _save(Image.new("RGBA", SIZE, (0, 0, 255, 0)), p), lambda px: bool(px.eq(255).all())),
        ("la_opaque.png", lambda p: _save(Image.new("LA", SIZE, (0, 255)), p), lambda px: bool(px.eq(0).all())),
        # P with transparency: top half opaque blue, bottom half transparent (white).
        ("p_transparent.png", _p_transparent,
         lambda px: px[:, 0, 0].tolist() == [0, 0, 255] and px[:, -1, -1].tolist() == [255, 255, 255]),
        # Another size and aspect: scaled to cover 10 x 12, centre-cropped.
        ("other_size.png", lambda p: _rgb(p, (5, 6, 7), (40, 20)), lambda px: px[:, 0, 0].tolist() == [5, 6, 7]),
        ("huge.jpg", lambda p: _save(Image.new("RGB", (6000, 6000), (0, 0, 250)), p, quality=90),
         lambda px: int(px[2, 5, 5]) > 240 and int(px[0, 5, 5]) < 15),
        ("zero.png", lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        ("zero.jpg", lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        ("truncated.png", _truncated, "corrupt or truncated image data"),
        ("garbage.jpg", lambda p: p.write_bytes(np.random.default_rng(1).bytes(300)), "not an image file"),
        ("notes.png", lambda p: p.write_text("not an image at all"), "not an image file"),
        ("nan.tif", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], np.nan, np.float32)), p), "NaN"),
        ("negative.tif", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], -3.0, np.float32)), p), "negative pixel values"),
        ("beyond16.tif", lambda p: _save(Image.fromarray(np.full(SIZE[::-1], 70000, np.int32)), p), "beyond 16 bits"),
        # With MAX_IMAGE_PIXELS at 6000 x 6000: Pillow raises beyond twice the limit and only
        # warns between once and twice; both are skipped, the 36-megapixel JPEG above is not.
        ("bomb_raises.png", lambda p: _png_claiming(p, 9000, 9000), "decompression-bomb limit"),
        ("bomb_warns.png", lambda p: _png_claiming(p, 6000, 7000), "decompression-bomb limit"),
    ]


def _check_folder(ds: Dataset, made: dict[Path, object], label_of=None) -> None:
    """Each file made is in the set with its expected pixels, or skipped with its expected reason."""
    loaded = [p for p, exp in made.items() if callable(exp)]
    skipped = {p: exp for p, exp in made.items() if isinstance(exp, str)}
    assert len(ds) == len(loaded)
    assert len([q for q in ds.problems if q.startswith("skipped ")]) >= len(skipped)
    for path, phrase in skipped.items():
        lines = [q for q in ds.problems if q.startswith(f"skipped {path}: ")]
        assert len(lines) == 1 and phrase in lines[0], (path, ds.problems)
    order = sorted(loaded, key=lambda p: (label_of(p) if label_of else 0, p))
    assert ds.x.shape[1:] == (3, SIZE[1], SIZE[0])
    for i, path in enumerate(order):
        assert made[path](ds.x[i]), (path.name, ds.x[i, :, :2, :2])
    assert_usable(ds)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_flat_folder_of_bad_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000 * 6000)
    made = {_make(tmp_path / name, maker): expected for name, maker, expected in _image_cases(tmp_path)}
    ds = load("folder", tmp_path)
    _check_folder(ds, made)
    assert ds.info.num_classes == 0 and (ds.y == -1).all()


def test_folder_with_classes_keeps_good_files_and_drops_empty_classes(tmp_path: Path) -> None:
    made: dict[Path, object] = {}
    cases = {c[0]: c for c in _image_cases(tmp_path)}
    layout = {
        "cats": ["ok_rgb.png", "cmyk.jpg", "zero.png", "truncated.png"],
        "dogs": ["grey16.png", "rgba_clear.png", "p_transparent.png", "garbage.jpg"],
        "mice": ["zero.jpg", "notes.png"],  # nothing usable: the class is dropped, not left as a gap
    }
    for cls, names in layout.items():
        for name in names:
            made[_make(tmp_path / cls / name, cases[name][1])] = cases[name][2]
    _make(tmp_path / "loose.png", _rgb)
    (tmp_path / "empty_class").mkdir()
    ds = load("folder", tmp_path)
    _check_folder(ds, made, label_of=lambda p: ["cats", "dogs"].index(p.parent.name))
    assert ds.info.class_names == ("cats", "dogs") and ds.y.tolist() == [0, 0, 1, 1, 1]
    assert f"skipped {tmp_path / 'loose.png'}: not inside a class folder" in ds.problems
    assert f"skipped {tmp_path / 'empty_class'}: empty class folder" in ds.problems
    assert "skipped class 'mice': none of its images could be read" in ds.problems
    summary = ds.problem_summary()
    assert "\n" not in summary and "8 skipped" in summary and "5 examples kept" in summary


def test_huge_images_are_brought_to_at_most_512(tmp_path: Path) -> None:
    _save(Image.new("RGB", (6000, 4000), (30, 60, 90)), tmp_path / "a.jpg", quality=95)
    _save(Image.new("RGB", (6000, 4000), (30, 60, 90)), tmp_path / "b.jpg", quality=95)
    ds = load("folder", tmp_path)
    assert ds.x.shape == (2, 3, 341, 512)  # long side 512, aspect kept
    assert (ds.x[:, :, 100, 100].int() - torch.tensor([30, 60, 90])).abs().max() <= 3
    assert load("folder", tmp_path, image_size=32).x.shape == (2, 3, 32, 32)


def test_size_ties_go_to_the_smaller_size(tmp_path: Path) -> None:
    _rgb(tmp_path / "a.png", size=(300, 300))
    _rgb(tmp_path / "b.png", size=(8, 8))
    assert load("folder", tmp_path).x.shape == (2, 3, 8, 8)


def test_folder_with_nothing_usable_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"")
    _truncated(tmp_path / "b.png")
    (tmp_path / "c.txt").write_text("hello")
    (tmp_path / "d.png").symlink_to(tmp_path / "gone.png")  # a link whose target was deleted
    msg = refused("folder", tmp_path)
    assert "no usable images" in msg and "4 files skipped" in msg and "broken link" in msg
    assert "data.path" in msg  # what to do, worded for the studio and the command line alike
    with pytest.raises(DataError) as err:
        load("folder", tmp_path / "missing")
    assert err.value.option == "path"  # a front end can point at its own control for the fix


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")  # "Corrupt EXIF data": expected here
def test_fuzzed_image_files_are_used_or_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeded byte mutations of ten formats and modes: each file is loaded or listed, nothing else raises."""
    # A mutated header can claim a huge size; a low guard keeps such files from allocating much first.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    rng = np.random.default_rng(18)
    base = Image.fromarray(rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8))
    formats = [("png", "RGB"), ("jpg", "RGB"), ("jpg", "CMYK"), ("gif", "P"), ("bmp", "RGB"), ("tif", "RGB"),
               ("webp", "RGB"), ("png", "LA"), ("ppm", "RGB"), ("tga", "RGB")]
    n = 0
    for ext, mode in formats:
        buf = io.BytesIO()
        base.convert(mode).save(buf, Image.registered_extensions()["." + ext])
        data = buf.getvalue()
        for k in range(12):
            b = bytearray(data)
            if k % 3 == 0:  # flip a few bytes
                for i in rng.integers(0, len(b), int(rng.integers(1, 8))):
                    b[int(i)] = int(rng.integers(0, 256))
            elif k % 3 == 1:  # cut the file short
                b = b[: int(rng.integers(1, len(b)))]
            else:  # overwrite a run with noise
                i, m = int(rng.integers(0, len(b))), int(rng.integers(1, 64))
                b[i : i + m] = rng.bytes(m)
            (tmp_path / f"f{n:03d}.{ext}").write_bytes(bytes(b))
            n += 1
    _rgb(tmp_path / "zz_good.png")
    ds = load("folder", tmp_path)
    skipped = [q for q in ds.problems if q.startswith("skipped ")]
    assert len(ds) + len(skipped) == n + 1 and len(ds) >= 1
    assert all("\n" not in q for q in ds.problems)
    assert_usable(ds)


def test_cli_refuses_an_unusable_folder_in_one_line(tmp_path: Path) -> None:
    """The real entry point, in its own process: exit 2, one line on stderr, no traceback, no run folder."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.png").write_bytes(b"")
    (data / "b.jpg").write_bytes(b"\xff\xd8garbage")
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "genstudio", "train", "--model", "vae", "--dataset", "folder",
         "--data-path", str(data), "--steps", "2", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "no usable images" in lines[0] and str(data) in lines[0] and "2 files skipped" in lines[0]
    assert not out.exists()


def test_cli_reports_how_many_files_were_skipped(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from genstudio.cli import main

    data = tmp_path / "data"
    for i in range(4):
        _make(data / f"ok{i}.png", _rgb)
    (data / "zero.png").write_bytes(b"")
    _truncated(data / "cut.png")
    code = main(["train", "--model", "toy", "--dataset", "folder", "--data-path", str(data), "--steps", "2",
                 "--set", "preview_every_s=0", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "2 skipped" in err and "zero.png" in err, err


# ----------------------------------------------------------------- CSV


CSV_REFUSED = {
    "nan.csv": ("x,y\n1,2\nnan,3\n", "line 3: x and y must be finite"),
    "inf.csv": ("1,2\n3,-inf\n", "line 2: x and y must be finite"),
    "overflow.csv": ("1,2\n3,1e39\n", "line 2: x and y must be finite"),
    "text.csv": ("x,y\n1,2\n3,abc\n", "line 3: expected two numbers"),
    "too_many.csv": ("1,2\n1,2,3,4\n", "line 2: expected 2 columns"),
    "too_few.csv": ("1,2,0\n5\n", "line 2: expected 3 columns"),
    "four_wide.csv": ("1,2,3,4\n", "expected 2 or 3 columns"),
    "empty.csv": ("", "holds no points"),
    "header_only.csv": ("x,y,label\n", "holds no points"),
    "blank_label.csv": ("1,2,a\n3,4,\n", "line 2: the label is empty"),
    "big_label.csv": ("1,2,0\n3,4,99999999999999999999999\n", "class numbers 0..9999"),
    "negative_label.csv": ("1,2,0\n3,4,-2\n", "non-negative"),
}


@pytest.mark.parametrize("name", sorted(CSV_REFUSED))
def test_csv_refused_with_its_line(tmp_path: Path, name: str) -> None:
    text, phrase = CSV_REFUSED[name]
    (tmp_path / name).write_text(text)
    msg = refused("csv", tmp_path / name)
    assert phrase in msg, msg


def test_csv_not_utf8_and_a_folder(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes("x,y,étiquette\n1,2,a\n".encode("latin-1"))
    assert "save it as UTF-8" in refused("csv", tmp_path / "latin.csv")
    assert "needs a .csv file" in refused("csv", tmp_path)


def test_csv_with_header_and_names_is_used(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("\ufeffx;y;kind\n# a comment\n1.5;-2;a\n\n3;4e-1;b\n")
    ds = load("csv", tmp_path / "ok.csv")
    assert ds.x.tolist() == [[1.5, -2.0], [3.0, pytest.approx(0.4)]] and ds.info.class_names == ("a", "b")
    assert_usable(ds)


_CELL = st.one_of(
    st.sampled_from(["1", "-2.5", "nan", "inf", "-inf", "1e999", "", " ", "x", "label", "0", "3", "1e-3", "NaN", "#"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELL, max_size=4), max_size=8), sep=st.sampled_from([",", ";", "\t", " "]))
def test_any_csv_loads_finite_points_or_one_line(tmp_path: Path, rows: list[list[str]], sep: str) -> None:
    path = tmp_path / "h.csv"
    path.write_text("\n".join(sep.join(r) for r in rows), encoding="utf-8")
    try:
        ds = load("csv", path)
    except DataError as e:
        assert "\n" not in str(e) and str(path) in str(e)
        return
    assert ds.x.dtype == torch.float32 and ds.x.shape[1] == 2
    assert_usable(ds)


# ----------------------------------------------------------------- .npz / .npy


class _Payload:
    """Unpickling this writes a file: proof that a pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def _object_array(marker: Path) -> np.ndarray:
    a = np.empty(2, dtype=object)
    a[0], a[1] = _Payload(marker), 1
    return a


ARRAY_REFUSED = {
    # name: (array, phrase)
    "complex_images": (np.zeros((4, 8, 8), np.complex64), "real numbers, not complex64"),
    "complex_points": (np.zeros((4, 2), np.complex128), "real numbers (int or float), not complex128"),
    "string_images": (np.full((4, 8, 8), "a"), "real numbers, not <U1"),
    "string_points": (np.array([["1", "2"], ["3", "4"]]), "not <U1"),
    "bool_points": (np.ones((4, 2), bool), "not bool"),
    "datetime_images": (np.zeros((4, 8, 8), "datetime64[s]"), "real numbers"),
    "nan_images": (np.full((4, 8, 8), np.nan, np.float32), "NaN"),
    "inf_images": (np.full((4, 8, 8), np.inf, np.float32), "NaN or infinite"),
    "nan_points": (np.array([[0.0, 1.0], [np.nan, 2.0]]), "point 2"),
    "overflow_points": (np.array([[0.0, 1.0], [1e39, 2.0]]), "within float32 range"),
    "over_255_float": (np.full((4, 8, 8), 300.0), "got [300, 300]"),
    "minus_one_to_one": (np.linspace(-1, 1, 256).reshape(4, 8, 8), "(x + 1) / 2"),
    "overshoot_01": (np.full((4, 8, 8), 1.3), "neither in [0, 1] nor in 0..255"),
    "int_over_255": (np.full((4, 8, 8), 4095, np.int16), "0..255; got 4095..4095"),
    "negative_int": (np.full((4, 8, 8), -1, np.int64), "0..255"),
    "five_dims": (np.zeros((2, 3, 4, 5, 6), np.uint8), "cannot use an array shaped (2, 3, 4, 5, 6)"),
    "one_dim": (np.zeros(7, np.uint8), "cannot use an array shaped (7,)"),
    "flat_rows": (np.zeros((4, 784), np.uint8), "N x 2 points"),
    "five_channels": (np.zeros((4, 8, 8, 5), np.uint8), "cannot tell the channel axis"),
    "no_examples": (np.zeros((0, 8, 8), np.uint8), "is empty"),
    "zero_height": (np.zeros((4, 0, 8), np.uint8), "is empty"),
    "scalar": (np.array(3.0), "single value"),
}


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
@pytest.mark.parametrize("name", sorted(ARRAY_REFUSED))
def test_array_refused_with_its_reason(tmp_path: Path, name: str, suffix: str) -> None:
    array, phrase = ARRAY_REFUSED[name]
    path = tmp_path / f"{name}{suffix}"
    np.save(path, array) if suffix == ".npy" else np.savez(path, images=array)
    assert phrase in refused("array", path)


def test_pickles_are_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    np.save(tmp_path / "obj.npy", _object_array(marker), allow_pickle=True)
    np.savez(tmp_path / "obj.npz", images=_object_array(marker))
    np.savez(tmp_path / "objlabels.npz", images=np.zeros((2, 8, 8), np.uint8), labels=_object_array(marker))
    (tmp_path / "raw.npy").write_bytes(pickle.dumps(_Payload(marker)))
    for name in ("obj.npy", "obj.npz", "objlabels.npz", "raw.npy"):
        assert "does not load for safety" in refused("array", tmp_path / name)
    assert not marker.exists()


def test_bad_labels_and_sample_rate(tmp_path: Path) -> None:
    images = np.zeros((3, 8, 8), np.uint8)
    cases = {
        "huge_label": (dict(labels=np.array([0, 1, 10**9])), "class numbers 0..9999"),
        "nan_label": (dict(labels=np.array([0.0, np.nan, 1.0])), "whole numbers"),
        "str_label": (dict(labels=np.array(["a", "b", "c"])), "labels must be integers"),
        "short_label": (dict(labels=np.array([0, 1])), "labels have shape (2,)"),
        "bad_rate": (dict(sample_rate=np.array([8000, 16000])), "sample_rate must be one positive whole number"),
        "text_rate": (dict(sample_rate=np.array("fast")), "sample_rate must be one positive whole number"),
    }
    for name, (extra, phrase) in cases.items():
        np.savez(tmp_path / f"{name}.npz", images=images, **extra)
        assert phrase in refused("array", tmp_path / f"{name}.npz"), name


def test_zero_byte_and_truncated_array_files(tmp_path: Path) -> None:
    for name in ("zero.npy", "zero.npz"):
        (tmp_path / name).write_bytes(b"")
        assert "truncated or corrupt" in refused("array", tmp_path / name)
    np.save(tmp_path / "whole.npy", np.zeros((10, 8, 8), np.uint8))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "whole.npy").read_bytes()[:-50])
    assert "truncated or corrupt" in refused("array", tmp_path / "cut.npy")


def test_arrays_that_are_used_keep_their_values(tmp_path: Path) -> None:
    """bool, float16, 0..255 floats and [0, 1] floats load as the pixel values they mean."""
    cases = {
        "bool": (np.eye(8, dtype=bool)[None].repeat(2, 0), np.eye(8, dtype=np.uint8)[None].repeat(2, 0) * 255),
        "f16": (np.full((2, 8, 8), 0.5, np.float16), np.full((2, 8, 8), 128, np.uint8)),
        "f255": (np.full((2, 8, 8), 200.0), np.full((2, 8, 8), 200, np.uint8)),
        "int": (np.full((2, 8, 8), 7, np.int64), np.full((2, 8, 8), 7, np.uint8)),
    }
    for name, (array, want) in cases.items():
        np.save(tmp_path / f"{name}.npy", array)
        ds = load("array", tmp_path / f"{name}.npy")
        assert torch.equal(ds.x[:, 0], torch.from_numpy(want)), name
        assert_usable(ds)


_DTYPES = st.sampled_from([np.uint8, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64, np.uint64])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=_DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))))
def test_any_numeric_array_loads_valid_data_or_one_line(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "h.npy"
    np.save(path, array)
    try:
        ds = load("array", path)
    except DataError as e:
        assert "\n" not in str(e) and str(path) in str(e), str(e)
        return
    assert_usable(ds)
    if ds.info.kind == "image":
        assert ds.x.dtype == torch.uint8 and ds.x.shape[2] > 0 and ds.x.shape[3] > 0


# ----------------------------------------------------------------- .wav folders


def _wav_bytes(n: int = 4000, rate: int = 8000) -> bytes:
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((np.sin(np.arange(n) / 5) * 8000).astype("<i2").tobytes())
    return buf.getvalue()


def test_wav_folder_skips_what_the_wave_module_cannot_read(tmp_path: Path) -> None:
    good = _wav_bytes()
    (tmp_path / "good.wav").write_bytes(good)
    (tmp_path / "zero.wav").write_bytes(b"")
    (tmp_path / "cut.wav").write_bytes(good[:30])
    # A 'fmt ' chunk whose size points past the end: the wave module raises a bare RuntimeError.
    (tmp_path / "bad_chunk.wav").write_bytes(good[:16] + struct.pack("<I", 29712) + good[20:])
    ds = load("wav", tmp_path, clip_length=1000)
    assert len(ds) == 4 and torch.isfinite(ds.x).all()
    for name in ("zero.wav", "cut.wav", "bad_chunk.wav"):
        assert any(q.startswith(f"skipped {tmp_path / name}: ") for q in ds.problems), (name, ds.problems)
    (tmp_path / "good.wav").unlink()
    msg = refused("wav", tmp_path)
    assert "no readable .wav files" in msg and "3 skipped" in msg
