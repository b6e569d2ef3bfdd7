"""NICE (Dinh, Krueger & Bengio, "NICE: Non-linear Independent Components Estimation", 2014).

The idea: split x into two parts and add to one a function of the other,

    y_2 = x_2 + m(x_1),  y_1 = x_1                         (paper eq. 4)

which is trivially inverted (x_2 = y_2 - m(y_1)) and has unit Jacobian
determinant, for any network m. Stacking such additive couplings with
alternating partitions (even / odd dimensions, section 5.1) gives a
volume-preserving map; a final diagonal scaling layer y = exp(s) * x
(section 3.3) lets the model concentrate its density, and it is the only
layer with a log-det (sum s). The prior is the standard logistic for images,
as in the paper (section 3.4), or a standard Gaussian.

NICE works on flat vectors: images are flattened (dequantised and
logit-transformed first, see ``base``) and each coupling is an MLP.
The paper used 4 couplings of 5 x 1000 ReLU units on MNIST; the defaults
here are CPU-sized.
"""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.core.config import param

from .base import FlowModel, FlowTrainingConfig
from .layers import Coupling, DiagonalScaling, FlowLayer, FlowNetwork, alternating_mask, coupling_mlp


@dataclass
class NICEConfig(FlowTrainingConfig):
    couplings: int = param(4, "additive coupling layers (the paper's 4; partitions alternate)", min=2, max=64)
    hidden: int = param(256, "width of each coupling's MLP (the paper's 1000)", min=8, max=4096)
    hidden_layers: int = param(3, "hidden layers in each coupling's MLP (the paper's 5)", min=1, max=8)
    prior: str = param(
        "auto", "prior on z: logistic (the paper's), gaussian; auto picks logistic for images, gaussian for points", choices=("auto", "logistic", "gaussian")
    )


class NICE(FlowModel):
    config_class = NICEConfig
    summary = "NICE: additive couplings and a diagonal scaling layer, logistic prior; exact likelihood"
    flattens_images = True

    def build_flow(self) -> FlowNetwork:
        cfg, d = self.config, self.data_info.dim
        if cfg.prior == "auto":
            self.prior = "logistic" if self.is_image else "gaussian"
        else:
            self.prior = cfg.prior
        layers: list[FlowLayer] = []
        for k in range(cfg.couplings):
            net = coupling_mlp(d, cfg.hidden, cfg.hidden_layers, d)
            layers.append(Coupling(alternating_mask(d, k % 2), net, "additive", label=f"additive coupling {k + 1}"))
        layers.append(DiagonalScaling((d,)))
        return FlowNetwork([layers], (d,))
