"""torchvision sets read from a root folder, and the one-line message when they are missing offline."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from genstudio.data import DataError, DataOptions, load_dataset
from genstudio.data import torchvision_sets

torch.set_num_threads(1)


def _write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX (ubyte) file as LeCun's MNIST distributes it: magic 0x08 0x<ndim>, big-endian sizes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    # torchvision reads the uncompressed files from <root>/MNIST/raw and insists
    # on the test split being there too, even when only train=True is asked for.
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    _write_idx(raw / "train-images-idx3-ubyte", images)
    _write_idx(raw / "train-labels-idx1-ubyte", labels)
    _write_idx(raw / "t10k-images-idx3-ubyte", images[:5])
    _write_idx(raw / "t10k-labels-idx1-ubyte", labels[:5])
    return images, labels


def test_mnist_from_idx_files(tmp_path: Path) -> None:
    images, labels = _write_mnist(tmp_path)
    ds = load_dataset("MNIST", DataOptions(root=str(tmp_path), download=False))
    assert ds.x.shape == (20, 1, 28, 28) and ds.x.dtype == torch.uint8
    assert torch.equal(ds.x[:, 0], torch.from_numpy(images))
    assert ds.y.tolist() == labels.tolist() and ds.info.num_classes == 10 and ds.info.name == "MNIST"
    small = load_dataset("MNIST", DataOptions(root=str(tmp_path), download=False, image_size=14))
    assert small.x.shape == (20, 1, 14, 14)


def test_root_with_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    _write_mnist(tmp_path / "data")
    ds = load_dataset("MNIST", DataOptions(root="~/data", download=False))
    assert len(ds) == 20


def test_missing_files_with_download_off(tmp_path: Path) -> None:
    with pytest.raises(DataError) as err:
        load_dataset("MNIST", DataOptions(root=str(tmp_path), download=False))
    msg = str(err.value)
    assert "\n" not in msg
    assert "'MNIST'" in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert "downloading is turned off" in msg and "put its files there" in msg and "online" in msg


def test_offline_machine_fails_fast_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torchvision_sets, "server_reachable", lambda host, port, timeout=0: False)
    for name in ("FashionMNIST", "CIFAR10"):
        with pytest.raises(DataError) as err:
            load_dataset(name, DataOptions(root=str(tmp_path), download=True))
        msg = str(err.value)
        assert "\n" not in msg and f"'{name}'" in msg and str(tmp_path) in msg
        assert "seems offline" in msg and "put its files there" in msg


def test_corrupt_files_are_reported(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03garbage")
    with pytest.raises(DataError, match="corrupt or incomplete"):
        load_dataset("MNIST", DataOptions(root=str(tmp_path), download=False))


def test_unreachable_port_is_reported_offline() -> None:
    # Port 9 on localhost is closed: the probe must answer False quickly, not hang.
    assert torchvision_sets.server_reachable("127.0.0.1", 9, timeout=1.0) is False
