"""MAF (Papamakarios, Pavlakou & Murray, "Masked Autoregressive Flow for Density Estimation", NeurIPS 2017).

The idea: an autoregressive Gaussian model x_i = u_i * exp(a_i) + mu_i, with
(mu_i, a_i) functions of x_1..x_{i-1}, is a flow from the noise u to x
(paper eq. 2-3). Its density direction u = (x - mu(x)) * exp(-a(x)) needs
only one pass of a MADE (Germain et al. 2015) over x, and
log |det du/dx| = -sum_i a_i (eq. 5): density is fast. Sampling has to
produce x_1, then x_2, ...: D sequential passes, so sampling is slow.

Several such layers are stacked, reversing the order of the dimensions
between them, so each layer sees the dimensions in a different order (the
paper also lets each MADE use its own order; for 2-D data reversal is the
only alternative order). The paper's batch-norm layers are left out so
each layer stays an exact bijection in train and eval mode alike.

Meant for points and other low-dimensional vectors. Images are flattened
(D = C*H*W): training and density stay one pass, but a sample costs D
passes per layer, so only small images (at most ``MAX_IMAGE_DIM`` values,
e.g. the 8x8 digits) are accepted: 16 MNIST samples took about 16 s on a
busy CPU, too slow for live previews.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.core.config import param
from genstudio.core.model import DataMismatchError

from .base import FlowModel, FlowTrainingConfig
from .layers import FlowLayer, FlowNetwork, Permute
from .made_layers import AutoregressiveAffine

#: Largest image (C*H*W) accepted: one sample costs that many passes through every layer.
MAX_IMAGE_DIM = 256


@dataclass
class MAFConfig(FlowTrainingConfig):
    flow_layers: int = param(8, "number of MADE layers (the order is reversed between them)", min=1, max=64)
    hidden: int = param(128, "units in each MADE hidden layer", min=8, max=4096)
    hidden_layers: int = param(2, "hidden layers in each MADE", min=1, max=8)


def autoregressive_stack(dim: int, flow_layers: int, hidden: int, hidden_layers: int, conditioned_on: str) -> list[FlowLayer]:
    layers: list[FlowLayer] = []
    for k in range(flow_layers):
        if k > 0:
            layers.append(Permute())
        layers.append(AutoregressiveAffine(dim, hidden, hidden_layers, conditioned_on, order=torch.arange(dim)))
    return layers


def check_image_size(model: FlowModel, name: str, limit: int = MAX_IMAGE_DIM) -> None:
    if model.data_info.kind == "image" and model.data_info.dim > limit:
        raise DataMismatchError(
            f"'{name}' treats an image as one {model.data_info.dim}-dimensional vector, one pass per dimension in its slow "
            f"direction; it accepts images of at most {limit} values (e.g. the 8x8 digits). Use realnvp or glow."
        )


class MAF(FlowModel):
    config_class = MAFConfig
    summary = "Masked autoregressive flow: stacked MADEs; fast exact density, sampling one pass per dimension"
    fast_density = True
    fast_sampling = False
    flattens_images = True

    def build_flow(self) -> FlowNetwork:
        check_image_size(self, "maf")
        cfg, d = self.config, self.data_info.dim
        layers = autoregressive_stack(d, cfg.flow_layers, cfg.hidden, cfg.hidden_layers, "x")
        return FlowNetwork([layers], (d,))
