"""Glow (Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018).

The idea: one step of flow is actnorm (a per-channel affine layer
initialised from the first batch, section 3.1), an invertible 1x1
convolution (a learned C x C channel mixing that generalises RealNVP's fixed
channel permutations, section 3.2; optionally LU-decomposed so its
log-det is O(C), eq. 10) and an affine coupling on half of the channels
(section 3.3, with the code's scale sigmoid(h + 2) and a zero-initialised
last convolution so each step starts as the identity). Images use the
multi-scale architecture: each of the L levels squeezes, applies K steps,
and (except the last) factors half the channels out (figure 2b).

``split_prior`` gives each factored-out part the paper's learned prior: a
Gaussian whose mean and scale a zero-initialised convolution reads from the
kept half (``split`` in the paper's code); off (the default, measured), every
part has a standard normal prior. ``class_conditional`` (on, for data with labels) gives each class its
own learned mean and scale of z (``ycond`` in the paper's code, flows.priors):
training maximises log p(x | y), samples are drawn class by class, and the
bits/dim are of the digits alone (the marginal over the classes, as exact).
The learning rate falls linearly to 0 over the run's budget by default
(``lr_schedule``, after the paper's warm-up where one is set). Samples at
temperature T < 1 (section 5; the paper shows T = 0.7) come from
``sample(..., temperature=T)`` and ``genstudio sample --temperature``.
Left out: the additive-coupling option.

Images too small or odd-sized to squeeze get one level without a squeeze;
on one channel its couplings use checkerboard masks. Points (any vector
data) use K steps with a D x D invertible linear map and MLP couplings.
"""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.core.config import param, param_of

from .base import FlowModel, FlowOptions, FlowTrainingConfig
from .layers import (
    ActNorm,
    ConvResNet,
    Coupling,
    FlowLayer,
    FlowNetwork,
    InvertibleLinear,
    Squeeze,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
    coupling_mlp,
)
from .realnvp import usable_scales


@dataclass
class GlowConfig(FlowTrainingConfig):
    # 2e-3 falling linearly to 0 over the run (``lr_schedule`` below; Li et al. 2020): on mnist5k in 10 minutes, FID 19.3
    # and 14.6 at n=500 and 1.261 and 1.232 bits/dim, against 20.6 and 20.7 and 1.274 and 1.274 at a constant 1e-3
    # (benchmarks/RESULTS.md, time to quality).
    lr: float = param_of(FlowTrainingConfig, "lr", default=2e-3)
    levels: int = param(2, "images: levels L of the multi-scale architecture (capped by the image size)", min=1, max=6)
    steps: int = param(4, "steps of flow K per level (points: the number of steps)", min=1, max=64)
    channels: int = param(32, "images: channels of each coupling's network (the paper's 512)", min=4, max=1024)
    blocks: int = param(1, "images: residual blocks in each coupling's network", min=0, max=16)
    hidden: int = param(128, "points: width of each coupling's MLP", min=8, max=2048)
    hidden_layers: int = param(2, "points: hidden layers in each coupling's MLP", min=1, max=8)
    lu: bool = param(True, "LU-decomposed 1x1 convolutions (O(C) log-det, paper eq. 10)")
    # Off by default: on mnist5k at logit_alpha 0.05 a 10-minute seed-0 run with it scored FID 83.7 (1.76 bits/dim)
    # against 56.0 and 43.3 (1.75-1.76) for two runs without it (benchmarks/RESULTS.md, likelihood methods).
    split_prior: bool = param(False, "images: learned prior on each factored-out part given the kept part (the paper's split); off: N(0, I)")
    # The RealNVP paper's MNIST constant (section 4.1): on mnist5k, 5 minutes, Glow reached FID 39.3 and 1.42 bits/dim
    # with it against 100.5 and 1.90 at 0.05 (benchmarks/RESULTS.md, likelihood methods).
    logit_alpha: float = param_of(FlowTrainingConfig, "logit_alpha", default=1e-6)
    # Polyak weights by default (benchmarks/RESULTS.md, likelihood methods): on mnist5k at half the 10-minute step
    # budget (3,562 steps) the average's last three checkpoints scored FID 78.7, 77.5, 77.3, the raw weights' 89.3, 91.5, 70.7.
    ema_decay: float = param_of(FlowOptions, "ema_decay")
    warmup_steps: int = param_of(FlowOptions, "warmup_steps")
    dequantization: str = param_of(FlowOptions, "dequantization")
    # On by default for labelled data (benchmarks/RESULTS.md, time to quality): on mnist5k, seed 1, two 10-minute runs
    # side by side (1,834 and 1,824 steps), FID 20.7 at n=500 and 1.274 bits/dim with it against 28.4 and 1.282 without.
    class_conditional: bool = param_of(FlowOptions, "class_conditional", default=True)
    lr_schedule: str = param_of(FlowOptions, "lr_schedule", default="linear")


class Glow(FlowModel):
    config_class = GlowConfig
    summary = "Glow: actnorm, invertible 1x1 convolution and affine coupling, multi-scale; exact likelihood"

    def _step(self, c: int, h: int | None, w: int | None, k: int, level: int) -> list[FlowLayer]:
        cfg = self.config
        tag = f"L{level + 1}.{k + 1}"
        if h is None:  # vectors
            mask = alternating_mask(c, k % 2)
            net = coupling_mlp(c, cfg.hidden, cfg.hidden_layers, 2 * c)
        else:
            mask = channel_mask(c, h, w, k % 2) if c >= 2 else checkerboard_mask(c, h, w, k % 2)
            net = ConvResNet(c + 1, cfg.channels, 2 * c, cfg.blocks)
        actnorm, conv = ActNorm(c), InvertibleLinear(c, lu=cfg.lu)
        actnorm.label, conv.label = f"actnorm {tag}", f"1x1 conv {tag}"
        return [actnorm, conv, Coupling(mask, net, "affine-sigmoid", label=f"coupling {tag}")]

    def build_flow(self) -> FlowNetwork:
        cfg = self.config
        if not self.is_image:
            d = self.data_info.dim
            self.num_levels = 1
            return FlowNetwork([[layer for k in range(cfg.steps) for layer in self._step(d, None, None, k, 0)]], (d,))
        c, h, w = self.data_info.shape
        # Every level squeezes, so L levels need H and W divisible by 2^L.
        squeezes = usable_scales(h, w, cfg.levels + 1) - 1
        self.num_levels = max(squeezes, 1)
        levels: list[list[FlowLayer]] = []
        for level in range(self.num_levels):
            layers: list[FlowLayer] = []
            if squeezes:
                layers.append(Squeeze())
                c, h, w = 4 * c, h // 2, w // 2
            for k in range(cfg.steps):
                layers += self._step(c, h, w, k, level)
            if level < self.num_levels - 1:
                c //= 2
            levels.append(layers)
        return FlowNetwork(levels, self.data_info.shape, split_priors=cfg.split_prior)
