"""IAF (Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved Variational
Inference with Inverse Autoregressive Flow", NeurIPS 2016), as a density model.

The idea: the transpose of MAF. Each layer computes x = u * exp(a(u)) + mu(u)
with (mu_i, a_i) from a MADE of u_1..u_{i-1} (paper eq. 10, with the general
affine form rather than the gated update of eq. 14), so a sample needs only
one MADE pass per layer: sampling is fast. Scoring data needs u from x,
found one dimension at a time: D sequential passes per layer, so density
is slow (Papamakarios et al. 2017, section 3.3, discuss the trade-off).

The paper uses IAF as a VAE posterior, where it only ever samples. Trained
here by maximum likelihood on data, every training step pays the slow
direction; that is why ``fast_density`` is False and the UI must say that
training and log-likelihoods are slow and sampling is fast (MAF: the
reverse). For that reason it is built for points (and other low-dimensional
vectors) only: on 8x8 digits one training step would already cost 64 passes
per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import FlowModel
from .layers import FlowNetwork
from .maf import MAFConfig, autoregressive_stack


@dataclass
class IAFConfig(MAFConfig):
    pass


class IAF(FlowModel):
    config_class = IAFConfig
    summary = "Inverse autoregressive flow: stacked MADEs on the noise; fast sampling, density one pass per dimension"
    fast_density = False
    fast_sampling = True
    data_kinds = ("points",)

    def build_flow(self) -> FlowNetwork:
        cfg, d = self.config, self.data_info.dim
        layers = autoregressive_stack(d, cfg.flow_layers, cfg.hidden, cfg.hidden_layers, "u")
        return FlowNetwork([layers], (d,))
