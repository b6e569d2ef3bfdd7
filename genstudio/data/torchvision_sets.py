"""torchvision's image sets (MNIST, FashionMNIST, KMNIST, CIFAR-10) read from a root folder.

The training split is loaded whole into memory as uint8. Files are
downloaded only when they are missing, ``options.download`` is on and the
server answers within a few seconds: a studio on an offline machine must
say so in one line at once, not hang in a socket read.

The download is ours, not torchvision's: torchvision's ``download_url``
calls ``urllib.request.urlopen`` with no time-out and takes none, so the
only ways to bound its reads are process-wide (``socket.setdefaulttimeout``,
``urllib.request.install_opener``, patching its helper), and those change
every socket of the process (the studio's other threads included) for as
long as the download runs. Here the time-out is an argument of the one
``urlopen`` call, so it cannot reach another socket. What to fetch (mirrors,
file names, checksums) is still read from torchvision's dataset classes,
and its ``check_integrity`` / ``extract_archive`` finish the job, so the
files land exactly where its loaders look.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch

from genstudio.data.dataset import DataError, DataOptions, Dataset
from genstudio.data.images import apply_image_options, image_dataset

# Seconds to wait for the download server to accept a connection before
# calling the machine offline, and for any one read during the download
# (a slow download that keeps receiving bytes is never cut off).
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

_USER_AGENT = "genstudio (torchvision datasets)"

# What a user must put in the folder by hand on an offline machine.
_MNIST_FILES = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"


def _one_line(text: str, limit: int = 200) -> str:
    """Collapse a multi-line library error (torchvision lists every mirror) into one short line."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _files_present(cls: type, root: Path) -> bool:
    """Whether torchvision would find the set under ``root`` without downloading.

    Uses torchvision's own checks (``_check_exists`` for the MNIST family,
    ``_check_integrity`` for CIFAR) on an instance built without running its
    constructor, because the constructor is what would start a download.
    When a future torchvision renames them we answer True and let the
    constructor (with download off) report what is missing.
    """
    probe = cls.__new__(cls)
    probe.root = str(root)
    probe.train = True
    for check in ("_check_legacy_exist", "_check_exists", "_check_integrity"):
        fn = getattr(probe, check, None)
        if fn is None:
            continue
        try:
            if fn():
                return True
        except Exception:  # a private API that changed shape: do not guess "missing"
            return True
        if check != "_check_legacy_exist":
            return False
    return True


def _download_host(cls: type) -> tuple[str, int] | None:
    """Host and port of the first server torchvision would download ``cls`` from."""
    url = (getattr(cls, "mirrors", None) or [getattr(cls, "url", "")])[0]
    parsed = urlparse(url)
    if not parsed.hostname:
        return None
    return parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80)


def server_reachable(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether a TCP connection to (host, port) opens within ``timeout`` seconds.

    The attempt runs in a daemon thread because name resolution ignores
    socket timeouts and can block for a long time on a machine with no DNS.
    """
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=attempt, name="genstudio-net-probe", daemon=True)
    worker.start()
    worker.join(timeout + 1.0)
    return bool(result and result[0])


@dataclass(frozen=True)
class Download:
    """One file torchvision would fetch: its mirrors (tried in order), name, MD5, and the folder it goes to."""

    urls: tuple[str, ...]
    filename: str
    md5: str | None
    folder: Path


def downloads_of(cls: type, root: Path) -> list[Download] | None:
    """What torchvision downloads for ``cls`` under ``root``, from its class attributes.

    The MNIST family lists ``mirrors`` and ``resources`` (file, MD5) and
    extracts into ``<root>/<ClassName>/raw``; CIFAR has one ``url``,
    ``filename`` and ``tgz_md5`` extracted into ``root``. None when a
    torchvision release no longer has these attributes.
    """
    mirrors, resources = getattr(cls, "mirrors", None), getattr(cls, "resources", None)
    if isinstance(mirrors, (list, tuple)) and isinstance(resources, (list, tuple)):
        folder = root / cls.__name__ / "raw"
        return [Download(tuple(m + name for m in mirrors), name, md5, folder) for name, md5 in resources]
    url, filename, md5 = (getattr(cls, a, None) for a in ("url", "filename", "tgz_md5"))
    if isinstance(url, str) and isinstance(filename, str):
        return [Download((url,), filename, md5, root)]
    return None


def fetch(url: str, dest: Path, timeout: float = READ_TIMEOUT_S) -> None:
    """Download ``url`` to ``dest``, waiting at most ``timeout`` seconds to connect and for each read.

    The time-out is given to this request's socket alone. The bytes go to
    ``dest.part`` first and are renamed only when complete, so a failed or
    killed download never leaves a file that looks whole.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 16)
        part.replace(dest)
    finally:
        part.unlink(missing_ok=True)


def download(item: Download, timeout: float = READ_TIMEOUT_S) -> None:
    """Fetch ``item`` from the first mirror that serves it intact, then extract it (as torchvision would)."""
    from torchvision.datasets.utils import check_integrity, extract_archive

    dest = item.folder / item.filename
    errors: list[str] = []
    if not check_integrity(str(dest), item.md5):
        for url in item.urls:
            try:
                fetch(url, dest, timeout)
            except (OSError, http.client.HTTPException) as e:  # URLError, time-outs and SSL errors are OSErrors
                errors.append(f"{url}: {e}")
                continue
            if check_integrity(str(dest), item.md5):
                break
            dest.unlink(missing_ok=True)
            errors.append(f"{url}: the file's MD5 checksum does not match")
        else:
            raise OSError(f"could not download {item.filename} ({'; '.join(errors)})")
    extract_archive(str(dest), str(item.folder))


def _load_train_split(name: str, cls: type, folder_of: str, files: str, options: DataOptions) -> Any:
    """The torchvision dataset object for the training split, downloading only when allowed and possible."""
    root = Path(options.root).expanduser()
    folder = root / folder_of

    def missing(reason: str) -> DataError:
        return DataError(
            f"dataset '{name}' was not found in {folder} and {reason}; "
            f"put its files there ({files}) or run once on a machine that is online with download on"
        )

    if not _files_present(cls, root):
        if not options.download:
            raise missing("downloading is turned off")
        host = _download_host(cls)
        if host is not None and not server_reachable(*host):
            raise missing(f"the machine seems offline ({host[0]} did not answer)")
        items = downloads_of(cls, root)
        try:
            if items is None:  # a torchvision we cannot read: its own download (no read time-out, but the probe passed)
                return cls(str(root), train=True, download=True)
            for item in items:
                download(item, READ_TIMEOUT_S)
        except Exception as e:  # urllib, ssl, md5 mismatch, a bad archive, disk: all mean "not downloaded"
            raise missing(f"the download failed; the machine may be offline ({_one_line(str(e))})") from e
    try:
        return cls(str(root), train=True, download=False)
    except Exception as e:
        raise DataError(
            f"dataset '{name}' in {folder} is corrupt or incomplete ({_one_line(str(e))}); "
            f"delete that folder and download it again, or put intact files there ({files})"
        ) from e


def _mnist_like(name: str, class_name: str, options: DataOptions) -> Dataset:
    from torchvision import datasets

    cls = getattr(datasets, class_name)
    ds = _load_train_split(name, cls, f"{class_name}/raw", _MNIST_FILES, options)
    x = torch.as_tensor(ds.data, dtype=torch.uint8).unsqueeze(1)  # N x 28 x 28 -> N x 1 x 28 x 28
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return image_dataset(apply_image_options(x, options), y, name, tuple(str(c) for c in ds.classes))


def mnist(options: DataOptions) -> Dataset:
    """MNIST training split: 60,000 digits, 1 x 28 x 28."""
    return _mnist_like("MNIST", "MNIST", options)


def fashion_mnist(options: DataOptions) -> Dataset:
    """Fashion-MNIST training split: 60,000 clothing images, 1 x 28 x 28."""
    return _mnist_like("FashionMNIST", "FashionMNIST", options)


def kmnist(options: DataOptions) -> Dataset:
    """Kuzushiji-MNIST training split: 60,000 cursive Japanese characters, 1 x 28 x 28."""
    return _mnist_like("KMNIST", "KMNIST", options)


def cifar10(options: DataOptions) -> Dataset:
    """CIFAR-10 training split: 50,000 colour images, 3 x 32 x 32."""
    from torchvision import datasets

    ds = _load_train_split(
        "CIFAR10",
        datasets.CIFAR10,
        datasets.CIFAR10.base_folder,
        "data_batch_1..5, test_batch, batches.meta from cifar-10-python.tar.gz",
        options,
    )
    # torchvision keeps CIFAR as an N x H x W x C numpy array.
    x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
    y = torch.as_tensor(ds.targets, dtype=torch.int64)
    return image_dataset(apply_image_options(x, options), y, "CIFAR10", tuple(ds.classes))
