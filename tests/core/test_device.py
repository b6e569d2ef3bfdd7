"""Device choice and the default thread count."""

import pytest
import torch

from genstudio.core import device as dev
from genstudio.core.config import ConfigError


@pytest.mark.parametrize("cores,load,gui,expected", [(2, 0.1, False, 2), (2, 0.1, True, 1), (2, 1.2, False, 1), (2, 3.0, False, 1), (16, 2.0, False, 14), (16, 0.0, True, 15), (1, 0.0, True, 1)])
def test_default_threads_leave_busy_cores_alone(monkeypatch, cores, load, gui, expected):
    monkeypatch.setattr(dev, "cpu_count", lambda: cores)
    monkeypatch.setattr(dev.os, "getloadavg", lambda: (load, load, load))
    assert dev.default_threads(gui) == expected


def test_resolve_device():
    assert dev.resolve_device("cpu").type == "cpu"
    assert dev.resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ConfigError, match="unknown device"):
        dev.resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            dev.resolve_device("cuda")


def test_rng_state_round_trip():
    dev.seed_everything(3)
    state = dev.rng_state()
    a = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    dev.set_rng_state(state)
    b = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and a[2] == b[2]
