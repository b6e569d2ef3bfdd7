"""The model contract every family implements.

A model is a ``torch.nn.Module`` built from ``(config, data_info)``. It owns
its optimisers (so GAN and critic loops live in the model, as in Lightning's
manual optimisation) and exposes one ``train_step``. Everything the engine
needs to checkpoint and resume is reachable from ``state_dict`` (weights,
EMA copies) and ``optimizers()`` (optimiser state).

Mixed precision wraps the forward pass and the loss only, as PyTorch
recommends: a model computes them inside ``with self.autocast():`` and calls
:func:`optimizer_step` (backward, checks, clipping, the step) after the block.
The run sets the context (``core/speedups.py`` ``apply``); it does nothing by
default.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, ClassVar, ContextManager, Iterable

import torch
from torch import nn

from .data_types import Batch, DataInfo, DataKind


class NonFiniteError(RuntimeError):
    """A loss term or a gradient became NaN or infinite; ``term`` names it."""

    def __init__(self, term: str, step: int | None = None):
        self.term = term
        self.step = step
        where = f" at step {step}" if step is not None else ""
        super().__init__(f"'{term}' became non-finite (NaN or inf){where}; try a lower learning rate")


class DataMismatchError(ValueError):
    """The model cannot be built for this kind or shape of data."""


class GenerativeModel(nn.Module):
    """Base class: subclasses set the class attributes and implement the two methods.

    ``sample`` returns data in the dataset's space: images in [0, 1]
    (N x C x H x W), points as raw coordinates (N x D), audio in [-1, 1].
    """

    #: The model's config dataclass; defaults must train well on the built-in data.
    config_class: ClassVar[type]
    #: Family id: autoregressive, autoencoder, adversarial, flow, diffusion.
    family: ClassVar[str] = ""
    #: One line for ``genstudio list models`` and the model panel.
    summary: ClassVar[str] = ""
    #: Data kinds this model can be built for.
    data_kinds: ClassVar[tuple[DataKind, ...]] = ("image",)
    #: Metric groups for the curve view: {plot title: [metric names]}.
    metric_groups: ClassVar[dict[str, list[str]]] = {}
    #: Makes the context :meth:`autocast` enters; ``core.speedups.apply`` sets it per run (bf16 autocast).
    autocast_context: Callable[[], ContextManager[Any]] = contextlib.nullcontext

    def __init__(self, config: Any, data_info: DataInfo):
        super().__init__()
        if data_info.kind not in self.data_kinds:
            kinds = ", ".join(self.data_kinds)
            raise DataMismatchError(
                f"model '{type(self).__name__}' works on {kinds} data, but the dataset '{data_info.name}' is {data_info.kind} data"
            )
        self.config = config
        self.data_info = data_info

    # -- training -------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        """Run one optimisation step (all of a GAN's D and G updates) and return its metrics."""
        raise NotImplementedError

    def autocast(self) -> ContextManager[Any]:
        """The context the forward pass and the loss of ``train_step`` run in; never wrap backward or the step in it.

        bf16 autocast when the run turned it on, nothing otherwise. Backward
        runs each op in the dtype autocast chose for it in the forward pass, so
        it needs no autocast of its own (PyTorch's automatic mixed precision
        recipe); the optimiser updates the fp32 master weights.
        """
        return self.autocast_context()

    def set_progress(self, fraction: float) -> None:
        """How far the run is through its budget (0 to 1), told before every training step.

        The budget is the run's steps, or its time limit (``max_minutes``) where
        that comes first, so a schedule keyed to it ends where the run ends
        whichever way the user sized it (``RunState.progress``). Models whose
        learning rate follows the budget override this; the rest ignore it.
        """

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The model's optimisers by name, so the engine can checkpoint and restore them."""
        return {}

    def schedulers(self) -> dict[str, Any]:
        """Learning-rate schedulers by name (anything with ``state_dict``)."""
        return {}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Validation metrics for one batch (no parameter updates). Averaged by the caller."""
        return {}

    # -- sampling -------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Draw ``n`` samples in data space. Must not touch the global RNG when ``generator`` is given."""
        raise NotImplementedError

    def sample_options(self) -> dict[str, Any]:
        """Extra keyword arguments ``sample`` accepts, with defaults (e.g. sampler and steps)."""
        return {}

    def preview_kwargs(self) -> dict[str, Any]:
        """The sampler the studio shows and scores (over ``sample_options``): previews, in-training metrics, eval, sample.

        Keep it cheap enough for a preview grid; ``core.previews.sampling_settings`` resolves it.
        """
        return {}

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")


def randn(shape: Iterable[int], generator: torch.Generator | None, device: torch.device, dtype=torch.float32) -> torch.Tensor:
    """Gaussian noise from ``generator`` (created on CPU when the device has none), placed on ``device``.

    Drawing on the generator's device keeps samples identical across devices
    for one seed, which a fixed-seed preview grid relies on.
    """
    gen_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=gen_device, dtype=dtype).to(device)


def rand(shape: Iterable[int], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand(tuple(shape), generator=generator, device=gen_device).to(device)


def randint(high: int, shape: Iterable[int], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randint(0, high, tuple(shape), generator=generator, device=gen_device).to(device)


def check_finite(terms: dict[str, torch.Tensor | float]) -> None:
    """Raise :class:`NonFiniteError` naming the first term that is NaN or infinite."""
    for name, value in terms.items():
        v = value.detach() if isinstance(value, torch.Tensor) else torch.tensor(value)
        if not torch.isfinite(v).all():
            raise NonFiniteError(name)


#: Gradients are checked for NaN/inf on every GRAD_CHECK_EVERY-th step of each
#: optimiser (and on every step when clipping, which computes the norm anyway).
#: Reading every gradient costs a pass over all parameters, about 2% of a
#: fast model's step on a CPU; a gradient that overflows on an unchecked step
#: shows up in the next step's loss, which is checked on every step, and
#: :func:`check_weights_finite` guards every checkpoint, so a divergence still
#: stops the run and never reaches the last good checkpoint.
GRAD_CHECK_EVERY = 8


def check_weights_finite(state: dict[str, torch.Tensor]) -> None:
    """Raise :class:`NonFiniteError` if a floating tensor of ``state`` holds NaN or inf."""
    floats = [t for t in state.values() if isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel()]
    if floats and not torch.isfinite(torch.stack([t.detach().float().sum() for t in floats])).all():
        bad = next(k for k, t in state.items() if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all())
        raise NonFiniteError(f"weights ({bad})")


#: Set by ``core.distributed`` under torchrun (average the gradients over ranks); None with one
#: process, so ``optimizer_step`` pays one None check. It lives here, not there, so that this
#: module imports nothing from the distributed code that imports it.
gradient_sync: Callable[[torch.optim.Optimizer], None] | None = None


def optimizer_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    terms: dict[str, torch.Tensor] | None = None,
    clip_grad_norm: float | None = None,
    name: str = "loss",
) -> float | None:
    """Backward, check the loss (every step) and gradients (see GRAD_CHECK_EVERY), clip, step.

    Checking before ``optimizer.step`` means a divergence caught here never
    writes NaN into the weights, so the last checkpoint and the live model
    stay good. Returns the gradient norm when clipping is on.
    """
    # One scalar sync for the total; the terms are only inspected to name the culprit.
    if not math.isfinite(float(loss.detach())):
        check_finite(terms or {})
        raise NonFiniteError(name)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if gradient_sync is not None:  # torchrun, several processes: average over ranks before check, clip, step
        gradient_sync(optimizer)
    count = getattr(optimizer, "_genstudio_steps", 0)
    optimizer._genstudio_steps = count + 1  # type: ignore[attr-defined]
    grad_norm = None
    if clip_grad_norm is not None and clip_grad_norm > 0:
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, clip_grad_norm))
        if not math.isfinite(grad_norm):
            raise NonFiniteError(f"gradient of {name}")
    elif count % GRAD_CHECK_EVERY == 0:
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        # One fused norm per dtype/device and one reduction, instead of one op per tensor.
        if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads)).sum()):
            raise NonFiniteError(f"gradient of {name}")
    optimizer.step()
    return grad_norm
