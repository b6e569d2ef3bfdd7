"""``evaluate_run`` on a tiny run of every family, ``evals.jsonl``, and the in-training quality metrics."""

from __future__ import annotations

import json
import math

import pytest
import torch

from genstudio.core.capabilities import LIKELIHOOD_DATA
from genstudio.core.config import ConfigError
from genstudio.core.engine import train
from genstudio.core.loading import load_run_model
from genstudio.core.events import Metrics, Notice
from genstudio.core.runs import RunFolder
from genstudio.core.spec import RunSpec
from genstudio.metrics.evaluate import EVALS_FILE, KEYS, evaluate_run, read_evals
from genstudio.metrics.quality_job import training_jobs
from tests.models.test_contract import tiny_overrides

QUIET = {"batch_size": 16, "log_every": 1, "sample_every": 0, "preview_every_s": 0, "eval_every": 0, "checkpoint_every": 0, "preview_n": 4}

# One tiny run per family: (model, dataset, data options, eval keyword arguments).
FAMILIES = {
    "autoregressive": ("pixelcnn", "digits", {}, {}),
    "autoencoder": ("vae", "digits", {}, {}),
    "adversarial": ("gan", "8gaussians", {"n_points": 2000}, {}),
    "flow": ("realnvp", "moons", {"n_points": 2000}, {}),
    "diffusion": ("ddpm", "digits", {}, {"sampler": "ddim", "steps": 5}),
}


def tiny_run(tmp_path, model, dataset, data, steps=3, **run):
    out = tmp_path / f"{model}-{dataset}"
    spec = RunSpec.create(model, dataset, {**QUIET, "steps": steps, **run}, tiny_overrides(model), data)
    events = list(train(spec, out, jobs=training_jobs()))
    assert events[-1].status == "completed", events[-1].message + events[-1].traceback
    return out, events


@pytest.mark.parametrize("family", list(FAMILIES))
def test_eval_reports_what_each_family_supports(family, tmp_path):
    model, dataset, data, kw = FAMILIES[family]
    out, _ = tiny_run(tmp_path, model, dataset, data)
    r = evaluate_run(out, n=120, device="cpu", **kw)
    assert r["checkpoint_step"] == 3 and r["model"] == model and r["n_samples"] == r["n"] <= 120
    assert r["sampling_seconds"] > 0 and r["samples_per_second"] > 0
    if dataset == "digits":
        for key in ("fid", "fid_floor", "kid", "kid_floor", "precision", "recall", "classifier_score", "class_coverage"):
            assert isinstance(r[key], (int, float)) and math.isfinite(r[key]), key
        assert r["features"].startswith("digits-classifier (val acc ")
        # Three training steps are far from the data by every score; real against real (the floors) is near.
        # Measured at n=120: FID 117-386 against a floor of 20, KID 27-33 against 0.8, precision 0.00-0.05.
        assert r["fid_floor"] < 40 and r["fid"] > 3 * r["fid_floor"], (r["fid"], r["fid_floor"])
        assert r["kid"] > 5 * r["kid_floor"], (r["kid"], r["kid_floor"])
        # The bernoulli pixelcnn is scored against binarised digits (metrics/quality.py, the fair ruler), whose
        # k-NN balls in feature space are wider: its 3-step samples measured precision 0.62 there.
        assert r["precision"] < (0.5 if r["reference_data"] == "as loaded" else 0.9 * r["precision_floor"]), (r["precision"], r["precision_floor"])
        assert "mmd2" not in r
    else:
        assert r["features"] == "raw coordinates"
        assert r["mmd2"] > r["mmd2_floor"] + 0.005 and abs(r["mmd2_floor"]) < 0.01 and "fid" not in r
    if family in ("autoregressive", "flow"):
        assert r["likelihood"] == "exact" and r["nll_nats"] > 0
    if family == "autoencoder":
        assert r["likelihood"] == "bound" and r["nll_nats"] == r["nll_iw"]
    if dataset == "digits" and "likelihood" in r:
        assert r["bits_per_dim"] == pytest.approx(r["nll_nats"] / (64 * math.log(2)), rel=1e-6)
    if family == "diffusion":  # the variational bound of DDPM eq. 5
        assert r["likelihood"] == "bound" and r["nll_nats"] == r["nll"] > 0
    if family == "adversarial":
        assert "likelihood" not in r and "bits_per_dim" not in r
    # What each likelihood is of: PixelCNN on grey digits is binarised, DDPM's bound is of
    # 8-bit values, the default VAE scores grey levels as Bernoulli targets, 2-D flows a density.
    expected_data = {"autoregressive": "binarised", "autoencoder": "grey as Bernoulli", "flow": "continuous", "diffusion": "8-bit"}
    assert r.get("likelihood_data") == expected_data.get(family)
    assert "likelihood_data" not in r or r["likelihood_data"] in LIKELIHOOD_DATA
    if dataset == "8gaussians":
        assert r["modes_covered_floor"] == 8  # the real data covers every mode; three GAN steps cannot
        assert r["modes_covered"] < 8 and 0 <= r["high_quality_fraction"] < 0.5, (r["modes_covered"], r["high_quality_fraction"])
    if family == "diffusion":
        assert (r["sampler"], r["steps"], r["nfe"]) == ("ddim", 5, 5)
    if family == "autoregressive":
        assert r["nfe"] == 64  # one network pass per pixel of an 8 x 8 digit
    if family == "flow":
        assert r["nfe"] == 1  # RealNVP samples in one pass through the flow
    assert set(r) - set(KEYS), "the model's own validation metrics come along"
    lines = read_evals(out)
    assert len(lines) == 1 and lines[0] == json.loads(json.dumps(r, sort_keys=True))


def test_eval_on_audio_and_on_a_slow_sampling_flow(tmp_path):
    # WaveNet: a likelihood and the sampling cost of a few clips (no sample-quality score for sound).
    out, _ = tiny_run(tmp_path, "wavenet", "waveforms", {})
    r = evaluate_run(out, n=8, device="cpu", save=False)
    assert r["likelihood"] == "exact" and r["bits_per_dim"] > 0 and r["likelihood_data"] == "mu-law 8-bit"
    assert r["n_samples"] == 4 and r["samples_per_second"] > 0 and r["nfe"] == 2048  # one pass per audio sample
    assert "fid" not in r and "mmd2" not in r
    # MAF samples one dimension at a time: two passes for 2-D points.
    out, _ = tiny_run(tmp_path, "maf", "moons", {"n_points": 600})
    assert evaluate_run(out, n=50, device="cpu", save=False)["nfe"] == 2


def test_evals_jsonl_appends_and_save_false_does_not(tmp_path):
    out, _ = tiny_run(tmp_path, "gan", "moons", {"n_points": 500})
    a = evaluate_run(out, n=50, device="cpu")
    b = evaluate_run(out, n=50, device="cpu", save=False)
    c = evaluate_run(out, n=40, device="cpu", seed=1)
    assert a["mmd2"] == b["mmd2"]  # same seed, same samples
    lines = (out / EVALS_FILE).read_text().splitlines()
    assert [json.loads(x)["n"] for x in lines] == [50, 40]
    assert c["time"] >= a["time"]


def test_sampler_options_are_validated(tmp_path):
    out, _ = tiny_run(tmp_path, "gan", "moons", {"n_points": 500})
    with pytest.raises(ConfigError, match="has no 'sampler' sampling option"):
        evaluate_run(out, n=20, device="cpu", sampler="ddim")
    assert not (out / EVALS_FILE).exists()


def test_unknown_sampler_and_too_many_steps(tmp_path):
    out, _ = tiny_run(tmp_path, "ddpm", "moons", {"n_points": 500}, steps=1)
    with pytest.raises(ConfigError, match="unknown sampler 'euler'"):
        evaluate_run(out, n=20, device="cpu", sampler="euler")
    with pytest.raises(ConfigError, match="at most the model's 50 diffusion steps"):
        evaluate_run(out, n=20, device="cpu", steps=51)


def test_quality_metrics_during_training_leave_the_run_unchanged(tmp_path):
    data = {"n_points": 1000}
    plain, _ = tiny_run(tmp_path / "a", "gan", "8gaussians", data, steps=12)
    measured, events = tiny_run(tmp_path / "b", "gan", "8gaussians", data, steps=12, quality_every=5, quality_n=64)
    quality = [e for e in events if isinstance(e, Metrics) and "mmd2" in e.values]
    assert [e.step for e in quality] == [5, 10, 12] and all(e.split == "val" for e in quality)
    assert {"mmd2", "mmd2_floor", "modes_covered"} <= set(quality[0].values)
    assert len({e.values["mmd2_floor"] for e in quality}) == 1  # the floor is computed once
    assert any(isinstance(e, Notice) and "raw coordinates" in e.message for e in events)
    records, _ = RunFolder(measured).read_metrics()
    assert [r["step"] for r in records if "mmd2" in r] == [5, 10, 12]
    assert "Sample quality: MMD²" in RunFolder(measured).meta["metric_groups"]
    # Sampling for the metric never touched the training RNG: the weights are identical.
    a, _, _ = load_run_model(plain, device="cpu")
    b, _, _ = load_run_model(measured, device="cpu")
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k


def test_image_quality_metrics_during_training(tmp_path):
    _, events = tiny_run(tmp_path, "vae", "digits", {}, steps=4, quality_every=2, quality_n=64)
    quality = [e for e in events if isinstance(e, Metrics) and "fid" in e.values]
    assert [e.step for e in quality] == [2, 4]
    assert {"fid", "fid_floor", "kid", "kid_floor"} == set(quality[0].values)
    assert quality[0].values["fid"] > quality[0].values["fid_floor"]
    assert any(isinstance(e, Notice) and "digits-classifier" in e.message for e in events)
