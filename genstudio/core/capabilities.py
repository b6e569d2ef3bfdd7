"""Optional capabilities of a model, checked with ``isinstance``.

The studio decides which panels to show from these Protocols, so a new
model gets the right views by implementing methods, not by touching the UI.
"""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

import torch


@runtime_checkable
class Latent(Protocol):
    """A model that decodes a latent vector into data (autoencoders, GANs' z, flows).

    ``decode`` returns data space (images in [0, 1]); ``prior_sample`` draws
    latents the model was trained to decode.
    """

    latent_dim: int

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class Encoder(Protocol):
    """A ``Latent`` model that can also map data to its latent (the mean for a VAE)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...


#: What a ``Likelihood`` model's numbers are a probability of, by the short name
#: ``evaluate`` reports as ``likelihood_data``. Only equal names compare.
LIKELIHOOD_DATA = {
    "8-bit": "the discrete 8-bit pixel values (256 levels per channel)",
    "binarised": "the images thresholded at 0.5 (the classic binarised-MNIST benchmark)",
    "grey as Bernoulli": "grey levels scored as Bernoulli targets: a training loss, not a probability of the data",
    "mu-law 8-bit": "audio quantised to 256 mu-law levels",
    "continuous": "a density of continuous values (nats can be negative; bits/dim is not reported)",
    "VQ codes": "a VQ-VAE's discrete code maps (bits per code position), not the pixels",
}


@runtime_checkable
class Likelihood(Protocol):
    """A model that scores data: ``log_prob`` per example in nats (exact, or a lower bound).

    Implementations also say what the number is a likelihood *of* in
    ``likelihood_data`` (see :data:`LIKELIHOOD_DATA`): bits/dim of 8-bit images,
    of binarised images and of a density of continuous values are different
    quantities and must not be ranked together.
    """

    exact_likelihood: bool

    def log_prob(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Invertible(Protocol):
    """A bijection data <-> latent with per-layer access (normalizing flows)."""

    def forward_with_logdet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def inverse(self, z: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Denoiser(Protocol):
    """A diffusion-type model: a noise schedule, the forward process and an interruptible sampler."""

    schedule: object

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor: ...

    def denoise_steps(self, n: int, generator: torch.Generator | None = None, **kwargs) -> Iterator[object]: ...


@runtime_checkable
class Autoregressive(Protocol):
    """Generation one pixel (or row) at a time, and completion of a masked input."""

    def generate_steps(self, n: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]: ...

    def complete(self, x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


@runtime_checkable
class Conditional(Protocol):
    """A model that samples given class labels."""

    num_classes: int

    def sample_conditional(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, guidance_scale: float = 1.0
    ) -> torch.Tensor: ...


@runtime_checkable
class Adversarial(Protocol):
    """A GAN whose discriminator can be evaluated anywhere and whose two players can be stepped one at a time.

    ``discriminate`` returns D's output in data space (a probability of real,
    or a raw score: ``d_output_kind``); ``generator_field`` returns G(z) and
    the direction G's loss pushes each generated example; the two steps
    update one player each (the GAN view's Step D / Step G).
    """

    d_output_kind: str

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor: ...

    def generator_field(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]: ...

    def discriminator_step(self, real: torch.Tensor, y: torch.Tensor | None = None) -> dict: ...

    def generator_step(self, n: int, y: torch.Tensor | None = None) -> dict: ...


@runtime_checkable
class CodePrior(Protocol):
    """A prior over a frozen VQ-VAE's grid of discrete codes (vq-prior): the grid is drawn one position at a
    time (``generate_code_steps`` yields each), completed from given positions, and decoded to images."""

    num_codes: int
    grid: tuple[int, int]

    def codes(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor: ...

    def generate_code_steps(self, n: int, generator: torch.Generator | None = None, **kwargs) -> Iterator[object]: ...

    def complete_codes(self, codes: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


ALL = {
    "Latent": Latent,
    "Encoder": Encoder,
    "Likelihood": Likelihood,
    "Invertible": Invertible,
    "Denoiser": Denoiser,
    "Autoregressive": Autoregressive,
    "Conditional": Conditional,
    "Adversarial": Adversarial,
    "CodePrior": CodePrior,
}


def capabilities_of(model: object) -> list[str]:
    """Names of the capabilities a model instance offers."""
    return [name for name, proto in ALL.items() if isinstance(model, proto)]
