"""The user's own data: image folders, .npz/.npy arrays and CSV points."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genstudio.data import DataError, DataOptions, load_dataset

torch.set_num_threads(1)


def _png(path: Path, mode: str, size: tuple[int, int] = (8, 6), colour=None) -> Path:
    """A small image file; size is (W, H) as Pillow takes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if colour is None:
        colour = {"L": 128, "RGB": (200, 10, 10), "RGBA": (0, 0, 255, 0), "LA": (0, 0)}[mode]
    Image.new(mode, size, colour).save(path)
    return path


def _truncated_png(path: Path) -> Path:
    full = _png(path.with_suffix(".full.png"), "RGB", (32, 32))
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    noise.save(full)
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: len(data) // 2])  # header intact, pixel data cut off
    return path


def load(name: str, path: Path, **kw) -> object:
    return load_dataset(name, DataOptions(path=str(path), **kw))


# ----------------------------------------------------------------- image folder


def test_flat_folder_skips_corrupt_and_text_files(tmp_path: Path) -> None:
    for i in range(3):
        _png(tmp_path / f"img{i}.png", "RGB")
    bad = _truncated_png(tmp_path / "broken.png")
    note = tmp_path / "notes.txt"
    note.write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0\1")
    ds = load("folder", tmp_path)
    assert ds.x.shape == (3, 3, 6, 8) and ds.x.dtype == torch.uint8
    assert (ds.y == -1).all() and ds.info.num_classes == 0 and ds.info.kind == "image"
    assert len(ds.problems) == 2
    assert any(p.startswith(f"skipped {bad}: ") for p in ds.problems)
    assert any(p.startswith(f"skipped {note}: not an image file") for p in ds.problems)
    assert ds.describe()["problems"] == ds.problems


def test_class_subfolders_give_sorted_labels(tmp_path: Path) -> None:
    for i in range(2):
        _png(tmp_path / "dog" / f"{i}.png", "L", colour=10)
    for i in range(3):
        _png(tmp_path / "cat" / f"{i}.png", "L", colour=200)
    _png(tmp_path / "loose.png", "L")
    ds = load("folder", tmp_path)
    assert ds.info.class_names == ("cat", "dog") and ds.info.num_classes == 2
    assert ds.y.tolist() == [0, 0, 0, 1, 1]
    assert ds.x.shape == (5, 1, 6, 8)  # all grey: one channel
    assert ds.x[:3].eq(200).all() and ds.x[3:].eq(10).all()
    assert ds.problems == [f"skipped {tmp_path / 'loose.png'}: not inside a class folder"]


def test_rgba_and_grey_mix(tmp_path: Path) -> None:
    _png(tmp_path / "a_grey.png", "L", colour=50)
    _png(tmp_path / "b_rgba.png", "RGBA", colour=(0, 0, 255, 0))  # fully transparent blue
    _png(tmp_path / "c_la.png", "LA", colour=(0, 255))  # opaque black
    _png(tmp_path / "d_rgba.png", "RGBA", colour=(255, 0, 0, 128))  # half-transparent red
    ds = load("folder", tmp_path)
    assert ds.x.shape == (4, 3, 6, 8)  # one colour image makes the set RGB
    assert ds.x[0].eq(50).all()  # grey repeated to RGB
    assert ds.x[1].eq(255).all()  # transparent composited on white, not the stored blue
    assert ds.x[2].eq(0).all()
    assert ds.x[3, :, 0, 0].tolist() == [255, 127, 127]
    grey = load("folder", tmp_path, grayscale=True)
    assert grey.x.shape == (4, 1, 6, 8) and grey.x[1].eq(255).all()
    (tmp_path / "d_rgba.png").unlink()
    assert load("folder", tmp_path).x.shape == (3, 1, 6, 8)  # white and greys only: one channel


def test_rgb_files_with_equal_channels_count_as_grey(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", "RGB", colour=(90, 90, 90))
    _png(tmp_path / "b.png", "L", colour=30)
    ds = load("folder", tmp_path)
    assert ds.x.shape == (2, 1, 6, 8)


def test_folder_sizes_most_common_or_image_size(tmp_path: Path) -> None:
    _png(tmp_path / "a.png", "RGB", (8, 6))
    _png(tmp_path / "b.png", "RGB", (8, 6))
    _png(tmp_path / "c.png", "RGB", (20, 10))
    assert load("folder", tmp_path).x.shape == (3, 3, 6, 8)
    assert load("folder", tmp_path, image_size=4).x.shape == (3, 3, 4, 4)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist; set the data path"):
        load("folder", tmp_path / "missing")
    with pytest.raises(DataError, match="needs a path"):
        load_dataset("folder", DataOptions())
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(DataError, match="no usable images"):
        load("folder", tmp_path)


# ----------------------------------------------------------------- arrays


def test_npz_images_in_every_layout(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (5, 7, 9, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0])
    np.savez(tmp_path / "hwc.npz", images=nhwc, labels=labels)
    np.savez(tmp_path / "chw.npz", x=nhwc.transpose(0, 3, 1, 2), y=labels)
    np.savez(tmp_path / "float.npz", nhwc.astype(np.float32) / 255.0)  # stored as arr_0
    a, b, c = (load("array", tmp_path / f) for f in ("hwc.npz", "chw.npz", "float.npz"))
    expected = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
    for ds in (a, b, c):
        assert ds.x.dtype == torch.uint8 and torch.equal(ds.x, expected)
    assert a.y.tolist() == labels.tolist() and a.info.num_classes == 3
    assert (c.y == -1).all()
    np.save(tmp_path / "grey.npy", nhwc[..., 0])
    grey = load("array", tmp_path / "grey.npy", image_size=4)
    assert grey.x.shape == (5, 1, 4, 4) and grey.info.shape == (1, 4, 4)


def test_npy_points(tmp_path: Path) -> None:
    np.save(tmp_path / "p.npy", np.random.default_rng(0).normal(size=(50, 2)))
    ds = load("array", tmp_path / "p.npy")
    assert ds.info.kind == "points" and ds.x.shape == (50, 2) and ds.x.dtype == torch.float32
    assert ds.info.extent is not None


def test_truncated_npz_raises(tmp_path: Path) -> None:
    np.savez(tmp_path / "full.npz", images=np.zeros((10, 8, 8), np.uint8))
    data = (tmp_path / "full.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cannot read .*cut\.npz.*truncated or corrupt"):
        load("array", cut)
    np.save(tmp_path / "full.npy", np.zeros((10, 8, 8), np.uint8))
    short = tmp_path / "short.npy"
    short.write_bytes((tmp_path / "full.npy").read_bytes()[:-100])
    with pytest.raises(DataError, match=r"short\.npy.*truncated or corrupt"):
        load("array", short)


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = {"a": 1}, [1, 2]
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(DataError, match="does not load for safety"):
        load("array", tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", images=obj)
    with pytest.raises(DataError, match="does not load for safety"):
        load("array", tmp_path / "obj.npz")
    (tmp_path / "raw.npy").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match="does not load for safety"):
        load("array", tmp_path / "raw.npy")


def test_array_errors(tmp_path: Path) -> None:
    np.savez(tmp_path / "nokey.npz", weights=np.zeros(3))
    with pytest.raises(DataError, match="no array named"):
        load("array", tmp_path / "nokey.npz")
    np.save(tmp_path / "flat.npy", np.zeros((4, 784)))
    with pytest.raises(DataError, match="N x 2 points"):
        load("array", tmp_path / "flat.npy")
    np.save(tmp_path / "neg.npy", -np.ones((4, 8, 8)))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load("array", tmp_path / "neg.npy")
    np.savez(tmp_path / "badlabels.npz", images=np.zeros((4, 8, 8), np.uint8), labels=np.arange(3))
    with pytest.raises(DataError, match="labels have shape"):
        load("array", tmp_path / "badlabels.npz")
    (tmp_path / "x.txt").write_text("1")
    with pytest.raises(DataError, match="not a .npz or .npy"):
        load("array", tmp_path / "x.txt")


# ----------------------------------------------------------------- CSV


def test_csv_points_with_header_and_labels(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("x,y,label\n0.5,1.0,1\n-1,2,0\n\n3e-1, 4 ,1\n")
    ds = load("csv", f)
    assert ds.info.kind == "points" and ds.x.dtype == torch.float32
    assert torch.allclose(ds.x, torch.tensor([[0.5, 1.0], [-1.0, 2.0], [0.3, 4.0]]))
    assert ds.y.tolist() == [1, 0, 1] and ds.info.num_classes == 2


def test_csv_without_header_and_named_classes(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("1 2\n3 4\n")
    ds = load("csv", f)
    assert ds.x.shape == (2, 2) and (ds.y == -1).all()
    g = tmp_path / "named.csv"
    g.write_text("1;2;red\n3;4;blue\n5;6;red\n")
    named = load("csv", g)
    assert named.info.class_names == ("blue", "red") and named.y.tolist() == [1, 0, 1]


def test_csv_bad_row_names_its_line(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(DataError, match="line 3"):
        load("csv", f)
    with pytest.raises(DataError, match="does not exist; set the data path"):
        load("csv", tmp_path / "none.csv")


def test_class_with_no_readable_image_is_dropped(tmp_path: Path) -> None:
    _png(tmp_path / "a" / "0.png", "L")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "readme.txt").write_text("no images here")
    _png(tmp_path / "c" / "0.png", "L")
    ds = load("folder", tmp_path)
    assert ds.info.class_names == ("a", "c") and ds.y.tolist() == [0, 1] and ds.info.num_classes == 2
    assert "skipped class 'b': none of its images could be read" in ds.problems
