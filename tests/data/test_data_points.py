"""2-D toy sets (FFJORD recipes), their known entropies, and the waveform set."""

from __future__ import annotations

import math

import pytest
import torch

from genstudio.data import DataOptions, load_dataset
from genstudio.data.points import DIFFERENTIAL_ENTROPY, eight_gaussians_log_prob

torch.set_num_threads(1)

POINT_SETS = ["moons", "circles", "8gaussians", "swissroll", "checkerboard"]


@pytest.mark.parametrize("name", POINT_SETS)
def test_point_set_shape_extent_and_seed(name: str) -> None:
    opts = DataOptions(n_points=500, seed=3)
    ds = load_dataset(name, opts)
    assert ds.x.shape == (500, 2) and ds.x.dtype == torch.float32
    assert ds.info.kind == "points" and ds.info.shape == (2,) and ds.info.name == name
    xmin, xmax, ymin, ymax = ds.info.extent
    assert xmin < float(ds.x[:, 0].min()) and float(ds.x[:, 0].max()) < xmax
    assert ymin < float(ds.x[:, 1].min()) and float(ds.x[:, 1].max()) < ymax
    assert torch.equal(load_dataset(name, opts).x, ds.x)
    assert not torch.equal(load_dataset(name, DataOptions(n_points=500, seed=4)).x, ds.x)


@pytest.mark.parametrize("name,classes", [("moons", 2), ("circles", 2), ("8gaussians", 8)])
def test_labelled_point_sets(name: str, classes: int) -> None:
    ds = load_dataset(name, DataOptions(n_points=800))
    assert ds.has_labels and ds.info.num_classes == classes
    assert sorted(torch.unique(ds.y).tolist()) == list(range(classes))


@pytest.mark.parametrize("name", ["swissroll", "checkerboard"])
def test_unlabelled_point_sets(name: str) -> None:
    ds = load_dataset(name, DataOptions(n_points=200))
    assert (ds.y == -1).all() and ds.info.num_classes == 0


def test_eight_gaussians_entropy_by_monte_carlo() -> None:
    ds = load_dataset("8gaussians", DataOptions(n_points=200_000, seed=0))
    nll = -eight_gaussians_log_prob(ds.x.double()).mean().item()
    # Standard error is about 0.0016 at this n; 0.01 leaves room without hiding a wrong recipe
    # (the disjoint-components value 2.838 and a sqrt(2) divisor would both move it further).
    assert nll == pytest.approx(DIFFERENTIAL_ENTROPY["8gaussians"], abs=0.01)
    assert DIFFERENTIAL_ENTROPY["8gaussians"] == pytest.approx(2.83, abs=0.005)


def test_eight_gaussians_components_sit_where_the_label_says() -> None:
    ds = load_dataset("8gaussians", DataOptions(n_points=4000))
    angles = ds.y.double() * math.pi / 4
    centres = torch.stack([angles.cos(), angles.sin()], 1) * 4 / 1.414
    assert (ds.x.double() - centres).norm(dim=1).mean() < 0.6


def test_checkerboard_is_uniform_on_area_32() -> None:
    ds = load_dataset("checkerboard", DataOptions(n_points=20_000))
    x = ds.x
    assert float(x.abs().max()) <= 4.0
    # Occupied cells of the 4 x 4 board of 2 x 2 squares: exactly 8, alternating, equally full.
    cells = ((x[:, 0] + 4) // 2).long() * 4 + ((x[:, 1] + 4) // 2).long()
    counts = torch.bincount(cells, minlength=16)
    occupied = (counts > 0).nonzero().flatten().tolist()
    assert len(occupied) == 8
    assert len({((c // 4) + (c % 4)) % 2 for c in occupied}) == 1
    assert counts[occupied].float().std() / counts[occupied].float().mean() < 0.05
    assert DIFFERENTIAL_ENTROPY["checkerboard"] == pytest.approx(math.log(32))


def test_noise_option_moves_moons() -> None:
    clean = load_dataset("moons", DataOptions(n_points=300, noise=0.0))
    radius = torch.where(clean.y == 0, clean.x.norm(dim=1), (clean.x - torch.tensor([1.0, 0.5])).norm(dim=1))
    assert torch.allclose(radius, torch.ones_like(radius), atol=1e-5)


def test_waveforms() -> None:
    ds = load_dataset("waveforms", DataOptions(seed=0))
    assert ds.info.kind == "audio" and ds.info.sample_rate == 8000
    assert ds.x.dtype == torch.float32 and ds.x.shape[1:] == (1, ds.info.shape[1]) and ds.info.shape[0] == 1
    assert float(ds.x.abs().max()) <= 1.0 and float(ds.x.abs().amax(dim=(1, 2)).min()) >= 0.29
    assert ds.info.num_classes == 3 and sorted(torch.unique(ds.y).tolist()) == [0, 1, 2]
    assert torch.equal(load_dataset("waveforms", DataOptions(seed=0)).x, ds.x)
