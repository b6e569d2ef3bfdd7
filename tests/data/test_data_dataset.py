"""The Dataset contract: stratified split and deterministic, resumable batches."""

from __future__ import annotations

import pytest
import torch

from genstudio.core.data_types import DataInfo
from genstudio.data import DataError, DataOptions, Dataset, load_dataset

torch.set_num_threads(1)


@pytest.fixture
def digits() -> Dataset:
    return load_dataset("digits", DataOptions())


def test_split_is_stratified_and_disjoint(digits: Dataset) -> None:
    digits.x = digits.x.clone()
    # Tag every example with its index in the first pixel row so the halves can be traced.
    index = torch.arange(len(digits))
    digits.x[:, 0, 0, 0] = (index % 256).to(torch.uint8)
    digits.x[:, 0, 0, 1] = (index // 256).to(torch.uint8)
    train, val = digits.split(0.2, seed=1)
    assert val is not None and len(train) + len(val) == len(digits)
    ids = lambda d: set((d.x[:, 0, 0, 0].long() + 256 * d.x[:, 0, 0, 1].long()).tolist())  # noqa: E731
    assert ids(train).isdisjoint(ids(val)) and len(ids(train) | ids(val)) == len(digits)
    full, part = torch.bincount(digits.y, minlength=10).float(), torch.bincount(val.y, minlength=10).float()
    assert ((part / full) - 0.2).abs().max() < 0.02  # every class held out in proportion
    again_train, again_val = digits.split(0.2, seed=1)
    assert torch.equal(again_val.y, val.y) and torch.equal(again_train.x, train.x)


def test_split_unlabelled_and_zero_fraction() -> None:
    ds = load_dataset("checkerboard", DataOptions(n_points=1000))
    train, val = ds.split(0.1, seed=0)
    assert len(val) == 100 and len(train) == 900
    same, none = ds.split(0.0)
    assert same is ds and none is None


def test_batches_deterministic_and_resumable(digits: Dataset) -> None:
    first = [b for _, b in zip(range(12), digits.batches(256, seed=7))]
    again = [b for _, b in zip(range(12), digits.batches(256, seed=7))]
    # 1797 // 256 = 7 batches an epoch: step 9 is inside the second epoch.
    resumed = [b for _, b in zip(range(3), digits.batches(256, seed=7, start_step=9))]
    for a, b in zip(first, again):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    for a, b in zip(first[9:], resumed):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert all(b.x.shape == (256, 1, 8, 8) and b.x.dtype == torch.float32 for b in first)
    other = next(iter(digits.batches(256, seed=8)))
    assert not torch.equal(other.y, first[0].y)


def test_describe_and_empty(digits: Dataset) -> None:
    d = digits.describe()
    assert d["size"] == 1797 and d["shape"] == [1, 8, 8] and sum(d["class_counts"].values()) == 1797
    with pytest.raises(DataError, match="empty"):
        Dataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64), DataInfo("points", (2,), name="none"))


def test_stratified_split_leaves_the_training_order_mixed():
    # The first examples of the training split feed metric floors (metrics/evaluate.py reference_sets):
    # they must cover the classes, not a few classes whose validation quota ran out first.
    from genstudio.data.dataset import load_dataset

    train, val = load_dataset("8gaussians").split(0.1, 0)
    assert len(torch.unique(train.y[:64])) == 8
    assert len(torch.unique(val.y[:64])) == 8
