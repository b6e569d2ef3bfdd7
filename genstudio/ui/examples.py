"""Which examples of a dataset a preview shows, with no Qt: the dataset panel's grid and the diffusion
panel's forward view (picked in its load job, off the UI thread) both take them from here."""

from __future__ import annotations

import numpy as np


def pick_examples(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` examples, spread over the classes when there are labels (so a sorted set shows every class)."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    total = len(labels)
    if total <= n:
        return np.arange(total)
    if labels.size and (labels >= 0).all():
        classes = np.unique(labels)
        per = max(1, n // len(classes))
        picked = []
        for c in classes:
            members = np.flatnonzero(labels == c)
            picked.extend(rng.choice(members, size=min(per, len(members)), replace=False))
        picked = np.array(picked[:n])
        if len(picked) < n:
            rest = np.setdiff1d(np.arange(total), picked)
            picked = np.concatenate([picked, rng.choice(rest, size=n - len(picked), replace=False)])
        return np.sort(picked) if len(classes) > n else picked
    return np.sort(rng.choice(total, size=n, replace=False))
