"""Hardware speed-ups the engine turns on by default only where measurements say they pay.

Three switches, each a ``RunConfig`` field with ``auto``:

* ``channels_last``: NHWC memory layout for convolutional models, which
  oneDNN (CPU) and cuDNN (GPU tensor cores) run faster than NCHW.
* ``autocast``: bf16 mixed precision around each model's forward pass and
  loss (``GenerativeModel.autocast``; backward and the optimiser step run
  outside it, as PyTorch recommends). bf16 keeps
  fp32's exponent range, so no loss scaling is needed (unlike fp16). It pays
  only where the hardware computes in bf16 natively (CUDA GPUs from Ampere,
  CPUs with AVX512-BF16 or AMX); elsewhere it is emulated and slower.
* ``compile``: ``torch.compile`` on each sub-network in place
  (``nn.Module.compile``, so checkpoint keys do not change).

What ``auto`` resolves to comes from ``benchmarks/speedups.py`` (its table is
in ``benchmarks/RESULTS.md``); :data:`AUTO_POLICY` says why for each.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, ContextManager

import torch
from torch import nn

from .data_types import Batch
from .model import GenerativeModel

#: Why ``auto`` picks what it picks (shown by ``describe``; numbers in benchmarks/RESULTS.md).
AUTO_POLICY = {
    "channels_last": "on for convolutional models without GroupNorm (CPU: vae 1.09x, dcgan 1.24x); off for the GroupNorm U-Nets (ddpm 0.91x)",
    "autocast": "bf16 where the hardware has native bf16 (CPU with AVX512-BF16: 1.4-1.8x, same loss; CUDA with bf16 support); "
    "off elsewhere, where bf16 is emulated (AVX2 CPU: 11-14x slower)",
    "compile": "off: compiling costs minutes on a small CPU and gains little for these model sizes",
}


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16 flags)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        # macOS / Windows: Apple silicon has bf16 in recent cores, but measure before
        # assuming; off is always correct, only sometimes slower.
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def has_native_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


def has_group_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.GroupNorm) for m in model.modules())


@dataclass(frozen=True)
class Speedups:
    """The resolved switches for one run."""

    channels_last: bool = False
    autocast: str = "off"  # "off" or "bf16"
    compile: bool = False
    device_type: str = "cpu"  # where autocast runs (torch.autocast's device_type); not a switch

    def describe(self) -> str:
        parts = [f"channels_last {'on' if self.channels_last else 'off'}", f"autocast {self.autocast}", f"compile {'on' if self.compile else 'off'}"]
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"channels_last": self.channels_last, "autocast": self.autocast, "compile": self.compile}


def resolve(channels_last: str, autocast: str, compile: str, model: nn.Module, device: torch.device) -> Speedups:
    """Turn the config's ``auto``/``on``/``off`` (and ``bf16``) into concrete switches."""
    conv = has_conv2d(model)
    # GroupNorm (the diffusion U-Nets) ran slower in NHWC on the CPU (benchmarks/RESULTS.md, speed-ups).
    auto_cl = conv and device.type in ("cpu", "cuda") and not has_group_norm(model)
    cl = {"on": True, "off": False}.get(channels_last, auto_cl)
    if autocast == "auto":
        ac = "bf16" if has_native_bf16(device) else "off"
    else:
        ac = autocast
    if ac == "bf16" and device.type not in ("cpu", "cuda"):
        ac = "off"  # MPS autocast supports fp16 only in the torch versions we target
    comp = compile == "on"
    return Speedups(channels_last=cl and conv, autocast=ac, compile=comp, device_type=device.type)


def autocast_context(speedups: Speedups) -> Callable[[], ContextManager[Any]]:
    """A factory for the context a model's forward pass and loss run in (bf16 autocast, or nothing)."""
    if speedups.autocast == "bf16":
        return functools.partial(torch.autocast, device_type=speedups.device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def apply(model: nn.Module, speedups: Speedups) -> None:
    """Change the model in place: memory format of its weights, compiled sub-networks, the autocast of its forward pass.

    Every generative model inside ``model`` (a latent diffusion's inner DDPM)
    gets the same autocast context.
    """
    forward_context = autocast_context(speedups)
    for m in model.modules():
        if isinstance(m, GenerativeModel):
            m.autocast_context = forward_context
    if speedups.channels_last:
        # Module.to keeps the Parameter objects, so optimisers created in __init__ still hold them.
        model.to(memory_format=torch.channels_last)
    if speedups.compile:
        for child in model.children():
            if any(p.requires_grad for p in child.parameters()):
                child.compile()


def batch_transform(speedups: Speedups) -> Callable[[Batch], Batch]:
    if not speedups.channels_last:
        return lambda b: b

    def to_channels_last(b: Batch) -> Batch:
        if b.x.dim() == 4:
            return Batch(b.x.contiguous(memory_format=torch.channels_last), b.y)
        return b

    return to_channels_last
