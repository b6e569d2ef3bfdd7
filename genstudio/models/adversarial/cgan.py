"""Conditional GAN (Mirza & Osindero, "Conditional Generative Adversarial
Nets", 2014).

The idea: feed the class label y to both players, so G learns p(x|y) and D
judges whether x is a real example *of class y*:

    min_G max_D  E_x[log D(x|y)] + E_z[log(1 - D(G(z|y)|y))]          (Mirza & Osindero eq. 2)

Here y enters both MLPs as a one-hot vector concatenated to z (for G) and to
the flattened input (for D); fakes are generated for the labels of the real
batch, so both see the same class mix. Sampling with a fixed z and a swept
label keeps the style and changes the class.

Everything else (losses, optimisers, the 2-D view) is ``gan``'s.
Capabilities: Latent (``decode(z, labels)``; labels default to 0, 1, ...,
K-1, 0, ...) and Conditional (``num_classes``, ``sample_conditional``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError
from genstudio.models.adversarial.gan import GAN, GANConfig


@dataclass
class CGANConfig(GANConfig):
    pass


class CGAN(GAN):
    config_class = CGANConfig
    summary = "Conditional GAN: the class label is fed to both the generator and the discriminator"

    def __init__(self, config: CGANConfig, data_info: DataInfo):
        if data_info.num_classes < 2:
            raise DataMismatchError(
                f"cgan needs a labelled dataset with at least 2 classes; '{data_info.name}' has {data_info.num_classes}"
            )
        self.num_classes = data_info.num_classes
        super().__init__(config, data_info)

    def condition_size(self, data_info: DataInfo) -> int:
        return data_info.num_classes

    def _condition(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        if y is None:
            raise ValueError("cgan needs class labels here")
        y = y.to(h.device).long()
        if y.shape != (h.shape[0],):
            raise ValueError(f"expected {h.shape[0]} labels, got shape {tuple(y.shape)}")
        if (y < 0).any() or (y >= self.num_classes).any():
            raise ValueError(f"labels must be in 0..{self.num_classes - 1}")
        return torch.cat([h, F.one_hot(y, self.num_classes).to(h.dtype)], 1)

    def _labels(self, batch: Batch) -> torch.Tensor:
        if not batch.has_labels:
            raise DataMismatchError("cgan needs every example labelled; this batch has examples without a label")
        return batch.y.to(self.device)

    def _default_labels(self, n: int) -> torch.Tensor:
        """Classes 0, 1, ..., K-1, 0, ... so an unlabelled grid shows every class."""
        return torch.arange(n, device=self.device) % self.num_classes

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        return self.sample_conditional(self._default_labels(n), generator, **kwargs)

    @torch.no_grad()
    def sample_conditional(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, guidance_scale: float = 1.0, **kwargs: Any
    ) -> torch.Tensor:
        if guidance_scale != 1.0:
            raise ValueError(f"cgan has no guidance; guidance_scale must be 1.0, got {guidance_scale}")
        opts = {**self.sample_options(), **kwargs}
        labels = labels.to(self.device).long()
        z = self.prior_sample(labels.shape[0], generator) * float(opts["truncation"])
        return self.decode(z, labels)
