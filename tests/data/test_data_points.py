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


def moon_offsets(ds) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance from its own moon's unit circle, position t in [0, pi] along its half circle) of every point.

    The upper moon (label 0) is (cos t, sin t): the top half of the unit circle at (0, 0); the lower
    moon (label 1) is (1 - cos t, 0.5 - sin t): the bottom half of the unit circle at (1, 0.5).
    """
    upper = (ds.y == 0)[:, None]
    d = ds.x - torch.where(upper, torch.zeros(2), torch.tensor([1.0, 0.5]))
    d = torch.where(upper, d, -d)  # the lower moon is the upper one turned half a turn
    r = d.norm(dim=1)
    t = torch.acos((d[:, 0] / r).clamp(-1, 1)) * torch.where(d[:, 1] < -1e-6, -1.0, 1.0)  # negative: wrong half
    return r - 1, t


def test_moons_without_noise_lie_on_both_half_circles() -> None:
    clean = load_dataset("moons", DataOptions(n_points=300, noise=0.0))
    off, angle = moon_offsets(clean)
    assert float(off.abs().max()) < 1e-5
    assert int((clean.y == 0).sum()) == int((clean.y == 1).sum()) == 150
    # Each moon covers its whole half circle, evenly: not a few points piled at one place.
    for label in (0, 1):
        a = angle[clean.y == label]
        assert float(a.min()) == pytest.approx(0, abs=1e-3) and float(a.max()) == pytest.approx(math.pi, abs=1e-3)
        gaps = torch.diff(torch.sort(a).values)
        assert float(gaps.max()) < 2 * math.pi / len(a)


@pytest.mark.parametrize("name", ["moons", "circles"])
@pytest.mark.parametrize("noise", [0.05, 0.2])
def test_noise_scatters_points_off_the_curves_by_the_asked_sd(name, noise) -> None:
    ds = load_dataset(name, DataOptions(n_points=4000, noise=noise, seed=3))
    if name == "moons":
        off, _ = moon_offsets(ds)
    else:  # the outer circle has radius 1, the inner (label 1) 0.5
        off = ds.x.norm(dim=1) - torch.where(ds.y == 0, 1.0, 0.5)
    # Gaussian noise of sd s moves a point off its curve by about N(0, s) (plus s^2 / 2r of curvature).
    assert float(off.std()) == pytest.approx(noise, rel=0.1), float(off.std())
    assert abs(float(off.mean())) < 0.2 * noise
    assert not torch.equal(load_dataset(name, DataOptions(n_points=4000, noise=noise, seed=4)).x, ds.x)
    assert torch.equal(load_dataset(name, DataOptions(n_points=4000, noise=noise, seed=3)).x, ds.x)


def test_waveforms() -> None:
    ds = load_dataset("waveforms", DataOptions(seed=0))
    assert ds.info.kind == "audio" and ds.info.sample_rate == 8000
    assert ds.x.dtype == torch.float32 and ds.x.shape[1:] == (1, ds.info.shape[1]) and ds.info.shape[0] == 1
    assert float(ds.x.abs().max()) <= 1.0 and float(ds.x.abs().amax(dim=(1, 2)).min()) >= 0.29
    assert ds.info.num_classes == 3 and sorted(torch.unique(ds.y).tolist()) == [0, 1, 2]
    assert torch.equal(load_dataset("waveforms", DataOptions(seed=0)).x, ds.x)
