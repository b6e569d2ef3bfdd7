"""The forward process with no model at all: a noise schedule and some data are all that q(x_t | x_0) needs.

Before a run (no run folder) and while a live run has handed over no weights
yet, the Diffusion tab's Forward process, Schedule and Markov chain views still
work: :func:`process_before_weights` gives the forward view an object with the
few attributes it reads from a model (``schedule``, ``data_info``,
``q_sample``) and examples to noise, drawn shapes or a Gaussian cloud when the
run's data is not at hand. No Qt here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

#: Shapes drawn for the forward view when no dataset is loaded.
SHAPE_EXAMPLES = 16


@dataclass
class _Info:
    kind: str
    shape: tuple[int, ...]
    extent: tuple[float, float, float, float] | None = None


class ForwardProcess:
    """q(x_t | x_0) = N(sqrt(alpha-bar_t) x_0, (1 - alpha-bar_t) I) for data in the diffusion models' own scaling."""

    def __init__(self, schedule: Any, data_info: Any):
        self.schedule = schedule
        self.data_info = data_info
        self.is_image = data_info.kind == "image"

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        x0m = x0 * 2 - 1 if self.is_image else x0  # images [0, 1] -> [-1, 1], as the models do
        if noise is None:
            noise = torch.randn_like(x0m)
        xt = self.schedule.q_sample(x0m, t, noise)
        return (xt + 1) / 2 if self.is_image else xt


def process_before_weights(config: dict[str, Any] | None, data_info: dict[str, Any] | None) -> tuple[ForwardProcess, torch.Tensor, str]:
    """(process, examples, what it is): the run's schedule (from its config) on drawn data of the run's shape."""
    from genstudio.models.diffusion.schedule import make_schedule

    model_cfg = (config or {}).get("model", {}) or {}
    kind = str(model_cfg.get("schedule", "linear"))
    steps = int(model_cfg.get("timesteps", 1000))
    try:
        schedule = make_schedule(kind, steps)
    except ValueError:
        kind, steps = "linear", 1000
        schedule = make_schedule(kind, steps)
    info = data_info or {}
    data_kind = str(info.get("kind", "image"))
    if data_kind == "points" and tuple(info.get("shape", (2,))) == (2,):
        g = torch.Generator().manual_seed(0)
        examples = torch.randn(1000, 2, generator=g) * 0.5 + torch.tensor([[1.0, 0.0]]) * torch.sign(torch.randn(1000, 1, generator=g))
        extent = tuple(info["extent"]) if info.get("extent") else (-3.0, 3.0, -3.0, 3.0)
        process = ForwardProcess(schedule, _Info("points", (2,), extent))
        what = "two Gaussian blobs"
    else:
        shape = tuple(info.get("shape", (1, 28, 28))) if data_kind == "image" else (1, 28, 28)
        examples = drawn_shapes(shape, SHAPE_EXAMPLES)
        process = ForwardProcess(schedule, _Info("image", shape))
        what = "drawn shapes"
    return process, examples, f"{kind} schedule, T = {steps}, on {what}"


def drawn_shapes(shape: tuple[int, ...], n: int) -> torch.Tensor:
    """``n`` simple pictures in [0, 1] (discs, squares, rings, bars), C x H x W each: data to noise without a dataset."""
    c, h, w = shape
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    out = torch.zeros(n, c, h, w)
    for i in range(n):
        r = 0.35 + 0.3 * ((i * 7) % 5) / 4
        cx, cy = 0.3 * math.cos(i), 0.3 * math.sin(i)
        d = ((xx - cx) ** 2 + (yy - cy) ** 2).sqrt()
        pic = [d < r, (xx - cx).abs().maximum((yy - cy).abs()) < r, (d < r) & (d > r * 0.6), (xx - cx).abs() < r / 3][i % 4]
        colour = torch.tensor([0.9, 0.6 + 0.1 * (i % 3), 0.3 + 0.2 * (i % 2)])[:c] if c == 3 else torch.ones(c)
        out[i] = pic.float()[None] * colour[:, None, None]
    return out
