"""The optional standard Inception FID: never downloaded, clear messages, and the code path on random weights."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.core.config import ConfigError
from genstudio.metrics.inception import ENV_VAR, InceptionFeatures, inception_weights_path


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """A randomly initialised torchvision inception_v3 saved as a state dict (the real weights are never fetched)."""
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("inception") / "inception_v3.pth"
    torch.save(inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict(), path)
    return path


def test_no_weights_named_means_no_inception_fid(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert inception_weights_path(None) is None


def test_a_missing_file_gets_a_clear_message(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="--inception names .* not a file.*never downloads"):
        inception_weights_path(tmp_path / "missing.pth")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "also-missing.pth"))
    with pytest.raises(ConfigError, match=f"{ENV_VAR} names"):
        inception_weights_path(None)


def test_files_that_are_not_inception_state_dicts_are_refused(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot read Inception weights"):
        InceptionFeatures(junk)
    other = tmp_path / "other.pth"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(ConfigError, match="not a torchvision inception_v3 state dict"):
        InceptionFeatures(other)


def test_random_inception_gives_2048_features(random_inception, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(random_inception))
    feats = InceptionFeatures(inception_weights_path(None))
    out = feats.features(torch.rand(2, 1, 8, 8))  # grey 8 x 8 digits: resized to 299, repeated to RGB
    assert out.shape == (2, 2048) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="1- or 3-channel"):
        feats.features(torch.rand(1, 2, 8, 8))


@pytest.mark.slow
def test_eval_adds_the_inception_fid(random_inception, tmp_path):
    from genstudio.metrics.evaluate import evaluate_run
    from tests.metrics.test_eval_runs import tiny_run

    out, _ = tiny_run(tmp_path, "vae", "digits", {}, steps=1)
    r = evaluate_run(out, n=4, device="cpu", inception=random_inception)  # 12 Inception passes at 299 x 299
    assert math.isfinite(r["fid_inception"]) and math.isfinite(r["fid_inception_floor"])
    assert r["inception_weights"] == str(random_inception)
    assert r["fid"] > 0 and r["features"].startswith("digits-classifier")
