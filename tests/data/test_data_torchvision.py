"""torchvision sets read from a root folder, and the one-line message when they are missing offline."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import struct
import threading
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


# ----------------------------------------------------------------- downloads over loopback


class _Mirror:
    """A local HTTP server for torchvision's files: ``files`` maps a URL path to bytes; others get 404."""

    def __init__(self, files: dict[str, bytes]) -> None:
        import http.server

        files_ = files

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
                body = files_.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "_Mirror":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class _SilentServer:
    """Accepts TCP connections and never answers; records the process's default socket time-out at each accept.

    The client is blocked inside its request when the accept returns, so what
    is recorded is the default every new socket of the process would get
    while a download is running.
    """

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.defaults_seen: list[float | None] = []
        self.held: list[socket.socket] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the 0.2 s accept time-out: look at done again
                continue
            self.defaults_seen.append(socket.getdefaulttimeout())
            self.held.append(conn)

    def __enter__(self) -> "_SilentServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(10)
        for c in self.held:
            c.close()
        self.sock.close()


def _gz(array: np.ndarray) -> bytes:
    path_like = io.BytesIO()
    ndim = array.ndim
    header = struct.pack(">BBBB", 0, 0, 0x08, ndim) + struct.pack(f">{ndim}I", *array.shape)
    with gzip.GzipFile(fileobj=path_like, mode="wb", mtime=0) as gz:
        gz.write(header + array.astype(np.uint8).tobytes())
    return path_like.getvalue()


def test_download_from_a_mirror_with_per_request_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import datasets

    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), np.arange(12) % 10
    payload = {
        "train-images-idx3-ubyte.gz": _gz(images),
        "train-labels-idx1-ubyte.gz": _gz(labels),
        "t10k-images-idx3-ubyte.gz": _gz(images[:3]),
        "t10k-labels-idx1-ubyte.gz": _gz(labels[:3]),
    }
    resources = [(name, hashlib.md5(body).hexdigest()) for name, body in payload.items()]
    with _Mirror({"/good/" + k: v for k, v in payload.items()}) as mirror:
        # The first mirror answers 404 for everything: the second one must be tried.
        monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [mirror.url + "gone/", mirror.url + "good/"])
        monkeypatch.setattr(datasets.FashionMNIST, "resources", resources)
        before = socket.getdefaulttimeout()
        ds = load_dataset("FashionMNIST", DataOptions(root=str(tmp_path), download=True))
        assert socket.getdefaulttimeout() == before
    assert torch.equal(ds.x[:, 0], torch.from_numpy(images)) and ds.y.tolist() == labels.tolist()
    raw = tmp_path / "FashionMNIST" / "raw"
    assert not list(raw.glob("*.part"))  # only whole files are left behind


def test_bad_checksum_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import datasets

    with _Mirror({"/m/train-images-idx3-ubyte.gz": b"not the file"}) as mirror:
        monkeypatch.setattr(datasets.KMNIST, "mirrors", [mirror.url + "m/"])
        monkeypatch.setattr(datasets.KMNIST, "resources", [("train-images-idx3-ubyte.gz", "0" * 32)])
        with pytest.raises(DataError) as err:
            load_dataset("KMNIST", DataOptions(root=str(tmp_path), download=True))
    msg = str(err.value)
    assert "\n" not in msg and "MD5 checksum does not match" in msg and "put its files there" in msg
    assert not list((tmp_path / "KMNIST" / "raw").glob("train-images*"))


def test_stalled_download_times_out_without_touching_the_process_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read time-out is the request's own: no other socket of the process sees it, before, during or after."""
    from torchvision import datasets

    monkeypatch.setattr(torchvision_sets, "READ_TIMEOUT_S", 0.5)
    assert socket.getdefaulttimeout() is None  # the process default: block forever
    with _SilentServer() as server:
        monkeypatch.setattr(datasets.MNIST, "mirrors", [server.url])
        with pytest.raises(DataError) as err:
            load_dataset("MNIST", DataOptions(root=str(tmp_path), download=True))
    msg = str(err.value)
    assert "\n" not in msg and "offline" in msg and "timed out" in msg and "put its files there" in msg
    # Two connections: the reachability probe, then the download request itself.
    assert len(server.defaults_seen) == 2
    assert server.defaults_seen == [None, None]
    assert socket.getdefaulttimeout() is None


def test_closed_port_download_says_offline_and_leaves_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision import datasets

    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now: connections are refused at once
    monkeypatch.setattr(datasets.CIFAR10, "url", f"http://127.0.0.1:{port}/cifar-10-python.tar.gz")
    before = socket.getdefaulttimeout()
    with pytest.raises(DataError) as err:
        load_dataset("CIFAR10", DataOptions(root=str(tmp_path), download=True))
    msg = str(err.value)
    assert "\n" not in msg and "seems offline" in msg and "127.0.0.1 did not answer" in msg
    assert socket.getdefaulttimeout() == before
