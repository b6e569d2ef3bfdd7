"""A classifier's view of a sample set: an Inception-Score-like number, confidence and class coverage.

The Inception Score (Salimans et al. 2016, section 4) is
exp E_x[KL(p(y|x) || p(y))]: high when each sample is classified
confidently (p(y|x) peaked) and the classes are used evenly (p(y) flat). It
ranges from 1 to the number of classes. Here p(y|x) comes from genstudio's
own small classifier trained on the dataset (genstudio/metrics/features.py)
rather than an ImageNet Inception network, so it is comparable across runs
on one dataset, not with published Inception Scores.

Beside it: the mean top-class probability (do samples look like some
class?) and class coverage, the number of classes that receive at least a
given fraction of the samples, which is the image analogue of the modes
counted on 8gaussians (genstudio/metrics/modes.py).
"""

from __future__ import annotations

import torch

#: A class is covered when it gets at least this share of its fair 1/K part of the samples.
COVERAGE_SHARE = 0.2


def classifier_score(probs: torch.Tensor, coverage_share: float = COVERAGE_SHARE) -> dict[str, float | int]:
    """Score N x K class probabilities: ``classifier_score``, ``confidence``, ``class_coverage``, ``num_classes``."""
    p = probs.detach().double().cpu()
    if p.dim() != 2 or len(p) == 0:
        raise ValueError(f"expected N x K probabilities, got shape {tuple(p.shape)}")
    n, k = p.shape
    eps = 1e-12
    marginal = p.mean(0, keepdim=True)
    kl = (p * ((p + eps).log() - (marginal + eps).log())).sum(1)
    counts = torch.bincount(p.argmax(1), minlength=k)
    need = max(1.0, coverage_share * n / k)
    return {
        "classifier_score": float(kl.mean().exp()),
        "confidence": float(p.max(1).values.mean()),
        "class_coverage": int((counts >= need).sum()),
        "num_classes": int(k),
    }
