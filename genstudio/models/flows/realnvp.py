"""RealNVP (Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017).

The idea: an affine coupling layer leaves part of the input unchanged and
uses it to scale and shift the rest,

    y = b*x + (1 - b) * (x * exp(s(b*x)) + t(b*x))        (paper eq. 9)

whose Jacobian is triangular, so log |det| = sum of s over the free part
(eq. 6), and whose inverse needs no inverse of s or t (eq. 8). Stacking
couplings with alternating masks lets every dimension be transformed.

Images use the multi-scale architecture of section 3.6: each scale applies
3 couplings with checkerboard masks, a squeeze (C x H x W -> 4C x H/2 x W/2),
3 couplings with channel masks, then factors half the channels out to the
latent; the last scale applies 4 checkerboard couplings. The conditioner
is a small ResNet (the paper's is deeper, with batch norm and weight norm,
which we leave out so the layers stay exact bijections in every mode).
Points (and any vector data) use MLP conditioners with alternating masks.

The number of scales is capped by the image size: every scale but the last
halves H and W, so ``scales`` is reduced until they divide evenly
(``self.num_scales`` is the number used). The default of 3 takes 28 x 28
digits down to a 7 x 7 scale, as the paper's stacks run down to 4 x 4.

Beyond the paper, each measured on mnist5k (benchmarks/flow_methods.py):
``split_prior`` (on) gives each factored-out part Glow's learned Gaussian
prior given the kept part; ``coupling = "mixture-logistic"`` swaps the
affine map for Flow++'s mixture-of-logistics CDF (Ho et al. 2019), which
can give one pixel two modes; ``actnorm`` follows every coupling with
Glow's data-initialised actnorm in place of the paper's batch norm;
``class_conditional`` gives each class Glow's learned prior mean and scale
(flows.priors).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.core.config import param, param_of

from .base import FlowModel, FlowOptions, FlowTrainingConfig
from .layers import ActNorm, ConvResNet, Coupling, FlowLayer, FlowNetwork, Squeeze, alternating_mask, channel_mask, checkerboard_mask, coupling_mlp


@dataclass
class RealNVPConfig(FlowTrainingConfig):
    # 2e-3 falling linearly to 0 over the run (``lr_schedule`` below; Li et al. 2020), as Glow's: on mnist5k in 10
    # minutes, two seeds each side by side with the constant 1e-3 at the same load, FID 22.2 and 25.6 at n=500 and 1.207
    # and 1.201 bits/dim against 26.2 and 29.1 and 1.226 and 1.211 (benchmarks/RESULTS.md, time to quality).
    lr: float = param_of(FlowTrainingConfig, "lr", default=2e-3)
    couplings: int = param(8, "points: number of affine coupling layers (masks alternate)", min=2, max=64)
    hidden: int = param(128, "points: width of each coupling's MLP", min=8, max=2048)
    hidden_layers: int = param(2, "points: hidden layers in each coupling's MLP", min=1, max=8)
    # 3 on 28 x 28 reaches a 7 x 7 scale, as the paper's stacks run down to 4 x 4 on 32 x 32: with 2 the deepest
    # couplings saw 14 x 14 patches and the samples were blobs without a digit's outline (benchmarks/RESULTS.md).
    scales: int = param(3, "images: scales of the multi-scale architecture (capped by the image size)", min=1, max=6)
    # Sized for a CPU's ten minutes (benchmarks/RESULTS.md, time to quality; mnist5k, one thread, with today's other
    # defaults): each halving of the conditioners' width learned about as much a step and made about twice the steps.
    # 16 channels (112k parameters) ended at FID 31.9 and 34.9 on two seeds (1.32 / 1.30 bits/dim), 32 channels
    # at 38.2 and 40.2 (1.34 / 1.32), 64 channels at 59.2 and 72.0 (1.44); 64 channels with 1 block scored 49.9.
    # Give a longer run or a GPU more width.
    channels: int = param(16, "images: channels of each coupling's ResNet", min=4, max=512)
    blocks: int = param(2, "images: residual blocks in each coupling's ResNet", min=0, max=16)
    coupling: str = param(
        "affine", "the couplings' elementwise map: RealNVP's affine, or Flow++'s mixture of logistics (a CDF, then logit)",
        choices=("affine", "mixture-logistic"),
    )
    components: int = param(4, "mixture-logistic couplings: logistic components per dimension (Flow++ used 32 on CIFAR-10)", min=2, max=64)
    actnorm: bool = param(False, "images: an actnorm after every coupling (Glow's data-initialised stand-in for the paper's batch norm)")
    # On by default: on mnist5k (5 minutes, 3 scales) it took FID from 103 to 83 and bits/dim from 2.48 to 2.27.
    split_prior: bool = param(True, "images: Glow's learned prior on each factored-out part given the kept part; off: N(0, I) as in the paper")
    # The paper's MNIST constant (section 4.1): with it 1.58 bits/dim against 2.27 at 0.05 after 5 minutes (FID 100 against
    # 83 at the last checkpoint, 61 six steps before it: RealNVP's FID swings from one checkpoint to the next).
    logit_alpha: float = param_of(FlowTrainingConfig, "logit_alpha", default=1e-6)
    # Polyak weights (benchmarks/RESULTS.md, time to quality): on mnist5k in 10 minutes the raw weights' FID swung
    # between 29.5 and 77.5 from one checkpoint to the next and ended at 74.1, the average's fell steadily to 59.2
    # (1.44 bits/dim against 1.59). With the 2-scale, alpha-0.05 default of before, the average had scored worse.
    ema_decay: float = param_of(FlowOptions, "ema_decay")
    warmup_steps: int = param_of(FlowOptions, "warmup_steps")
    dequantization: str = param_of(FlowOptions, "dequantization")
    # On by default for labelled data, as Glow's (benchmarks/RESULTS.md, time to quality): on mnist5k in 10 minutes,
    # with the falling rate, FID 19.2 and 20.3 at n=500 and 1.208 and 1.194 bits/dim against 22.2 and 25.6 and 1.207 and
    # 1.201 without; cooled to T = 0.7 its samples are clean digits of every class.
    class_conditional: bool = param_of(FlowOptions, "class_conditional", default=True)
    lr_schedule: str = param_of(FlowOptions, "lr_schedule", default="linear")


def usable_scales(height: int, width: int, wanted: int) -> int:
    """The most scales (up to ``wanted``) for which every squeeze sees an even height and width."""
    scales = 1
    h, w = height, width
    while scales < wanted and h % 2 == 0 and w % 2 == 0:
        h, w = h // 2, w // 2
        scales += 1
    return scales


def multiscale_coupling_levels(
    shape: tuple[int, int, int], scales: int, make_net, kind: str = "affine", actnorm: bool = False, components: int = 4
) -> list[list[FlowLayer]]:
    """RealNVP's multi-scale stack (section 3.6) for a C x H x W input; ``make_net(in_ch, out_ch)`` builds conditioners.

    With ``actnorm`` every coupling follows an :class:`ActNorm`, Glow's data-initialised stand-in for the batch
    normalisation the paper applies to each coupling's output (section 3.7)."""
    c, h, w = shape
    out_mult = Coupling.outputs_per_channel(kind, components)
    levels: list[list[FlowLayer]] = []

    def coupling(mask: torch.Tensor, label: str) -> list[FlowLayer]:
        layer = Coupling(mask, make_net(c + 1, out_mult * c), kind, label=label, components=components)
        if not actnorm:
            return [layer]
        norm = ActNorm(c)
        norm.label = label.replace("coupling", "actnorm")
        return [layer, norm]

    for k in range(scales):
        layers: list[FlowLayer] = []
        last = k == scales - 1
        for parity in range(4 if last else 3):
            layers += coupling(checkerboard_mask(c, h, w, parity % 2), f"coupling (checkerboard) s{k + 1}")
        if not last:
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            for parity in range(3):
                layers += coupling(channel_mask(c, h, w, parity % 2), f"coupling (channel) s{k + 1}")
            c //= 2  # half the channels are factored out after this scale
        levels.append(layers)
    return levels


class RealNVP(FlowModel):
    config_class = RealNVPConfig
    summary = "RealNVP: affine couplings with checkerboard and channel masks, squeeze, multi-scale; exact likelihood"

    def build_flow(self) -> FlowNetwork:
        cfg = self.config
        if self.is_image:
            c, h, w = self.data_info.shape
            self.num_scales = usable_scales(h, w, cfg.scales)
            levels = multiscale_coupling_levels(
                (c, h, w), self.num_scales, lambda i, o: ConvResNet(i, cfg.channels, o, cfg.blocks), cfg.coupling, cfg.actnorm, cfg.components
            )
            return FlowNetwork(levels, (c, h, w), split_priors=cfg.split_prior)
        d = self.data_info.dim
        self.num_scales = 1
        out = Coupling.outputs_per_channel(cfg.coupling, cfg.components)
        layers: list[FlowLayer] = [
            Coupling(
                alternating_mask(d, k % 2), coupling_mlp(d, cfg.hidden, cfg.hidden_layers, out * d), cfg.coupling,
                label=f"coupling {k + 1}", components=cfg.components,
            )
            for k in range(cfg.couplings)
        ]
        return FlowNetwork([layers], (d,))
