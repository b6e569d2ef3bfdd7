"""Precision and recall of a generative model in feature space.

Kynkäänniemi et al. 2019, "Improved precision and recall metric for
assessing generative models", section 2: each real feature vector gets a
ball whose radius is the distance to its k-th nearest real neighbour; the
union of the balls estimates the support of the real distribution.
Precision is the fraction of generated samples inside that support (are
the samples realistic?); recall swaps the roles (is every part of the real
data produced by the model?). k = 3 is the paper's default.

FID mixes the two into one number; a GAN that collapses to a few good
modes has high precision and low recall, a blurry VAE the reverse.
"""

from __future__ import annotations

import torch


def knn_radii(features: torch.Tensor, k: int = 3, chunk: int = 1024) -> torch.Tensor:
    """Distance of each row to its k-th nearest other row (itself excluded)."""
    f = features.reshape(len(features), -1).double()
    if len(f) <= k:
        raise ValueError(f"need more than k={k} feature vectors for k-NN radii, got {len(f)}")
    out = []
    for i in range(0, len(f), chunk):
        d = torch.cdist(f[i : i + chunk], f)
        # The k+1-th smallest distance skips the zero distance of a row to itself.
        out.append(d.kthvalue(k + 1, dim=1).values)
    return torch.cat(out)


def _coverage(support: torch.Tensor, radii: torch.Tensor, queries: torch.Tensor, chunk: int = 1024) -> float:
    """Fraction of ``queries`` inside at least one ball (support_i, radii_i)."""
    inside = 0
    for i in range(0, len(queries), chunk):
        d = torch.cdist(queries[i : i + chunk], support)
        inside += int((d <= radii[None, :]).any(1).sum())
    return inside / len(queries)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real``, both N x D features."""
    r = real.detach().reshape(len(real), -1).double().cpu()
    f = fake.detach().reshape(len(fake), -1).double().cpu()
    precision = _coverage(r, knn_radii(r, k), f)
    recall = _coverage(f, knn_radii(f, k), r)
    return precision, recall
