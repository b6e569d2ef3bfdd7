"""Exponential moving average of a module's weights.

Diffusion samples should come from EMA weights (DDPM sampled from raw
weights scored FID ~12 on CIFAR-10 instead of ~3.2). The decay warms up as
min(decay, (1 + n) / (10 + n)) so a short run on a CPU is not dominated by
its random initialisation.

:meth:`EMA.averaged_view` gives models whose sampling code walks their own
sub-modules (and so cannot simply call the shadow copy) the model as seen
through the average: a shallow copy whose averaged children are the shadow's.
Nothing of the live model is written, so the studio's panels may sample from
the average on one thread while another runs the live weights. (Lending the
averaged tensors to the live model in place, as this module did before, made
a gradient on the Causal masks tab read a random mix of the two whenever the
Generation tab's worker was drawing.)
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """Holds a frozen copy of ``model``; its weights are part of the owner's ``state_dict``."""

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: bool = True):
        super().__init__()
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        n = int(self.num_updates)
        if not self.warmup:
            return self.decay
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        ema_params = list(self.shadow.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for b_ema, b in zip(self.shadow.buffers(), model.buffers()):
            b_ema.copy_(b)
        self.num_updates += 1

    def forward(self, *args, **kwargs):
        return self.shadow(*args, **kwargs)

    def train(self, mode: bool = True) -> "EMA":
        # The shadow copy always runs in eval mode.
        super().train(mode)
        self.shadow.eval()
        return self

    def averaged_view(self, host: nn.Module, names: list[str]) -> nn.Module:
        """``host`` with its children ``names`` replaced by their averaged copies, in a shallow copy of ``host``.

        ``names`` are the children the average was built from, in the same
        order (:func:`average_of`). The view shares every other attribute and
        child with ``host``; nothing of ``host`` is written, so it is safe while
        other threads use ``host`` or other views. Its methods are ``host``'s.
        """
        averaged = list(self.shadow.children())
        if len(averaged) != len(names) or any(not hasattr(host, name) for name in names):
            raise ValueError(f"the average holds {len(averaged)} modules for {names}: not the children it was built from")
        view = copy.copy(host)
        modules = dict(host._modules)
        for name, module in zip(names, averaged):
            modules[name] = module
        view.__dict__["_modules"] = modules  # the view's own table of children; host's is untouched
        return view


def average_of(host: nn.Module, names: list[str]) -> nn.ModuleList:
    """The children ``names`` of ``host`` as one module, in that order: what an :class:`EMA` of a model's networks averages.

    Built afresh on each call and never registered, so ``host``'s state dict
    keeps its own keys; the average's keys are ``<ema name>.shadow.<index>.<key>``.
    """
    return nn.ModuleList(getattr(host, name) for name in names)


def fill_missing_average(state_dict: dict, prefix: str, ema_name: str, names: list[str]) -> None:
    """A checkpoint written before the model kept an average: start the average from the live weights it holds.

    Meant for a ``load_state_dict`` pre-hook; ``prefix`` is the host's key
    prefix. Does nothing when the checkpoint has the average.
    """
    head = f"{prefix}{ema_name}."
    if any(k.startswith(head) for k in state_dict):
        return
    for index, name in enumerate(names):
        start = f"{prefix}{name}."
        for key in [k for k in state_dict if k.startswith(start)]:
            state_dict[f"{head}shadow.{index}.{key[len(start):]}"] = state_dict[key]
    state_dict[f"{head}num_updates"] = torch.zeros((), dtype=torch.long)

