"""FID, KID, precision/recall and the classifier score against closed forms and limiting cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genstudio.metrics.classifier_score import classifier_score
from genstudio.metrics.frechet import fid_from_features, frechet_distance, gaussian_stats, kid
from genstudio.metrics.mmd import median_bandwidth, mmd2_unbiased
from genstudio.metrics.precision_recall import knn_radii, precision_recall


def random_rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def test_frechet_distance_matches_the_closed_form_for_two_gaussians():
    # Diagonal covariances commute: d^2 = |mu1 - mu2|^2 + sum_i (sd1_i - sd2_i)^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, rel=1e-10)
    # The distance is invariant under a rotation of both Gaussians, which makes the covariances full.
    q = random_rotation(3, 0)
    got = frechet_distance(q @ mu1, q @ np.diag(v1) @ q.T, q @ mu2, q @ np.diag(v2) @ q.T)
    assert got == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, np.diag(v1), mu1, np.diag(v1)) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_samples_approaches_the_closed_form():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 4, generator=g)
    b = torch.randn(20000, 4, generator=g) * 2 + 1
    expected = 4 * 1.0 + 4 * (2 - 1) ** 2  # |mu|^2 + sum (sd1 - sd2)^2
    assert fid_from_features(a, b) == pytest.approx(expected, rel=0.03)
    mu, sigma = gaussian_stats(a)
    assert mu.shape == (4,) and sigma.shape == (4, 4)


def test_frechet_distance_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_kid_is_unbiased_on_identical_distributions():
    g = torch.Generator().manual_seed(1)
    values = [kid(torch.randn(100, 8, generator=g), torch.randn(100, 8, generator=g))[0] for _ in range(40)]
    t = torch.tensor(values)
    # Unbiased: the mean over draws is within a few standard errors of 0, and single draws go negative.
    assert abs(float(t.mean())) < 3 * float(t.std()) / math.sqrt(len(t))
    assert (t < 0).any()
    shifted = kid(torch.randn(100, 8, generator=g), torch.randn(100, 8, generator=g) + 1.0)[0]
    assert shifted > float(t.max())


def test_kid_subsets_report_a_spread():
    g = torch.Generator().manual_seed(2)
    mean, std = kid(torch.randn(300, 4, generator=g), torch.randn(300, 4, generator=g) + 0.5, subsets=20, subset_size=100)
    assert mean > 0 and std > 0
    # One estimate on the whole sets (both no larger than a subset) has no spread to report.
    assert kid(torch.randn(50, 4, generator=g), torch.randn(50, 4, generator=g))[1] is None


def test_precision_recall_identical_disjoint_and_collapsed():
    g = torch.Generator().manual_seed(3)
    real = torch.randn(400, 2, generator=g)
    assert precision_recall(real, real.clone()) == (1.0, 1.0)
    p, r = precision_recall(real, torch.randn(400, 2, generator=g))
    assert p > 0.85 and r > 0.85
    assert precision_recall(real, torch.randn(400, 2, generator=g) + 100) == (0.0, 0.0)
    # Mode collapse: every sample near one real point is realistic, but covers little of the data.
    collapsed = real[:1] + 0.01 * torch.randn(400, 2, generator=g)
    p, r = precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.1


def test_knn_radii_exclude_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="more than k"):
        knn_radii(x, k=4)


def test_classifier_score_limits():
    k = 10
    confident_balanced = torch.eye(k).repeat(5, 1)
    s = classifier_score(confident_balanced)
    assert s["classifier_score"] == pytest.approx(k) and s["class_coverage"] == k and s["confidence"] == pytest.approx(1.0)
    one_class = torch.zeros(50, k)
    one_class[:, 3] = 1
    s = classifier_score(one_class)
    assert s["classifier_score"] == pytest.approx(1.0) and s["class_coverage"] == 1
    unsure = torch.full((50, k), 1 / k)
    s = classifier_score(unsure)
    assert s["classifier_score"] == pytest.approx(1.0) and s["confidence"] == pytest.approx(1 / k)
    # Two classes get one sample each out of 100: below 20 % of the fair 10 per class, so not covered.
    probs = torch.zeros(100, k)
    labels = torch.cat([torch.arange(8).repeat_interleave(13)[:98], torch.tensor([8, 9])])
    probs[torch.arange(100), labels] = 1
    assert classifier_score(probs)["class_coverage"] == 8


def test_mmd_with_a_fixed_bandwidth():
    g = torch.Generator().manual_seed(4)
    real = torch.randn(300, 2, generator=g)
    bw = median_bandwidth(real)
    assert 1.0 < bw < 3.0
    same = mmd2_unbiased(torch.randn(300, 2, generator=g), real, bw)
    far = mmd2_unbiased(torch.randn(300, 2, generator=g) + 3, real, bw)
    assert abs(same) < 0.01 and far > 0.3
