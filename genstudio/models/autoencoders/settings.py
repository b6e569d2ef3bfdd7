"""The settings the autoencoders share, declared once.

Each autoencoder's config takes these with ``param_of`` at the place its form
lists them (the learning rate sits between the network and the validation
settings), changing only what differs for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.core.config import param


@dataclass
class AutoencoderTrainingConfig:
    """Latent size, the encoder/decoder widths and the optimiser of every autoencoder."""

    latent_dim: int = param(16, "dimension of the latent z (2 gives the 2-D manifold view)", min=1, max=512)
    channels: int = param(32, "channels of the first conv layer (doubled in the second)", min=4, max=256)
    hidden: int = param(256, "width of the dense layers (the MLP's width for points)", min=16, max=2048)
    lr: float = param(1e-3, "Adam learning rate", min=1e-6, max=1e-1, log=True)
