"""Tiny models for engine, CLI and UI tests: fast, deterministic, and able to fail on purpose."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genstudio.core.config import param
from genstudio.core.model import GenerativeModel, optimizer_step, randn
from genstudio.core.registry import register_model


@dataclass
class ToyConfig:
    lr: float = param(0.05, "learning rate", min=1e-6, max=1.0, log=True)
    hidden: int = param(8, "hidden units", min=1, max=256)
    fail_at: int = param(0, "raise RuntimeError at this step (0: never)", min=0)
    diverge_at: int = param(0, "return a NaN loss at this step (0: never)", min=0)
    inf_grad_at: int = param(0, "make one gradient infinite (loss finite) at this step (0: never)", min=0)
    fault_rank: int = param(-1, "under torchrun, fail_at and diverge_at act on this rank only (-1: every rank)", min=-1)


class ToyGaussian(GenerativeModel):
    """A diagonal Gaussian over the flattened data, with a small MLP in the mean so weights have structure."""

    config_class = ToyConfig
    family = "test"
    summary = "diagonal Gaussian (tests only)"
    data_kinds = ("image", "points", "audio")
    metric_groups = {"Loss": ["loss", "nll"]}
    exact_likelihood = True

    def __init__(self, config: ToyConfig, data_info):
        super().__init__(config, data_info)
        d = data_info.dim
        self.mu = nn.Parameter(torch.zeros(d))
        self.log_std = nn.Parameter(torch.zeros(d))
        self.mix = nn.Sequential(nn.Linear(d, config.hidden), nn.Tanh(), nn.Linear(config.hidden, d))
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)
        self.steps_done = 0

    def optimizers(self):
        return {"adam": self.opt}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), -1)
        noise = torch.randn_like(x) * 1e-3  # consumes global RNG, so resume must restore it
        mean = self.mu + 0.01 * self.mix(x + noise)
        z = (x - mean) / self.log_std.exp()
        return (-0.5 * z.pow(2) - self.log_std - 0.9189385).sum(1)

    def _faulty_rank(self) -> bool:
        """Whether fail_at / diverge_at apply in this process (fault_rank picks one torchrun rank)."""
        if self.config.fault_rank < 0:
            return True
        dist = torch.distributed
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        return rank == self.config.fault_rank

    def train_step(self, batch):
        self.steps_done += 1
        if self.config.fail_at and self.steps_done >= self.config.fail_at and self._faulty_rank():
            raise RuntimeError("toy model failed on purpose")
        nll = -self.log_prob(batch.x).mean()
        loss = nll
        if self.config.diverge_at and self.steps_done >= self.config.diverge_at and self._faulty_rank():
            loss = loss * torch.tensor(float("nan"))
        hook = None
        if self.config.inf_grad_at and self.steps_done == self.config.inf_grad_at:
            hook = self.mu.register_hook(lambda g: torch.full_like(g, float("inf")))
        try:
            optimizer_step(loss, self.opt, {"nll": nll})
        finally:
            if hook is not None:
                hook.remove()
        return {"loss": loss.item(), "nll": nll.item()}

    @torch.no_grad()
    def evaluate(self, batch):
        return {"nll": float(-self.log_prob(batch.x).mean())}

    @torch.no_grad()
    def sample(self, n, generator=None, **kwargs):
        d = self.data_info.dim
        z = randn((n, d), generator, self.device)
        x = self.mu + z * self.log_std.exp()
        x = x.reshape(n, *self.data_info.shape)
        return x.clamp(0, 1) if self.data_info.kind == "image" else x


def register_toys() -> None:
    register_model("toy", ToyGaussian)
