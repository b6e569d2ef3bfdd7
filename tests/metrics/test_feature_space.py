"""The dataset's own feature network: trained once, cached and reused, and FID in its features behaves."""

from __future__ import annotations

import json

import pytest
import torch
from torchvision.transforms.functional import gaussian_blur

from genstudio.data.dataset import DataOptions, load_dataset
from genstudio.metrics import features
from genstudio.metrics.frechet import fid_from_features, kid
from genstudio.metrics.quality import ImageReference


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh cache folder for this module, so the first call really trains."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
        features.clear_memo()
        yield
        features.clear_memo()


@pytest.fixture(scope="module")
def digits(cache):
    return load_dataset("digits", DataOptions())


@pytest.fixture(scope="module")
def extractor(digits):
    torch.set_num_threads(1)
    before = features.TRAINING_RUNS
    ext = features.feature_extractor(digits, "digits")
    assert features.TRAINING_RUNS == before + 1
    return ext


def test_classifier_is_trained_cached_and_reused(extractor, digits):
    assert extractor.kind == "classifier"
    assert extractor.val_score > 0.9, extractor.description
    assert extractor.description.startswith("digits-classifier (val acc 0.9")
    assert extractor.path is not None and extractor.path.is_file()
    meta = json.loads(extractor.path.with_suffix(".json").read_text())
    assert meta["val_metric"] == "accuracy" and meta["val_score"] == pytest.approx(extractor.val_score)
    mtime = extractor.path.stat().st_mtime_ns
    runs = features.TRAINING_RUNS
    # A new process (memo cleared) with the data shuffled by another seed loads the file; nothing trains.
    features.clear_memo()
    again = features.feature_extractor(load_dataset("digits", DataOptions(seed=7)), "digits")
    assert features.TRAINING_RUNS == runs
    assert again.path == extractor.path and extractor.path.stat().st_mtime_ns == mtime
    x = digits.get(slice(0, 32)).x
    assert torch.allclose(again.features(x), extractor.features(x), atol=1e-5)


def test_the_cache_key_follows_the_data_and_the_recipe(digits, monkeypatch):
    d0, _ = features.data_digest(digits)
    perm = torch.randperm(len(digits), generator=torch.Generator().manual_seed(3))
    assert features.data_digest(digits.subset(perm))[0] == d0  # row order does not matter
    assert features.data_digest(digits.subset(perm[:-1]))[0] != d0  # the data does
    changed = digits.subset(torch.arange(len(digits)))
    changed.x[0, 0, 0, 0] ^= 1
    assert features.data_digest(changed)[0] != d0


def test_fid_real_noise_and_blur(extractor, digits):
    train, val = digits.split(0.2, seed=0)
    n = min(len(val), 300)
    real, other = val.get(slice(0, n)).x, train.get(slice(0, n)).x
    ref = extractor.features(real)
    floor = fid_from_features(extractor.features(other), ref)
    noise = fid_from_features(extractor.features(torch.rand(n, *real.shape[1:], generator=torch.Generator().manual_seed(0))), ref)
    blurred = [fid_from_features(extractor.features(gaussian_blur(other, [5, 5], [s, s])), ref) for s in (0.4, 0.6, 0.8)]
    # On 8 x 8 digits a blur beyond sigma ~1 leaves a blob further from any digit than uniform noise
    # (measured: FID 185 at sigma 1, 147 for noise), so the sweep stays below that.
    assert floor < blurred[0], (floor, blurred)
    assert blurred[0] < blurred[1] < blurred[2] < noise, (blurred, noise)
    assert noise > 10 * floor
    k_floor, k_noise = kid(extractor.features(other), ref)[0], kid(extractor.features(torch.rand(n, *real.shape[1:])), ref)[0]
    assert k_floor < 0.1 * k_noise


def test_image_reference_scores_real_data_like_its_floor(extractor, digits):
    train, val = digits.split(0.2, seed=0)
    real, floor_set = val.get(slice(0, 200)).x, train.get(slice(0, 200)).x
    ref = ImageReference(extractor, real, floor_set)
    own = ref.score(train.get(slice(200, 400)).x)
    assert own["fid"] < 2 * own["fid_floor"]
    assert own["precision"] > 0.7 and own["recall"] > 0.7
    assert own["class_coverage"] == 10 and own["classifier_score"] > 5
    assert own["features"] == extractor.description
    one_digit = train.subset(torch.nonzero(train.y == 3).squeeze(1)).get(slice(0, 200)).x
    collapsed = ref.score(one_digit, labels=torch.full((len(one_digit),), 3))
    assert collapsed["class_coverage"] == 1 and collapsed["recall"] < 0.3 and collapsed["label_accuracy"] > 0.9
    assert collapsed["fid"] > 3 * own["fid"]


def test_unlabelled_images_get_an_autoencoder(cache, digits):
    small = digits.subset(torch.arange(400))
    small.y[:] = -1
    assert features.feature_kind(small) == "autoencoder"
    ext = features.feature_extractor(small, "folder")
    assert ext.kind == "autoencoder" and ext.description.startswith("folder-autoencoder (val mse ")
    assert 0 < ext.val_score < 0.05  # pixels in [0, 1]: a trained decoder is far below the ~0.1 of a constant guess
    f, probs = ext.features_and_probs(small.get(slice(0, 8)).x)
    assert f.shape == (8, features.RECIPE["features"]) and probs is None


def test_features_refuse_the_wrong_shape(extractor):
    with pytest.raises(ValueError, match="takes images of shape"):
        extractor.features(torch.rand(2, 1, 28, 28))
