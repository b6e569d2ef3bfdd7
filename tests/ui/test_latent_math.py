"""The latent explorer's Qt-free arithmetic: projections and their way back, slerp, grids, ranking."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.ui.panels.latent_math import grid_latents, interpolate, project, rank_dimensions, slerp, traversal_latents


def test_slerp_keeps_the_norm_and_hits_the_endpoints():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)
    for t in (0.25, 0.5, 0.8):
        assert np.linalg.norm(slerp(a, b, t)) == pytest.approx(np.linalg.norm(a), rel=1e-6)
    # The linear midpoint of two independent Gaussian draws is about sqrt(2) too short; slerp's is not.
    assert np.linalg.norm((a + b) / 2) < 0.8 * np.linalg.norm(a)
    assert np.allclose(slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: falls back to linear


def test_interpolate_frames_and_errors():
    z = interpolate(np.zeros(3), np.ones(3), 5, "linear")
    assert z.shape == (5, 3) and np.allclose(z[:, 0], [0, 0.25, 0.5, 0.75, 1])
    assert interpolate(np.ones(3), -np.ones(3) + 0.1, 7, "slerp").shape == (7, 3)
    with pytest.raises(ValueError, match="at least 2 frames"):
        interpolate(np.zeros(3), np.ones(3), 1)
    with pytest.raises(ValueError, match="unknown interpolation 'cubic'"):
        interpolate(np.zeros(3), np.ones(3), 3, "cubic")


def test_projections_and_the_way_back():
    rng = np.random.default_rng(0)
    z2 = rng.standard_normal((50, 2)).astype(np.float32)
    ident = project(z2)
    assert ident.kind == "identity" and np.allclose(ident.coords, z2) and np.allclose(ident.to_latent((0.3, -1.0)), [0.3, -1.0])
    assert project(z2[:, :1]).coords.shape == (50, 2)
    # Data on a plane in 5-D: PCA's way back reproduces a point of that plane exactly.
    basis = rng.standard_normal((2, 5))
    z5 = (rng.standard_normal((80, 2)) @ basis + 1.0).astype(np.float32)
    pca = project(z5, "pca")
    assert pca.kind == "pca"
    assert np.allclose(pca.to_latent(tuple(pca.coords[7])), z5[7], atol=1e-4)
    tsne = project(z5, "tsne")
    assert tsne.kind == "tsne" and tsne.coords.shape == (80, 2)
    # On an embedded point t-SNE's way back is (almost) that point's latent.
    assert np.allclose(tsne.to_latent(tuple(tsne.coords[3])), z5[3], atol=1e-3)
    with pytest.raises(ValueError, match="unknown projection 'umap'"):
        project(z5, "umap")


def test_ranking_grid_and_traversals():
    order, score, name = rank_dimensions(3, kl=np.array([0.1, 2.0, 0.5]))
    assert list(order) == [1, 2, 0] and name == "KL"
    lat = np.array([[0, 0, 0], [0, 3, 1], [0, -3, -1]], np.float32)
    order, _, name = rank_dimensions(3, latents=lat)
    assert list(order) == [1, 2, 0] and name == "var"
    assert rank_dimensions(2)[2] == "prior"
    g = grid_latents(np.array([9, 9, 9], np.float32), 0, 2, (-1, 1), (-2, 2), 3)
    assert g.shape == (9, 3) and np.all(g[:, 1] == 9)
    assert list(g[:3, 0]) == [-1, 0, 1] and list(g[:3, 2]) == [2, 2, 2] and list(g[-3:, 2]) == [-2, -2, -2]
    with pytest.raises(ValueError, match="two different dimensions"):
        grid_latents(np.zeros(3), 1, 1, (0, 1), (0, 1), 2)
    t = traversal_latents(np.zeros(3, np.float32), [2, 0], np.linspace(-1, 1, 4))
    assert t.shape == (8, 3) and np.allclose(t[:4, 2], np.linspace(-1, 1, 4)) and np.allclose(t[4:, 0], np.linspace(-1, 1, 4))
    per_dim = np.stack([np.linspace(-k, k, 5) for k in (1, 2, 3)])
    t = traversal_latents(np.zeros(3, np.float32), [1], per_dim)
    assert np.allclose(t[:, 1], np.linspace(-2, 2, 5))


def test_class_label_positions_are_medians_pushed_apart():
    from genstudio.ui.panels.latent_math import class_label_positions

    coords = np.array([[0.0, 0.0], [1.0, 1.0], [100.0, 2.0], [5.0, 5.0], [7.0, 9.0]])
    labels = np.array([0, 0, 0, 1, -1])
    pos = class_label_positions(coords, labels)
    assert pos == {0: (1.0, 1.0), 1: (5.0, 5.0)}  # the stray at x = 100 does not drag the name; -1 is unlabelled
    # Two classes with the same median: their names end up min_gap apart (in fractions of the map), not on top.
    coords = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0], [5.0, 5.0], [4.0, 6.0], [6.0, 4.0]])
    labels = np.array([2, 2, 0, 0, 1, 1])
    pos = class_label_positions(coords, labels, min_gap=0.1)
    for a in pos:
        for b in pos:
            if a < b:
                assert np.hypot(*((np.subtract(pos[a], pos[b])) / 10.0)) >= 0.1 - 1e-9, pos
    assert np.allclose(np.mean(list(pos.values()), axis=0), [5.0, 5.0], atol=1e-6)  # pushed symmetrically
