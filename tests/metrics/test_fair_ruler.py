"""A fair ruler: a model of binarised images is scored against binarised real images, its floor measured alike."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genstudio.core.registry import get_model_class
from genstudio.data.dataset import DataOptions, load_dataset
from genstudio.metrics import features
from genstudio.metrics.evaluate import evaluate_run
from genstudio.metrics.quality import REFERENCE_DATA, ImageReference, QualityTracker, as_reference, reference_data, reference_sets
from tests.metrics.test_eval_runs import tiny_run


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The 8x8 digits with a fresh feature-network cache for this module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GENSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
        features.clear_memo()
        yield load_dataset("digits", DataOptions())
        features.clear_memo()


class DrawsRealImages(nn.Module):
    """A perfect model in the tests' sense: its samples are real training images (binarised when it models binarised data)."""

    def __init__(self, images: torch.Tensor, binarised: bool):
        super().__init__()
        self.images = images
        self.likelihood_data = "binarised" if binarised else "8-bit"
        self.w = nn.Parameter(torch.zeros(1))  # a device to report

    @property
    def device(self) -> torch.device:
        return self.w.device

    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs) -> torch.Tensor:
        idx = torch.randint(0, len(self.images), (n,), generator=generator)
        return as_reference(self.images[idx], "binarised" if self.likelihood_data == "binarised" else "as loaded")

    def preview_kwargs(self) -> dict:
        return {}

    def sample_options(self) -> dict:
        return {}


def test_which_models_get_the_binarised_reference(digits):
    info = digits.info
    pixelcnn = get_model_class("gated-pixelcnn")
    vae = get_model_class("vae")
    ddpm = get_model_class("ddpm")
    assert reference_data(pixelcnn(pixelcnn.config_class(), info)) == "binarised"  # bernoulli output on grey images
    assert reference_data(pixelcnn(pixelcnn.config_class(output="softmax256"), info)) == "as loaded"
    assert reference_data(vae(vae.config_class(), info)) == "as loaded"  # grey targets, grey samples
    assert reference_data(vae(vae.config_class(binarize=True), info)) == "binarised"
    assert reference_data(ddpm(ddpm.config_class(), info)) == "as loaded"
    assert set(REFERENCE_DATA) == {"as loaded", "binarised"}


def test_binarised_reference_sets_threshold_both_sets_alike(digits):
    train, val = digits.split(0.2, seed=0)
    grey_real, grey_floor, split = reference_sets(train, val, 100)
    real, floor, split2 = reference_sets(train, val, 100, "binarised")
    assert split == split2 == "val" and real.shape == grey_real.shape and floor.shape == grey_floor.shape
    assert ((grey_real > 0) & (grey_real < 1)).any()  # the digits are grey at the edges
    for binary, grey in ((real, grey_real), (floor, grey_floor)):
        assert set(binary.unique().tolist()) <= {0.0, 1.0}
        assert torch.equal(binary, (grey > 0.5).float())
    with pytest.raises(ValueError, match="unknown reference data"):
        as_reference(real, "grey")


def test_a_perfect_model_of_binarised_data_scores_at_the_binarised_floor(digits):
    """Real binarised digits score near the floor on the fair ruler; on the grey one they look like a bad model."""
    train, val = digits.split(0.2, seed=0)
    n = 200
    perfect = DrawsRealImages(train.get(slice(n, len(train))).x, binarised=True)

    fair = QualityTracker("digits", train, val, n, torch.device("cpu"))
    assert "against binarised real images" in fair.prepare(perfect)
    assert fair.reference.data == "binarised"
    on_fair = fair.measure(perfect)
    assert on_fair["fid"] < 2 * on_fair["fid_floor"], on_fair

    # The broken ruler (what every row used before): the same samples against grey digits.
    grey = QualityTracker("digits", train, val, n, torch.device("cpu"))
    grey.prepare()
    assert grey.reference.data == "as loaded"
    real, floor_set, _ = reference_sets(train, val, n)
    grey.reference = ImageReference(grey.reference.extractor, real, floor_set)
    samples = perfect.sample(n, torch.Generator().manual_seed(0))
    on_grey = grey.reference.score(samples, full=False)
    assert on_grey["reference_data"] == "as loaded"
    # Measured on the 8x8 digits at n=200: FID 18.3 against a grey floor of 8.9 (2.05x), where the fair
    # ruler gives 14.9 against its floor of 11.9 (1.26x): the grey ruler charges a perfect model for the grey.
    grey_ratio, fair_ratio = on_grey["fid"] / on_grey["fid_floor"], on_fair["fid"] / on_fair["fid_floor"]
    assert grey_ratio > 1.5 and grey_ratio > 1.3 * fair_ratio, (on_grey, on_fair)


def test_a_grey_model_keeps_the_grey_reference_and_the_tracker_follows_the_model(digits):
    train, val = digits.split(0.2, seed=0)
    grey_model = DrawsRealImages(train.get(slice(200, len(train))).x, binarised=False)
    tracker = QualityTracker("digits", train, val, 200, torch.device("cpu"))
    out = tracker.measure(grey_model)
    assert tracker.reference.data == "as loaded" and out["fid"] < 2 * out["fid_floor"]
    grey_floor = out["fid_floor"]
    binary_model = DrawsRealImages(train.get(slice(200, len(train))).x, binarised=True)
    again = tracker.measure(binary_model)  # another kind of model: the reference is rebuilt for it
    assert tracker.reference.data == "binarised" and again["fid_floor"] != grey_floor


def test_eval_of_a_bernoulli_pixelcnn_names_and_uses_the_binarised_reference(tmp_path, digits):
    out, _ = tiny_run(tmp_path, "pixelcnn", "digits", {})
    r = evaluate_run(out, n=120, device="cpu", save=False)
    assert r["likelihood_data"] == "binarised" and r["reference_data"] == "binarised"
    vae_out, _ = tiny_run(tmp_path, "vae", "digits", {})
    v = evaluate_run(vae_out, n=120, device="cpu", save=False)
    assert v["reference_data"] == "as loaded"
    # The floors differ: the same real sets, thresholded for the pixelcnn only.
    assert r["fid_floor"] != pytest.approx(v["fid_floor"])


def test_nonfinite_samples_are_left_out_and_counted(digits):
    """A diverged sample (NaN or inf pixels) is counted and left out, not turned into a linear-algebra error."""
    train, val = digits.split(0.2, 0)
    real, floor_set, _ = reference_sets(train, val, 100)
    reference = ImageReference(features.feature_extractor(digits, "digits", torch.device("cpu")), real, floor_set)
    clean = reference.score(floor_set)
    assert "nonfinite_samples" not in clean
    broken = floor_set.clone()
    broken[3, 0, 0, 0] = float("nan")
    broken[7, 0, 2, 2] = float("inf")
    scored = reference.score(broken)
    assert scored["nonfinite_samples"] == 2
    kept = torch.cat([floor_set[:3], floor_set[4:7], floor_set[8:]])
    assert scored["fid"] == pytest.approx(reference.score(kept)["fid"], rel=1e-9)
    nothing = reference.score(torch.full_like(floor_set, float("nan")))
    assert nothing["nonfinite_samples"] == len(floor_set) and nothing["fid"] != nothing["fid"]  # NaN
