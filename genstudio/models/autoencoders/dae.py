"""Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol, "Extracting
and Composing Robust Features with Denoising Autoencoders", ICML 2008).

The idea: corrupt the input x into x~ ~ q(x~|x) and train the autoencoder to
recover the clean x from it,

    L = E_{x~ ~ q(x~|x)} [ -log p(x | g(f(x~))) ]                     (Vincent et al. section 2.3)

so the code must capture the structure of the data rather than copy pixels.
Three corruptions:

- ``masking`` (the paper's; the default for images): a random fraction ``noise_level`` of the inputs is set to 0;
- ``gaussian``: x + N(0, noise_level^2), clipped to [0, 1] for images;
- ``salt_pepper``: a fraction ``noise_level`` of the inputs is set to 0 or 1 at random.

For points only ``gaussian`` makes sense (the default there) (in the normalised [-1, 1] space).
Validation also reports ``recon_corrupted``, the reconstruction loss of
corrupted inputs against the clean ones, with a fixed corruption seed.

Capabilities: Latent and Encoder, as the plain autoencoder.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genstudio.core.config import param
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError, rand, randn
from genstudio.models.autoencoders.ae import AE, AEConfig

CORRUPTION_SEED = 1234


@dataclass
class DAEConfig(AEConfig):
    corruption: str = param(
        "auto",
        "how inputs are corrupted: masking (zeroes), gaussian noise, salt_pepper; auto: masking for images, gaussian for points",
        choices=("auto", "masking", "gaussian", "salt_pepper"),
    )
    noise_level: float = param(0.3, "masking and salt_pepper: fraction of inputs hit; gaussian: noise standard deviation", min=0.0, max=1.0)


def corrupt_inputs(x: torch.Tensor, kind: str, level: float, generator: torch.Generator | None = None, clip: bool = True) -> torch.Tensor:
    """Corrupt a batch: ``masking`` zeroes a fraction ``level``, ``gaussian`` adds N(0, level^2), ``salt_pepper`` sets a fraction to 0 or 1."""
    if kind == "masking":
        keep = rand(x.shape, generator, x.device) >= level
        return x * keep
    if kind == "gaussian":
        noisy = x + level * randn(x.shape, generator, x.device)
        return noisy.clamp(0, 1) if clip else noisy
    if kind == "salt_pepper":
        hit = rand(x.shape, generator, x.device) < level
        salt = (rand(x.shape, generator, x.device) < 0.5).to(x.dtype)
        return torch.where(hit, salt, x)
    raise ValueError(f"unknown corruption '{kind}'; choose masking, gaussian or salt_pepper")


class DAE(AE):
    config_class = DAEConfig
    summary = "Denoising autoencoder: reconstructs the clean input from a corrupted copy (masking, Gaussian, salt and pepper)"
    metric_groups = {"Reconstruction": ["loss", "recon", "recon_corrupted"], "Pixel error (MSE)": ["mse"]}

    def __init__(self, config: DAEConfig, data_info: DataInfo):
        kind = config.corruption
        if kind == "auto":
            kind = "masking" if data_info.kind == "image" else "gaussian"
        if data_info.kind == "points" and kind != "gaussian":
            raise DataMismatchError(f"corruption '{kind}' is for images; use corruption=gaussian for points")
        super().__init__(config, data_info)
        self.corruption = kind

    def corrupt(self, x_model: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return corrupt_inputs(x_model, self.corruption, self.config.noise_level, generator, clip=self.is_image)

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        out = super().evaluate(batch)
        x = self._prepare(batch.x)
        noisy = self.corrupt(x, torch.Generator().manual_seed(CORRUPTION_SEED))
        out["recon_corrupted"] = self._recon_per_example(self._decode_model(self._encode_model(noisy)), x).mean().item()
        return out
