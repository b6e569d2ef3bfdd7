"""Looking inside a flow: the numbers and pictures the flow panel shows, without Qt.

A flow f maps data x to a latent z through a chain of stages (the model's
preprocessing, then every layer), so everything worth seeing follows from
the change of variables (RealNVP eq. 3):

    log p(x) = log p_Z(f(x)) + sum_k log |det J_k(x)|

- the **density map**: log p(x) on a regular grid over the plane;
- the **log-det map**: sum_k log |det J_k| (the whole flow) or one term
  (one stage) as a function of where x starts, which shows where a layer
  stretches space (positive: it spreads points apart, so density there is
  concentrated) and where it squeezes;
- the **warp**: a regular grid of lines and the data pushed stage by stage
  from data space to the base (``forward_stages``), or a regular grid in the
  base pulled back to data space (``inverse_stages``: prior samples become
  model samples on the way);
- **speed of each direction**: MAF scores data in one pass per layer and
  samples in D sequential passes; IAF the reverse (Papamakarios et al. 2017,
  section 3.3). ``time_directions`` measures both on the loaded model;
- for images: samples at several temperatures (Glow section 5: z scaled by
  T), the latent of an example split into its scales (RealNVP section 3.6),
  the measured invertibility error and exact bits/dim.

All functions take a :class:`~genstudio.models.flows.base.FlowModel` and
tensors; they never train and never change the model.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from .base import FlowModel, bits_per_dim, dequantize

#: The temperatures of the image samples (Glow section 5; T = 0 is the prior's mode mapped back).
TEMPERATURES = (0.0, 0.5, 0.7, 0.85, 1.0)


def _check_points(model: FlowModel, what: str) -> None:
    if model.data_info.kind != "points" or model.data_info.dim != 2:
        raise ValueError(f"{what} needs a flow trained on 2-D points; this one models {model.data_info.kind} of shape {model.data_info.shape}")


# -- the plane ----------------------------------------------------------------------------


def plane_grid(extent: tuple[float, float, float, float], n: int) -> torch.Tensor:
    """Centres of an n x n grid of cells over (x0, x1, y0, y1): (n*n) x 2, row-major from the bottom row.

    ``values.reshape(n, n)`` of a function on these points is an image whose row i is y = y0 + (i + 0.5) dy.
    """
    if n < 2:
        raise ValueError(f"a grid needs at least 2 cells a side; got {n}")
    x0, x1, y0, y1 = extent
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"extent must be (x0, x1, y0, y1) with x0 < x1 and y0 < y1; got {extent}")
    xs = x0 + (torch.arange(n, dtype=torch.float32) + 0.5) * (x1 - x0) / n
    ys = y0 + (torch.arange(n, dtype=torch.float32) + 0.5) * (y1 - y0) / n
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def grid_lines(extent: tuple[float, float, float, float], lines: int = 15, points: int = 80) -> torch.Tensor:
    """A regular grid drawn as polylines: ``2 * lines`` lines (vertical, then horizontal) of ``points`` points: L x P x 2."""
    x0, x1, y0, y1 = extent
    xs, ys = torch.linspace(x0, x1, lines), torch.linspace(y0, y1, lines)
    tx, ty = torch.linspace(x0, x1, points), torch.linspace(y0, y1, points)
    vertical = torch.stack([xs[:, None].expand(lines, points), ty[None, :].expand(lines, points)], -1)
    horizontal = torch.stack([tx[None, :].expand(lines, points), ys[:, None].expand(lines, points)], -1)
    return torch.cat([vertical, horizontal], 0)


# -- stage by stage ------------------------------------------------------------------------


def stage_labels(model: FlowModel) -> list[str]:
    """One label per stage of :meth:`FlowModel.layerwise`: ``data``, the preprocessing, then ``layer k: <name>``."""
    labels = model.layer_labels()
    return [labels[0], labels[1]] + [f"layer {k}: {name}" for k, name in enumerate(labels[2:], 1)]


@torch.no_grad()
def forward_stages(model: FlowModel, x: torch.Tensor) -> list[torch.Tensor]:
    """``x`` after each stage, data space first, the latent z last (N x D each; see ``layerwise``)."""
    return model.layerwise(x)


@torch.no_grad()
def inverse_stages(model: FlowModel, z: torch.Tensor) -> list[torch.Tensor]:
    """Latents pulled back through the flow: entry k is what stage k of ``forward_stages`` would hold.

    Entry -1 is ``z`` and entry 0 is data space, so the same slider position shows the same stage in
    both directions. Only for single-level flows on vectors (every 2-D flow), where each stage's
    state is the layer's own input.
    """
    if len(model.flow.levels) != 1 or len(model.flow.in_shape) != 1:
        raise ValueError("inverse_stages needs a single-level flow on vectors (the 2-D flows); multi-scale image flows factor parts out")
    model.eval()
    states = [z]
    h = z
    for layer in reversed(model.flow.layers()):
        h = layer.inverse(h)
        states.append(h)
    states.append(model._from_flow_input(h).reshape(z.shape[0], -1))
    return states[::-1]


@dataclass
class PlaneMaps:
    """Maps over an n x n grid (row 0 at the bottom): log p(x), and log |det J| of the whole flow and of each stage."""

    extent: tuple[float, float, float, float]
    log_density: np.ndarray  # n x n, nats
    logdet_total: np.ndarray  # n x n: log |dz/dx| of the whole flow, preprocessing included
    logdet_stages: list[np.ndarray]  # one n x n map per stage (entry 0, data space, is all zeros)

    @property
    def cell_area(self) -> float:
        x0, x1, y0, y1 = self.extent
        n = self.log_density.shape[0]
        return (x1 - x0) * (y1 - y0) / (n * n)

    def mass(self) -> float:
        """The integral of the density over the grid's area (about 1 when the grid covers the data)."""
        return float(np.exp(self.log_density.astype(np.float64)).sum() * self.cell_area)


@torch.no_grad()
def plane_maps(model: FlowModel, extent: tuple[float, float, float, float], n: int = 200, chunk: int = 8192) -> PlaneMaps:
    """The density and log-det maps of a 2-D flow over ``extent``, from one layer-by-layer pass.

    log p(x) = log p_Z(z) + (cumulative log-det of the last stage); stage k's own log-det is the
    difference of the cumulative log-dets after and before it.
    """
    _check_points(model, "plane_maps")
    grid = plane_grid(extent, n).to(model.device)
    log_density, cumulative = [], []
    for part in grid.split(chunk):
        states, logdets = model.layerwise(part, with_logdet=True)
        log_density.append(model._prior_log_prob(states[-1]) + logdets[-1])
        cumulative.append(torch.stack(logdets, 0))
    cum = torch.cat(cumulative, 1).float().cpu()  # stages x (n*n)
    stages = torch.cat([torch.zeros_like(cum[:1]), cum[1:] - cum[:-1]], 0)
    return PlaneMaps(
        extent=tuple(float(v) for v in extent),
        log_density=torch.cat(log_density).float().cpu().reshape(n, n).numpy(),
        logdet_total=cum[-1].reshape(n, n).numpy(),
        logdet_stages=[s.reshape(n, n).numpy() for s in stages],
    )


# -- which direction is fast ---------------------------------------------------------------


def passes_per_layer(model: FlowModel) -> tuple[int, int]:
    """Sequential network passes per layer for (density, sampling): 1, or D for the slow autoregressive direction."""
    return (1 if model.fast_density else model.latent_dim), model.sampling_nfe


def speed_summary(model: FlowModel) -> str:
    """One sentence: which direction costs one pass and which costs one pass per dimension."""
    name = type(model).__name__
    dens, samp = passes_per_layer(model)
    d = model.latent_dim

    def say(p: int) -> str:
        return "one pass per layer" if p == 1 else f"D = {d} sequential passes per layer"

    if dens == samp == 1:
        return f"{name}: density and sampling each take one pass per layer (a coupling flow inverts in closed form)."
    fast = "density" if dens == 1 else "sampling"
    return f"{name}: density takes {say(dens)}, sampling takes {say(samp)}; {fast} is the fast direction."


@dataclass
class DirectionTimes:
    density_s: float
    density_n: int
    sample_s: float
    sample_n: int

    @property
    def ratio(self) -> float:
        """Seconds per sample over seconds per density evaluation (> 1: sampling is the slow direction)."""
        per_sample = self.sample_s / max(self.sample_n, 1)
        per_density = self.density_s / max(self.density_n, 1)
        return per_sample / max(per_density, 1e-12)


@torch.no_grad()
def time_directions(model: FlowModel, x: torch.Tensor, n_samples: int, repeats: int = 3, seed: int = 0) -> DirectionTimes:
    """Wall-clock seconds to score ``x`` and to draw ``n_samples``, the best of ``repeats`` (the least disturbed run)."""
    model.eval()
    dens, samp = math.inf, math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        model.log_prob(x)
        t1 = time.perf_counter()
        model.sample(n_samples, torch.Generator().manual_seed(seed))
        t2 = time.perf_counter()
        dens, samp = min(dens, t1 - t0), min(samp, t2 - t1)
    return DirectionTimes(dens, int(x.shape[0]), samp, n_samples)


# -- likelihood and invertibility ----------------------------------------------------------


@torch.no_grad()
def nll_nats(model: FlowModel, x: torch.Tensor, chunk: int = 1024) -> float:
    """Mean -log p(x) in nats over ``x`` (images: of the 8-bit data, fixed-seed dequantisation)."""
    total = 0.0
    for part in x.split(chunk):
        total += float(-model.log_prob(part.to(model.device)).double().sum())
    return total / max(int(x.shape[0]), 1)


@torch.no_grad()
def measured_invertibility_error(model: FlowModel, x: torch.Tensor, seed: int = 0) -> float:
    """max |x - inverse(forward(x))| on a batch; images are dequantised first (the flow's real inputs)."""
    if model.data_info.kind == "image":
        x = dequantize(x, torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)).to(x.device))
    return model.invertibility_error(x.to(model.device))


# -- images --------------------------------------------------------------------------------


@torch.no_grad()
def temperature_samples(model: FlowModel, n: int, temperatures: tuple[float, ...] = TEMPERATURES, seed: int = 0) -> dict[float, torch.Tensor]:
    """n samples per temperature from one draw of the prior scaled by T, so rows differ only by T.

    With a class prior the columns are the classes 0, 1, ... in turn and T scales each draw's spread
    about its class's mean (T = 0 gives the means), the noise the same in every row.
    """
    if any(t < 0 for t in temperatures):
        raise ValueError(f"temperatures must be >= 0; got {temperatures}")
    if getattr(model, "class_prior", None) is not None:
        labels = torch.arange(n) % model.num_classes
        return {float(t): model.decode(model.prior_sample(n, torch.Generator().manual_seed(seed), t, labels=labels)).cpu()
                for t in temperatures}
    z = model.prior_sample(n, torch.Generator().manual_seed(seed))
    return {float(t): model.decode(z * t).cpu() for t in temperatures}


def latent_shapes(model: FlowModel) -> list[tuple[str, tuple[int, ...]]]:
    """The parts of the flat latent, in order, with the per-example shape each part has inside the flow.

    Multi-scale flows (RealNVP, Glow) factor half the channels out after every level but the last;
    flows that flatten images (NICE, MAF) have one part, shown in the image's own layout.
    """
    if model.data_info.kind != "image" or model.flattens_images:
        return [("z", tuple(model.data_info.shape))]
    flow = model.flow
    parts = [(f"scale {k + 1} ({'x'.join(map(str, s))})", tuple(s)) for k, s in enumerate(flow.factored_shapes)]
    s = flow.final_shape
    parts.append((f"scale {len(parts) + 1}, last ({'x'.join(map(str, s))})", tuple(s)))
    return parts


def split_latent(model: FlowModel, z: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Flat latents N x D -> [(label, N x C x H x W part)] per scale (see :func:`latent_shapes`)."""
    shapes = latent_shapes(model)
    sizes = [math.prod(s) for _, s in shapes]
    if z.shape[1] != sum(sizes):
        raise ValueError(f"latent has {z.shape[1]} dimensions; this flow's has {sum(sizes)}")
    return [(label, part.reshape(z.shape[0], *s)) for (label, s), part in zip(shapes, z.split(sizes, 1))]


@dataclass
class ImageReport:
    bits_per_dim: float
    nll_nats: float
    invertibility_error: float
    samples: dict[float, torch.Tensor]
    example: torch.Tensor  # C x H x W, the example whose latent is shown
    latent_parts: list[tuple[str, torch.Tensor]]  # C x H x W per scale, for ``example``
    times: DirectionTimes
    notes: list[str] = field(default_factory=list)
    dequantization: str = "uniform"  # or "variational": bits/dim is then Flow++'s bound with the learned q(u | x)
    class_prior: bool = False  # the samples' columns are the classes 0, 1, ... in turn (temperature_samples)


@torch.no_grad()
def image_report(model: FlowModel, val_x: torch.Tensor, n_samples: int = 8, seed: int = 0) -> ImageReport:
    """Everything the panel shows for an image flow, on a validation batch of images in [0, 1]."""
    if model.data_info.kind != "image":
        raise ValueError("image_report needs a flow trained on images")
    if val_x.shape[0] == 0:
        raise ValueError("image_report needs at least one validation image")
    nll = nll_nats(model, val_x)
    z = model.encode(val_x[:1].to(model.device))
    return ImageReport(
        bits_per_dim=float(bits_per_dim(nll, model.latent_dim)),
        nll_nats=nll,
        invertibility_error=measured_invertibility_error(model, val_x, seed),
        samples=temperature_samples(model, n_samples, seed=seed),
        example=val_x[0].cpu(),
        latent_parts=[(label, part[0].cpu()) for label, part in split_latent(model, z)],
        times=time_directions(model, val_x, n_samples, repeats=1, seed=seed),
        dequantization="variational" if model.dequantizer is not None else "uniform",
        class_prior=getattr(model, "class_prior", None) is not None,
    )


# -- reference entropy --------------------------------------------------------------------


def noisy_curve_entropy(curve: np.ndarray, noise: float, n: int = 4000, seed: int = 0) -> float:
    """Differential entropy (nats) of points drawn uniformly from ``curve`` (M x 2) plus N(0, noise^2 I).

    Monte Carlo: H = -E[log p(x)] with p the exact mixture over the M curve points (M dense enough
    that the mixture is the smooth curve density); at n = 4000 the standard error on the 2-D toy
    sets is about 0.01 nats.
    """
    if noise <= 0:
        raise ValueError("a noiseless curve has no density in the plane (entropy -inf); use noise > 0")
    rng = np.random.default_rng(seed)
    c = np.asarray(curve, np.float64)
    x = c[rng.integers(0, len(c), n)] + noise * rng.standard_normal((n, 2))
    log_p = np.empty(n)
    for i in range(0, n, 500):
        xi = x[i : i + 500]
        # |x - c|^2 expanded, so the chunk is one matrix product rather than an N x M x 2 array.
        d2 = np.maximum((xi**2).sum(1)[:, None] + (c**2).sum(1)[None] - 2 * xi @ c.T, 0.0)
        a = -d2 / (2 * noise**2)
        top = a.max(1, keepdims=True)
        log_p[i : i + 500] = (top[:, 0] + np.log(np.exp(a - top).mean(1))) - math.log(2 * math.pi * noise**2)
    return float(-log_p.mean())
