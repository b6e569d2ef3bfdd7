"""Distances between two sets of feature vectors: FID and KID.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule")
fits a Gaussian to each set and takes the Fréchet (2-Wasserstein) distance
between the two Gaussians:

    d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).

It is biased at small n (a perfect model does not score 0), which is why
genstudio always reports the floor beside it: the same number for real
training data against held-out real data, at the same n.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs", section 3) is the
squared maximum mean discrepancy with the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, estimated without bias and averaged over random
subsets. Unbiased means a perfect model scores 0 in expectation, so single
estimates can be negative.
"""

from __future__ import annotations

import numpy as np
import torch


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D) and covariance (D x D, divided by n - 1) of N x D features, in float64."""
    f = features.detach().reshape(len(features), -1).double().cpu().numpy()
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(f)}")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Squared Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of S1^(1/2) S2 S1^(1/2), which is symmetric positive
    semi-definite and has the same eigenvalues as S1 S2; unlike scipy's
    general ``sqrtm`` of the non-symmetric product it never returns a
    complex result for singular (n < D) covariances.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"mismatched shapes: mu {mu1.shape} / {mu2.shape}, sigma {s1.shape} / {s2.shape}")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_features(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between two N x D feature sets."""
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def _poly_mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(
    a: torch.Tensor, b: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float | None]:
    """(mean, standard deviation) of the unbiased polynomial-kernel MMD^2 over random subsets.

    When both sets are no larger than ``subset_size`` every subset would be
    the whole set, so the estimate is computed once and there is no spread to
    report (None, not a misleading 0).
    """
    x = a.detach().reshape(len(a), -1).double().cpu()
    y = b.detach().reshape(len(b), -1).double().cpu()
    m = min(len(x), len(y), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 examples per set, got {len(x)} and {len(y)}")
    if m == len(x) == len(y):
        return _poly_mmd2_unbiased(x, y), None
    g = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        ix = torch.randperm(len(x), generator=g)[:m]
        iy = torch.randperm(len(y), generator=g)[:m]
        values.append(_poly_mmd2_unbiased(x[ix], y[iy]))
    t = torch.tensor(values)
    return float(t.mean()), float(t.std()) if len(values) > 1 else None

