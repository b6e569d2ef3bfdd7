"""Looking inside an autoregressive model: the pure-torch half of the studio's Autoregressive panel.

An autoregressive model writes p(x) = prod_d p(x_d | x_<d) (PixelCNN, van den
Oord et al. 2016; MADE, Germain et al. 2015; WaveNet, van den Oord et al.
2016). Everything that makes that factorisation visible lives here, free of
Qt so it can be tested headless and reused by scripts:

- :class:`GenerationStepper`: one generation run advanced a step at a time
  (a pixel, a row, or a chunk of audio samples), with the set of positions
  drawn so far, so a view can paint the sample filling in, in the model's
  order.
- :func:`receptive_field`: |d logits(c, i, j) / d input| summed over a few
  random inputs, and the *blind spot*: positions earlier in the order whose
  gradient is exactly zero (PixelCNN's stack of masked 3x3 kernels; the
  Gated PixelCNN has none).
- :func:`completion_mask`: the presets of the completion view.
- :func:`made_connectivity`: MADE's per-layer masks and their product, the
  number of paths from each input to each output, which is zero on and
  above the diagonal in generation order (the autoregressive triangle).
- WaveNet: which past samples reach an output through the dilation stack
  (:func:`dilation_reach`) and its gradient receptive field (``.wav``
  export is :func:`genstudio.data.audio.write_wav`).
- :func:`sampling_speed`: positions per second with and without a model's
  exact cache (PixelCNN's row cache, Fast WaveNet's queues).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

Position = tuple[int, int, int]  # (channel, row, column); audio uses (0, 0, t)

UNITS = ("pixel", "row")


def is_audio(model: Any) -> bool:
    return getattr(model.data_info, "kind", "") == "audio"


def model_steps(model: Any) -> list[list[Position]]:
    """The model's generation steps: ``generation_order`` for images, one sample per step for audio."""
    if is_audio(model):
        return [[(0, 0, t)] for t in range(model.length)]
    return model.generation_order()


def is_raster(model: Any) -> bool:
    """Whether the model draws pixels in raster order (rows top to bottom), so a row can be one step."""
    flat = [(i, j) for step in model_steps(model) for _, i, j in step]
    return all(a <= b for a, b in zip(flat, flat[1:]))


def default_unit(model: Any) -> str:
    """PixelRNN's Row LSTM carries its state row by row: show it drawing a row per step. Others: a pixel."""
    return "row" if type(model).__name__ == "RowLSTM" else "pixel"


def group_steps(steps: list[list[Position]], unit: str, chunk: int = 1) -> list[list[int]]:
    """Indices of the model's steps gathered into the panel's steps.

    ``pixel``: ``chunk`` model steps at a time (1 for images; audio may take
    several samples per step). ``row``: every step of one image row (raster
    order only).
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    if unit == "pixel":
        return [list(range(k, min(k + chunk, len(steps)))) for k in range(0, len(steps), chunk)]
    groups: list[list[int]] = []
    row = None
    for k, step in enumerate(steps):
        r = step[0][1]
        if r != row:
            groups.append([])
            row = r
        groups[-1].append(k)
    return groups


class GenerationStepper:
    """One generation run of ``n`` samples from ``seed``, advanced one panel step at a time.

    The model's own generator (``_generate``) does the drawing, so the
    finished sample equals ``model.sample(n, Generator().manual_seed(seed))``
    for the same options. ``drawn`` marks the positions drawn so far.
    """

    def __init__(self, model: Any, n: int, seed: int, unit: str = "pixel", chunk: int = 1,
                 labels: torch.Tensor | None = None, cached: bool = True, temperature: float = 1.0):
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if unit == "row" and not is_raster(model):
            raise ValueError(f"{type(model).__name__} does not draw in raster order; step by pixel")
        self.model = model
        self.n = n
        self.seed = seed
        self.audio = is_audio(model)
        self.steps = model_steps(model)
        self.groups = group_steps(self.steps, unit, chunk)
        self.index = 0  # panel steps done
        gen = torch.Generator().manual_seed(seed)
        kwargs: dict[str, Any] = {"cached": cached, "temperature": temperature}
        if labels is not None:
            kwargs["labels"] = labels
        self._gen: Iterator[torch.Tensor] = model._generate(n, gen, **kwargs)
        shape = (1, model.length) if self.audio else (model.colours, model.height, model.width)
        self.drawn = torch.zeros(shape, dtype=torch.bool)
        self._last: torch.Tensor | None = None
        self.last_positions: list[Position] = []

    @property
    def total(self) -> int:
        return len(self.groups)

    @property
    def finished(self) -> bool:
        return self.index >= len(self.groups)

    def next_positions(self) -> list[Position]:
        """The positions the next :meth:`step` will draw (empty when finished)."""
        if self.finished:
            return []
        return [pos for k in self.groups[self.index] for pos in self.steps[k]]

    def step(self) -> list[Position]:
        """Draw the next group of positions; returns them (empty when the run is finished)."""
        if self.finished:
            return []
        positions = self.next_positions()
        for _ in self.groups[self.index]:
            self._last = next(self._gen)
        for c, i, j in positions:
            if self.audio:
                self.drawn[0, j] = True
            else:
                self.drawn[c, i, j] = True
        self.index += 1
        self.last_positions = positions
        return positions

    def discrete(self) -> torch.Tensor:
        """The drawn values so far as the model holds them (8-bit levels, {0, 1}, or mu-law levels)."""
        if self._last is None:
            shape = (self.n, *self.drawn.shape) if not self.audio else (self.n, self.drawn.shape[1])
            return torch.zeros(shape)
        return self._last.detach().cpu().clone()

    def current(self) -> torch.Tensor:
        """The partial sample in data space (N x C x H x W in [0, 1], or N x 1 x L in [-1, 1]); zeros where not drawn."""
        if self.audio:
            from .wavenet import mu_law_decode

            q = self.discrete().long()
            out = mu_law_decode(q)[:, None] * self.drawn.float()
            return out
        return self.model.to_data(self.discrete()) * self.drawn.float()


# -- pictures -----------------------------------------------------------------------

#: Colour of a position not drawn yet (a blue that no grey value can be).
UNDRAWN = (38, 56, 92)


def generation_picture(x: torch.Tensor, drawn: torch.Tensor) -> np.ndarray:
    """N x C x H x W data in [0, 1] and the C x H x W drawn mask -> N x H x W x 3 uint8, undrawn pixels in :data:`UNDRAWN`.

    A pixel counts as drawn once its first channel is (so a colour pixel
    shows as it fills, R, then G, then B).
    """
    a = (x.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    if a.shape[1] == 1:
        a = np.repeat(a, 3, axis=1)
    a = a[:, :3].transpose(0, 2, 3, 1).copy()
    pixel_drawn = drawn.any(0).cpu().numpy()
    a[:, ~pixel_drawn] = UNDRAWN
    return a


def heat_colours(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> RGB uint8 on a black-red-yellow-white ramp (readable on both themes)."""
    v = np.clip(np.asarray(values, np.float64), 0, 1)
    r = np.clip(v * 3, 0, 1)
    g = np.clip(v * 3 - 1, 0, 1)
    b = np.clip(v * 3 - 2, 0, 1)
    return (np.stack([r, g, b], -1) * 255 + 0.5).astype(np.uint8)


# -- the distribution of one position ---------------------------------------------------


@torch.no_grad()
def position_distribution(model: Any, x: torch.Tensor, c: int, i: int, j: int, labels: torch.Tensor | None = None) -> np.ndarray:
    """p(x_(c,i,j) | x before it) for one example ``x`` (1 x C x H x W data, or 1 x 1 x L audio with j = t).

    256 probabilities for softmax256 (and WaveNet's mu-law levels), 2
    (p(0), p(1)) for bernoulli outputs.
    """
    if is_audio(model):
        return model.distribution_at(x, j)[0].double().cpu().numpy()
    return model.pixel_distribution(x, i, j, c, labels=labels)[0].double().cpu().numpy()


# -- receptive field -------------------------------------------------------------------------


@dataclass
class ReceptiveField:
    """The gradient receptive field of output (c, i, j) (images) or t (audio, i = 0, j = t)."""

    target: Position
    gradient: np.ndarray  # H x W (summed over channels and trials) or L
    before: np.ndarray  # bool, same shape: positions earlier in the generation order than the target
    reach: np.ndarray  # bool, same shape: inside the architecture's reach (kernel sizes, dilations); all True for RNNs and MADE
    trials: int

    @property
    def depends(self) -> np.ndarray:
        return self.gradient > 0

    @property
    def blind(self) -> np.ndarray:
        """Earlier positions within reach that the output cannot see (zero gradient on every trial input).

        Positions beyond the reach of the kernels are simply too far away;
        the blind spot is the hole *inside* the reach (PixelCNN's wedge up
        and to the right).
        """
        return self.before & self.reach & ~self.depends

    @property
    def out_of_reach(self) -> np.ndarray:
        return self.before & ~self.reach & ~self.depends

    @property
    def leaks(self) -> np.ndarray:
        """Positions not earlier than the target that the output sees (never nonzero in a causal model)."""
        return ~self.before & self.depends

    def summary(self) -> str:
        seen, before, blind = int(self.depends.sum()), int(self.before.sum()), int(self.blind.sum())
        text = f"output {self.target}: sees {seen} of the {before} earlier positions; blind spot: {blind}"
        far = int(self.out_of_reach.sum())
        if far:
            text += f"; beyond the kernels' reach: {far}"
        leaks = int(self.leaks.sum())
        if leaks:
            text += f"; {leaks} positions at or after it also reach it (not causal!)"
        return text


def _before_mask(model: Any, target: Position) -> np.ndarray:
    steps = model_steps(model)
    flat = [pos for step in steps for pos in step]
    rank = flat.index(target)
    if is_audio(model):
        mask = np.zeros(model.length, bool)
        mask[: target[2]] = True
        return mask
    mask = np.zeros((model.height, model.width), bool)
    for c, i, j in flat[:rank]:
        mask[i, j] = True
    return mask


def _reach_mask(model: Any, target: Position) -> np.ndarray:
    """Positions inside the window the architecture can reach from the target (``context_reach`` / receptive field)."""
    _, i, j = target
    if is_audio(model):
        mask = np.zeros(model.length, bool)
        mask[max(0, j - model.receptive_field) : j] = True
        return mask
    mask = np.ones((model.height, model.width), bool)
    reach = getattr(model, "context_reach", None)
    if reach is not None:
        up, side = reach
        mask[:] = False
        mask[max(0, i - up) : i + 1, max(0, j - side) : j + side + 1] = True
    return mask


def receptive_field(model: Any, c: int, i: int, j: int, trials: int = 3, seed: int = 0,
                    inp: torch.Tensor | None = None) -> ReceptiveField:
    """|d logits / d input| of one output from the live model, summed over ``trials`` random inputs.

    Several inputs, because one unit that happens to be inactive (a ReLU at
    zero) on one input would hide a path that exists; the blind spot is
    where the gradient is zero for all of them. ``inp`` (model space,
    1 x C x H x W in [-1, 1]) is used as the first trial when given.
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    g = torch.Generator().manual_seed(seed)
    audio = is_audio(model)
    shape = (1, 1, model.length) if audio else (1, model.colours, model.height, model.width)
    total: torch.Tensor | None = None
    for k in range(trials):
        x = inp if (k == 0 and inp is not None) else torch.rand(shape, generator=g) * 2 - 1
        grad = _wavenet_gradient(model, j, x) if audio else _image_gradient(model, c, i, j, x)
        total = grad if total is None else total + grad
    assert total is not None
    gradient = total.numpy() if audio else total.sum(0).numpy()
    target = (c, i, j)
    return ReceptiveField(target, gradient.astype(np.float64), _before_mask(model, target), _reach_mask(model, target), trials)


def _image_gradient(model: Any, c: int, i: int, j: int, x: torch.Tensor) -> torch.Tensor:
    from .common import input_gradient_map

    return input_gradient_map(model, c, i, j, x).detach().cpu()


def _wavenet_gradient(model: Any, t: int, x: torch.Tensor) -> torch.Tensor:
    was_training = model.training
    model.eval()
    x = x.to(model.device).clone().requires_grad_(True)
    with torch.enable_grad():
        out = model.logits(x)[:, :, t]
        grad, = torch.autograd.grad(out.sum(), x)
    model.train(was_training)
    return grad.abs()[0, 0].detach().cpu()


def receptive_field_picture(rf: ReceptiveField, base: np.ndarray | None = None, mode: str = "gradient") -> np.ndarray:
    """H x W x 3 uint8 picture of an image model's receptive field.

    ``gradient``: log |gradient| as a heat ramp over the earlier positions.
    ``binary``: white where the output depends on a pixel, blue where an
    earlier pixel within reach is blind, red where a later pixel leaks in.
    Either way the positions after the target and the earlier ones beyond
    the kernels' reach are dimmed (``base``, an H x W grey image in [0, 1],
    shows through), and the target is green.
    """
    if mode not in ("gradient", "binary"):
        raise ValueError(f"mode must be 'gradient' or 'binary', got {mode!r}")
    h, w = rf.gradient.shape
    grey = np.zeros((h, w)) if base is None else np.clip(np.asarray(base, np.float64), 0, 1)
    out = np.repeat((40 + 60 * grey)[:, :, None], 3, axis=2)  # later positions: a dim copy of the image
    if mode == "binary":
        out[rf.before & rf.depends] = (235, 235, 235)
        out[rf.blind] = (40, 110, 230)
        out[rf.leaks] = (230, 40, 40)
    else:
        g = rf.gradient
        seen = g > 0
        heat = np.zeros((h, w))
        if seen.any():
            lg = np.log10(g[seen])
            lo, hi = lg.min(), lg.max()
            heat[seen] = 0.15 + 0.85 * ((lg - lo) / (hi - lo) if hi > lo else 1.0)
        near = rf.before & (rf.reach | seen)
        out[near] = heat_colours(heat)[near]
        out[rf.blind] = (40, 110, 230)
        out[rf.leaks] = (230, 40, 40)
    _, ti, tj = rf.target
    out[ti, tj] = (40, 200, 60)
    return out.astype(np.uint8)


# -- completion ----------------------------------------------------------------------------

MASK_PRESETS = ("bottom half", "right half", "centre box", "rectangle")


def completion_mask(preset: str, height: int, width: int, rect: tuple[int, int, int, int] | None = None) -> torch.Tensor:
    """1 x 1 x H x W mask, 1 where the pixel is kept (known) and 0 where the model fills it.

    ``rectangle`` hides ``rect`` = (top, left, bottom, right), rows top..bottom-1
    and columns left..right-1 (a rectangle dragged with the mouse).
    """
    mask = torch.ones(1, 1, height, width)
    if preset == "bottom half":
        mask[..., height // 2 :, :] = 0
    elif preset == "right half":
        mask[..., :, width // 2 :] = 0
    elif preset == "centre box":
        mask[..., height // 4 : height - height // 4, width // 4 : width - width // 4] = 0
    elif preset == "rectangle":
        if rect is None:
            raise ValueError("the rectangle preset needs a rectangle: drag one over the example")
        top, left, bottom, right = rect
        top, bottom = sorted((max(0, min(height, top)), max(0, min(height, bottom))))
        left, right = sorted((max(0, min(width, left)), max(0, min(width, right))))
        if bottom <= top or right <= left:
            raise ValueError(f"the rectangle {rect} covers no pixel of a {height} x {width} image")
        mask[..., top:bottom, left:right] = 0
    else:
        raise ValueError(f"mask preset must be one of {MASK_PRESETS}, got {preset!r}")
    return mask


@torch.no_grad()
def complete_examples(model: Any, x: torch.Tensor, mask: torch.Tensor, per_example: int, seed: int = 0,
                      labels: torch.Tensor | None = None) -> torch.Tensor:
    """``per_example`` completions of each example: (N * per_example) x C x H x W, example-major.

    One ``complete`` call over the repeated batch, seeded, so the same seed
    gives the same completions. ``labels`` are ignored: completion uses the
    model's unconditional path, like ``complete``.
    """
    if per_example < 1:
        raise ValueError(f"per_example must be at least 1, got {per_example}")
    xs = x.repeat_interleave(per_example, 0)
    ms = mask.expand(x.shape[0], *mask.shape[1:]).repeat_interleave(per_example, 0)
    return model.complete(xs, ms, torch.Generator().manual_seed(seed)).cpu()


def masked_picture(x: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """N x H x W x 3 uint8: the examples with the hidden part shown in :data:`UNDRAWN`."""
    drawn = mask[0].expand(x.shape[1], -1, -1) > 0
    return generation_picture(x, drawn)


# -- MADE ------------------------------------------------------------------------------------


@dataclass
class MADEConnectivity:
    layer_masks: list[np.ndarray]  # out x in, input to output (the direct mask last when present)
    names: list[str]
    paths: np.ndarray  # D x D: number of paths from input d' (column) to output d (row), direct included
    order: np.ndarray  # flattened indices in generation order

    def in_order(self) -> np.ndarray:
        """``paths`` with rows and columns sorted by generation order: nonzero only below the diagonal."""
        return self.paths[np.ix_(self.order, self.order)]

    def is_autoregressive(self) -> bool:
        return bool(np.all(np.triu(self.in_order()) == 0))


def made_connectivity(model: Any, mask_set: int = 0, sort_units: bool = False) -> MADEConnectivity:
    """MADE's masks (eq. 12, 13) and their product: how many paths join each input to each output.

    ``sort_units`` orders every axis of the layer masks by degree (inputs
    and outputs in generation order, hidden units by their degree m^l(k)),
    which turns each mask into the staircase the degrees imply; the product
    is the same either way.
    """
    masks = [m.double().cpu().numpy() for m in model.masks(mask_set)]
    if sort_units:
        deg = [d.cpu().numpy() for d in model.degrees[mask_set]]
        order = [np.argsort(d, kind="stable") for d in deg]
        levels = list(range(len(deg))) + [0]  # the output layer's rows are the inputs' ranks
        masks_sorted = [masks[n][np.ix_(order[levels[n + 1]], order[n])] for n in range(len(deg))]
        if model.direct_linear is not None:
            masks_sorted.append(masks[-1][np.ix_(order[0], order[0])])
    n_layers = len(model.linears)
    chain = masks[:n_layers]
    product = chain[0]
    for m in chain[1:]:
        product = m @ product
    names = [f"layer {k + 1} ({m.shape[0]} x {m.shape[1]})" for k, m in enumerate(chain[:-1])]
    names.append(f"output ({chain[-1].shape[0]} x {chain[-1].shape[1]})")
    if model.direct_linear is not None:
        product = product + masks[-1]
        names.append(f"direct ({masks[-1].shape[0]} x {masks[-1].shape[1]})")
    return MADEConnectivity(masks_sorted if sort_units else masks, names, product, model.order(mask_set).cpu().numpy())


def mask_picture(mask: np.ndarray, max_side: int = 400) -> np.ndarray:
    """A 0/1 (or counts) matrix as a grey image, subsampled by striding when larger than ``max_side``."""
    m = np.asarray(mask, np.float64)
    sr = max(1, math.ceil(m.shape[0] / max_side))
    sc = max(1, math.ceil(m.shape[1] / max_side))
    m = m[::sr, ::sc]
    if m.max() > 1:
        m = np.log1p(m) / np.log1p(m.max())
    return (np.clip(m, 0, 1) * 255 + 0.5).astype(np.uint8)


def order_picture(model: Any) -> np.ndarray:
    """H x W (images) rank of each pixel in the generation order, scaled to [0, 1]."""
    rank = np.zeros((model.height, model.width))
    steps = model_steps(model)
    for k, step in enumerate(steps):
        for c, i, j in step:
            if c == 0:
                rank[i, j] = k
    return rank / max(1, len(steps) - 1)


def describe_order(model: Any) -> str:
    """One line: the model's generation order."""
    if is_audio(model):
        return f"left to right, one sample at a time ({model.length} samples)"
    name = type(model).__name__
    if name == "MADE":
        order = "random (one per mask set)" if model.config.order == "random" else "raster (natural)"
        return f"{order} over {model.dim} values, one value per step"
    colours = " · R → G → B inside a pixel" if model.colours == 3 else ""
    unit = "row by row (the Row LSTM's state moves down a row at a time), " if name == "RowLSTM" else ""
    return f"{unit}raster: rows top to bottom, left to right{colours} · {model.height * model.width} pixels"


# -- WaveNet ---------------------------------------------------------------------------------


def dilation_reach(dilations: list[int], kernel: int = 2, initial_kernel: int = 2) -> list[list[int]]:
    """For each level, input first and the output last, the offsets (samples back from t) that reach output t.

    Walks the stack down from the output: a dilated layer (kernel 2) at
    offset o needs its input at o and o + d; the first convolution sees the
    inputs 1 and 2 samples back (shifted, so the output never sees x_t).
    Level 0 is the waveform itself: its offsets are the receptive field.
    """
    reach = [[0]]
    for d in reversed(dilations):
        prev = reach[0]
        reach.insert(0, sorted({o + k * d for o in prev for k in range(kernel)}))
    top = reach[0]
    reach.insert(0, sorted({o + k for o in top for k in range(1, initial_kernel + 1)}))
    return reach


# -- speed and likelihood ----------------------------------------------------------------------


def has_cache(model: Any) -> bool:
    """Whether the model has a faster exact sampling path than a full network pass per position."""
    if is_audio(model):
        return True  # Fast WaveNet queues
    from .common import ImageAutoregressive

    own = type(model).position_logits_fn is not ImageAutoregressive.position_logits_fn
    return own or getattr(model, "context_reach", None) is not None


@torch.no_grad()
def sampling_speed(model: Any, cached: bool, budget_s: float = 1.0, n: int = 1, seed: int = 0) -> tuple[float, int]:
    """(positions per second, positions timed) generating ``n`` samples for about ``budget_s`` seconds.

    Times the first positions of a run, which for the row caches cost as
    much as the later ones (each position recomputes one row).
    """
    gen = torch.Generator().manual_seed(seed)
    steps = model_steps(model)
    it = model._generate(n, gen, cached=cached)
    done = 0
    t0 = time.perf_counter()
    for k, _ in enumerate(it):
        done += len(steps[k])
        if time.perf_counter() - t0 >= budget_s:
            break
    return done * n / max(time.perf_counter() - t0, 1e-9), done


@torch.no_grad()
def validation_nll(model: Any, x: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, float]:
    """``model.evaluate`` on one validation batch: exact NLL in nats per example and bits per dimension."""
    from genstudio.core.data_types import Batch

    y = labels if labels is not None else -torch.ones(len(x), dtype=torch.long)
    out = model.evaluate(Batch(x.to(model.device), y.to(model.device)))
    return {"nll": float(out["nll"]), "bpd": float(out["bpd"]), "n": float(len(x))}
