"""The causal masks of the convolutional autoregressive models and how their receptive field grows, layer
by layer, measured by gradients from the live weights. No Qt here.

A PixelCNN stacks masked convolutions: each kernel sees the rows above and
the pixels to the left of its centre (mask A in the first layer shuts the
centre itself, mask B after it opens it). Stacked, their fields grow up and
to the left but not up and to the right, so a wedge of earlier pixels is
never seen: the blind spot (van den Oord et al. 2016, "Conditional Image
Generation with PixelCNN Decoders", figure 1). The Gated PixelCNN splits the
network into a vertical stack that sees every row above within reach and a
horizontal stack that sees the current row to the left; together they cover
the whole causal past within reach. :func:`stage_fields` takes the gradient
of each stage's activation at one pixel with respect to the input, so the
user watches the field, and the wedge, grow.

Models are recognised by what they are built from (``MaskedConv2d``, the
gated layers' vertical and horizontal convolutions); a model with neither
has no causal masks to show (:func:`has_causal_masks`).
"""

from __future__ import annotations

import threading

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

#: At most this many stages are shown (evenly chosen, first and last kept).
MAX_STAGES = 8


@dataclass
class KernelMask:
    """One masked kernel's footprint around the pixel it writes, in rows above and columns either side.

    ``open`` (rows x cols, values in [0, 1]): the fraction of channel pairs a
    tap connects (1 open, 0 shut, between: the centre tap of a colour model,
    open only from earlier colour groups). ``centre`` is the written pixel.
    """

    name: str
    open: np.ndarray
    centre: tuple[int, int]


@dataclass
class StageField:
    """|d activation(i, j) / d input| of one stage, summed over channels and trial inputs (H x W)."""

    name: str
    gradient: np.ndarray
    target: tuple[int, int]

    @property
    def seen(self) -> np.ndarray:
        return self.gradient > 0

    def blind(self) -> np.ndarray:
        """Earlier pixels inside the field's own extent (rows it reaches, columns it reaches) that it cannot see.

        For a PixelCNN that is the wedge up and to the right; for a field with
        no hole (a Gated PixelCNN's, or one layer's) it is empty.
        """
        i, j = self.target
        h, w = self.gradient.shape
        rows, cols = np.nonzero(self.seen)
        if not len(rows):
            return np.zeros((h, w), bool)
        before = np.zeros((h, w), bool)
        before[:i] = True
        before[i, :j] = True
        box = np.zeros((h, w), bool)  # up to the lowest row it sees: the vertical stack is not meant to see row i
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        return before & box & ~self.seen


def _gated_layers(model: Any) -> list[nn.Module]:
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        return []
    return [m for m in layers if hasattr(m, "v_conv") and hasattr(m, "h_conv")]


def _masked_stages(model: Any) -> list[tuple[str, nn.Module]]:
    """The direct children of ``model.net`` that hold a masked convolution wider than 1 x 1 (PixelCNN's first
    convolution and its residual blocks)."""
    from genstudio.models.autoregressive.common import MaskedConv2d

    net = getattr(model, "net", None)
    if not isinstance(net, nn.Sequential):
        return []
    out = []
    for k, child in enumerate(net):
        convs = [m for m in child.modules() if isinstance(m, MaskedConv2d) and max(m.kernel_size) > 1]
        if convs:
            conv = convs[0]
            kh, kw = conv.kernel_size
            out.append((f"layer {len(out) + 1}: {kh}x{kw} mask {conv.mask_type}", child))
    return out


def has_causal_masks(model: Any) -> bool:
    """True for the convolutional models whose masks and stage fields this module draws."""
    return bool(_gated_layers(model) or _masked_stages(model))


def kernel_masks(model: Any) -> list[KernelMask]:
    """The distinct masked kernels of ``model``, in the order the layers use them."""
    from genstudio.models.autoregressive.common import MaskedConv2d

    out: list[KernelMask] = []
    seen: set[tuple] = set()

    def add(name: str, open_: np.ndarray, centre: tuple[int, int]) -> None:
        key = (name.split(":")[0], open_.shape, open_.tobytes())
        if key not in seen:
            seen.add(key)
            out.append(KernelMask(name, open_, centre))

    gated = _gated_layers(model)
    for n, layer in enumerate(gated):
        which = "first layer" if n == 0 else "later layers"
        v = layer.v_conv
        kh, kw = v.conv.kernel_size  # rows i - reach .. i, shifted down one row before the horizontal stack sees them
        vert = np.zeros((kh + 1, kw))
        vert[:kh] = 1.0
        add(f"vertical stack, {which}: {kh}x{kw}, shifted down a row", vert, (kh, kw // 2))
        h = layer.h_conv
        mask = h.mask.float().mean(dim=(0, 1)).numpy()  # 1 x (reach + 1), the centre last
        add(f"horizontal stack, {which}: 1x{mask.shape[1]} mask {'A' if n == 0 else 'B'}", mask, (0, mask.shape[1] - 1))
    if not gated:
        for _name, stage in _masked_stages(model):
            for conv in stage.modules():
                if isinstance(conv, MaskedConv2d) and max(conv.kernel_size) > 1:
                    kh, kw = conv.kernel_size
                    mask = conv.mask.float().mean(dim=(0, 1)).numpy()
                    add(f"{kh}x{kw} mask {conv.mask_type}", mask, (kh // 2, kw // 2))
    return out


def _chosen(stages: list, limit: int = MAX_STAGES) -> list:
    if len(stages) <= limit:
        return stages
    idx = sorted({int(round(v)) for v in np.linspace(0, len(stages) - 1, limit)})
    return [stages[k] for k in idx]


def stage_fields(model: Any, i: int, j: int, trials: int = 2, seed: int = 0) -> list[StageField]:
    """Each stage's gradient receptive field at pixel (i, j), from the model's current weights.

    A Gated PixelCNN gives two fields per layer: the vertical stack's as the
    horizontal stack receives it (its activation one row up, at (i - 1, j),
    shifted down onto row i) and the horizontal stack's at (i, j). A PixelCNN
    gives one per masked stage (its first convolution and each residual block).
    """
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    gated = _gated_layers(model)
    if gated:
        stages: list[tuple[str, nn.Module]] = [(f"layer {n + 1}", m) for n, m in enumerate(gated)]
    else:
        stages = _masked_stages(model)
    if not stages:
        raise ValueError(f"{type(model).__name__} has no masked convolutions to follow")
    stages = _chosen(stages)
    outputs: dict[int, Any] = {}
    # A hook belongs to the module, not to this thread: the Generation tab's worker drawing samples from the same
    # model at the same time fired it too, and its no-grad outputs replaced ours ("element 0 of tensors does not
    # require grad"). Only this thread's forward passes are kept.
    me = threading.get_ident()

    def keep(k: int, out: Any) -> None:
        if threading.get_ident() == me:
            outputs[k] = out

    hooks = [m.register_forward_hook(lambda mod, _inp, out, k=k: keep(k, out)) for k, (_n, m) in enumerate(stages)]
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    sums: dict[str, torch.Tensor] = {}
    names: list[str] = []
    try:
        for _ in range(trials):
            x = (torch.rand(1, model.colours, model.height, model.width, generator=g) * 2 - 1).to(model.device).requires_grad_(True)
            with torch.enable_grad():
                model.logits(x)
                targets: list[tuple[str, torch.Tensor]] = []
                for k, (name, _m) in enumerate(stages):
                    out = outputs[k]
                    if gated:
                        v, h, _skip = out
                        if i > 0:
                            targets.append((f"vertical stack, {name}", v[:, :, i - 1, j].sum()))
                        targets.append((f"horizontal stack, {name}", h[:, :, i, j].sum()))
                    else:
                        targets.append((name, out[:, :, i, j].sum()))
                for name, value in targets:
                    grad, = torch.autograd.grad(value, x, retain_graph=True, allow_unused=True)
                    mag = torch.zeros(model.height, model.width) if grad is None else grad.detach().abs().sum((0, 1)).cpu()
                    if name not in sums:
                        names.append(name)
                        sums[name] = mag
                    else:
                        sums[name] = sums[name] + mag
    finally:
        for hk in hooks:
            hk.remove()
        model.train(was_training)
    return [StageField(name, sums[name].numpy().astype(np.float64), (i, j)) for name in names]


def field_picture(field: StageField) -> np.ndarray:
    """H x W x 3 uint8: the pixels the stage sees (white, brighter for larger gradients), its blind spot (blue),
    pixels at or after the target it sees (red, never in a causal model), the target green, the rest dark."""
    h, w = field.gradient.shape
    i, j = field.target
    out = np.full((h, w, 3), 30.0)
    seen = field.seen
    if seen.any():
        lg = np.log10(field.gradient[seen])
        lo, hi = lg.min(), lg.max()
        level = 0.45 + 0.55 * ((lg - lo) / (hi - lo) if hi > lo else np.ones_like(lg))
        out[seen] = (255 * level)[:, None]
    out[field.blind()] = (40, 110, 230)
    after = np.zeros((h, w), bool)
    after[i + 1 :] = True
    after[i, j:] = True
    out[after & seen] = (230, 40, 40)
    out[i, j] = (40, 200, 60)
    return out.astype(np.uint8)


def kernel_picture(mask: KernelMask, frame: tuple[int, int, int, int] | None = None, cell: int = 12) -> np.ndarray:
    """A kernel's footprint drawn as cells (white open, grey partly open, dark shut), the written pixel outlined in green.

    ``frame`` (rows above, rows below, columns left, columns right of the written pixel, see :func:`common_frame`)
    pads every kernel of a model to one canvas, so they are drawn at one scale and line up on the written pixel;
    cells outside the kernel are slate.
    """
    rows, cols = mask.open.shape
    cr, cc = mask.centre
    up, down, left, right = frame if frame is not None else (cr, rows - 1 - cr, cc, cols - 1 - cc)
    R, C = up + down + 1, left + right + 1
    pic = np.zeros((R * cell + 1, C * cell + 1, 3), np.uint8)
    pic[:] = (70, 80, 100)  # outside the kernel
    for r in range(R):
        for c in range(C):
            kr, kc = r - up + cr, c - left + cc
            if 0 <= kr < rows and 0 <= kc < cols:
                pic[r * cell : (r + 1) * cell + 1, c * cell : (c + 1) * cell + 1] = 110  # grid line
                v = float(mask.open[kr, kc])
                pic[r * cell + 1 : (r + 1) * cell, c * cell + 1 : (c + 1) * cell] = int(25 + 220 * v)
    y0, x0 = up * cell, left * cell
    green = (40, 200, 60)
    pic[y0 : y0 + cell + 1, x0 : x0 + 2] = green
    pic[y0 : y0 + cell + 1, x0 + cell - 1 : x0 + cell + 1] = green
    pic[y0 : y0 + 2, x0 : x0 + cell + 1] = green
    pic[y0 + cell - 1 : y0 + cell + 1, x0 : x0 + cell + 1] = green
    return pic


def common_frame(masks: list[KernelMask]) -> tuple[int, int, int, int]:
    """(rows above, rows below, columns left, columns right) of the written pixel that hold every kernel."""
    up = max(m.centre[0] for m in masks)
    down = max(m.open.shape[0] - 1 - m.centre[0] for m in masks)
    left = max(m.centre[1] for m in masks)
    right = max(m.open.shape[1] - 1 - m.centre[1] for m in masks)
    return up, down, left, right


#: Colours of the layers in :func:`depth_picture`, first to last (a warm ramp; blue stays the blind spot's).
_RAMP = np.array([(120, 30, 30), (200, 60, 40), (240, 130, 40), (250, 200, 60), (255, 245, 170)], np.float64)


def depth_picture(fields: list[StageField]) -> np.ndarray:
    """H x W x 3 uint8: each input pixel coloured by the first of ``fields`` (one stack, in layer order) that sees it,
    dark red for the first layer to pale yellow for the last; the last field's blind spot blue, the target green."""
    last = fields[-1]
    h, w = last.gradient.shape
    out = np.full((h, w, 3), 30.0)
    first = np.full((h, w), -1)
    for k, f in enumerate(fields):
        first[(first < 0) & f.seen] = k
    n = max(1, len(fields) - 1)
    for k in range(len(fields)):
        pos = k / n * (len(_RAMP) - 1)
        lo = int(np.floor(pos))
        hi = min(lo + 1, len(_RAMP) - 1)
        colour = _RAMP[lo] + (pos - lo) * (_RAMP[hi] - _RAMP[lo])
        out[first == k] = colour
    out[last.blind()] = (40, 110, 230)
    i, j = last.target
    out[i, j] = (40, 200, 60)
    return out.astype(np.uint8)


def fields_summary(fields: list[StageField]) -> str:
    """One line: how much each of the last stages sees, and its blind spot."""
    if not fields:
        return ""
    last: dict[str, StageField] = {}
    for f in fields:
        last[f.name.split(",")[0] if "," in f.name else "net"] = f
    parts = []
    for key, f in last.items():
        i, j = f.target
        w = f.gradient.shape[1]
        before = i * w + j
        what = f.name if key == "net" else f"{key} ({f.name.split(', ')[1]})"
        parts.append(f"{what} sees {int(f.seen.sum())} of the {before} earlier pixels; blind spot {int(f.blind().sum())}")
    return " · ".join(parts)
