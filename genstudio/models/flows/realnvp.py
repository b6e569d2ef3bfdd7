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
(``self.num_scales`` is the number used).
"""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.core.config import param

from .base import FlowModel, FlowTrainingConfig
from .layers import ConvResNet, Coupling, FlowLayer, FlowNetwork, Squeeze, alternating_mask, channel_mask, checkerboard_mask, coupling_mlp


@dataclass
class RealNVPConfig(FlowTrainingConfig):
    couplings: int = param(8, "points: number of affine coupling layers (masks alternate)", min=2, max=64)
    hidden: int = param(128, "points: width of each coupling's MLP", min=8, max=2048)
    hidden_layers: int = param(2, "points: hidden layers in each coupling's MLP", min=1, max=8)
    scales: int = param(2, "images: scales of the multi-scale architecture (capped by the image size)", min=1, max=6)
    # 64 channels and 2 blocks (868k parameters), measured on mnist5k on one CPU thread (benchmarks/RESULTS.md):
    # FID 35 after 2.5 minutes and 140 after 10 (775 steps); 32 channels and 1 block (126k) ran 1,382 steps in
    # those 10 minutes and scored 207, drawing only specks (both at temperature 1).
    channels: int = param(64, "images: channels of each coupling's ResNet", min=4, max=512)
    blocks: int = param(2, "images: residual blocks in each coupling's ResNet", min=0, max=16)
    ema_decay: float = param(0.0, "decay of the weight average (warmed up as in core.ema) used for sampling and bits/dim; 0 turns it off", min=0.0, max=0.99999)
    warmup_steps: int = param(0, "linear learning-rate warm-up over this many steps (0: none)", min=0, max=100000)


def usable_scales(height: int, width: int, wanted: int) -> int:
    """The most scales (up to ``wanted``) for which every squeeze sees an even height and width."""
    scales = 1
    h, w = height, width
    while scales < wanted and h % 2 == 0 and w % 2 == 0:
        h, w = h // 2, w // 2
        scales += 1
    return scales


def multiscale_coupling_levels(
    shape: tuple[int, int, int], scales: int, make_net, kind: str = "affine"
) -> list[list[FlowLayer]]:
    """RealNVP's multi-scale stack (section 3.6) for a C x H x W input; ``make_net(in_ch, out_ch)`` builds conditioners."""
    c, h, w = shape
    out_mult = 1 if kind == "additive" else 2
    levels: list[list[FlowLayer]] = []
    for k in range(scales):
        layers: list[FlowLayer] = []
        last = k == scales - 1
        for parity in range(4 if last else 3):
            mask = checkerboard_mask(c, h, w, parity % 2)
            layers.append(Coupling(mask, make_net(c + 1, out_mult * c), kind, label=f"coupling (checkerboard) s{k + 1}"))
        if not last:
            layers.append(Squeeze())
            c, h, w = 4 * c, h // 2, w // 2
            for parity in range(3):
                mask = channel_mask(c, h, w, parity % 2)
                layers.append(Coupling(mask, make_net(c + 1, out_mult * c), kind, label=f"coupling (channel) s{k + 1}"))
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
                (c, h, w), self.num_scales, lambda i, o: ConvResNet(i, cfg.channels, o, cfg.blocks), "affine"
            )
            return FlowNetwork(levels, (c, h, w))
        d = self.data_info.dim
        self.num_scales = 1
        layers: list[FlowLayer] = [
            Coupling(alternating_mask(d, k % 2), coupling_mlp(d, cfg.hidden, cfg.hidden_layers, 2 * d), "affine", label=f"coupling {k + 1}")
            for k in range(cfg.couplings)
        ]
        return FlowNetwork([layers], (d,))
