"""Deep convolutional GAN (Radford, Metz & Chintala, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016).

The idea (Goodfellow et al. 2014): a generator G maps noise z ~ N(0, I) to
images and a discriminator D scores real against generated; they play

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]                (Goodfellow et al. eq. 1)

G is trained with the non-saturating loss -log D(G(z)) instead of
log(1 - D(G(z))), which gives strong gradients early, when D rejects
every fake (Goodfellow et al. section 3).

DCGAN's architecture guidelines (Radford et al. section 3), followed here:
strided convolutions instead of pooling in D, fractionally-strided
(transposed) convolutions in G; batch norm in both except D's first layer
(and G's output); ReLU in G with a tanh output; LeakyReLU(0.2) in D;
weights from N(0, 0.02); Adam with lr 2e-4 and beta1 0.5. Images are scaled
to [-1, 1] to match tanh. Sizes not divisible by 4 are padded with -1
(black) and cropped from G's output.

One ``train_step`` is one D update on a real and a fake batch (separate
forward passes, so batch norm never mixes them) followed by one G update.
An EMA copy of G (Yazici et al. 2019, "The Unusual Effectiveness of
Averaging in GAN Training") is kept for sampling; ``use_ema=False`` samples
the raw generator.

Capabilities: Latent (``latent_dim`` = z_dim, ``decode(z)`` = G(z) in
[0, 1], ``prior_sample``) and Adversarial (``discriminate``,
``generator_field``, ``discriminator_step`` and ``generator_step``, for the
GAN view's histograms of D(x) and D(G(z)) and its Step D / Step G).
D is always evaluated as it trains, with batch statistics over the batch it
is given (one batch of reals or one of fakes, never mixed), and its
batch-norm buffers are put back afterwards, so looking changes nothing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA
from genstudio.core.model import GenerativeModel, optimizer_step, randn
from genstudio.models.adversarial.gan import GANConfig
from genstudio.models.nets import crop_to, pad_to, padded_size


@dataclass
class DCGANConfig:
    z_dim: int = param_of(GANConfig, "z_dim", default=64)
    g_channels: int = param(32, "generator channels before the last up-sampling (doubled before the first)", min=4, max=512)
    d_channels: int = param(32, "discriminator channels after the first conv (doubled after the second)", min=4, max=512)
    lr_g: float = param_of(GANConfig, "lr_g")
    lr_d: float = param_of(GANConfig, "lr_d")
    beta1: float = param_of(GANConfig, "beta1", help="Adam beta1 (DCGAN: 0.5; 0.9 oscillates)")
    ema_decay: float = param(0.999, "decay of the generator's weight average used for sampling (0 turns it off)", min=0.0, max=0.99999)


def init_dcgan_weights(module: nn.Module) -> None:
    """Radford et al. section 4: all weights from N(0, 0.02); batch-norm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z -> projection to a (2g, H/4, W/4) map -> two stride-2 transposed convs -> tanh."""

    def __init__(self, z_dim: int, out_ch: int, height: int, width: int, g: int):
        super().__init__()
        self.shape = (2 * g, height // 4, width // 4)
        # The "project and reshape" first layer of the DCGAN figure 1, as a dense layer with batch norm.
        self.project = nn.Sequential(
            nn.Linear(z_dim, self.shape[0] * self.shape[1] * self.shape[2], bias=False),
            nn.BatchNorm1d(self.shape[0] * self.shape[1] * self.shape[2]),
            nn.ReLU(True),
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * g, g, 4, 2, 1, bias=False),
            nn.BatchNorm2d(g),
            nn.ReLU(True),
            nn.ConvTranspose2d(g, out_ch, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(-1, *self.shape))


class Discriminator(nn.Module):
    """Two stride-2 convs (batch norm on the second only) and a dense layer to one logit."""

    def __init__(self, in_ch: int, height: int, width: int, d: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, d, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * d),
            nn.LeakyReLU(0.2, True),
            nn.Flatten(),
            nn.Linear(2 * d * (height // 4) * (width // 4), 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


class DCGAN(GenerativeModel):
    config_class = DCGANConfig
    family = "adversarial"
    summary = "Deep convolutional GAN: transposed-conv generator against a strided-conv discriminator"
    data_kinds = ("image",)
    metric_groups = {"Losses": ["d_loss", "g_loss"], "D outputs": ["d_real", "d_fake"]}
    #: What :meth:`discriminate` returns: D's probability that an image is real.
    d_output_kind = "probability"

    def __init__(self, config: DCGANConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        c, h, w = data_info.shape
        self.latent_dim = config.z_dim
        self.hp, self.wp = padded_size(h, 4), padded_size(w, 4)
        self.generator = Generator(config.z_dim, c, self.hp, self.wp, config.g_channels)
        self.discriminator = Discriminator(c, self.hp, self.wp, config.d_channels)
        self.generator.apply(init_dcgan_weights)
        self.discriminator.apply(init_dcgan_weights)
        self.ema = EMA(self.generator, decay=config.ema_decay) if config.ema_decay > 0 else None
        betas = (config.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        return pad_to(x * 2 - 1, self.hp, self.wp, value=-1.0)

    def _to_data(self, x: torch.Tensor) -> torch.Tensor:
        return crop_to((x + 1) / 2, *self.data_info.shape[1:]).clamp(0, 1)

    def _losses(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """D loss on detached fakes, non-saturating G loss -log D(G(z)), and D's mean probabilities."""
        logit_real = self.discriminator(real)
        logit_fake = self.discriminator(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real)) + F.binary_cross_entropy_with_logits(
            logit_fake, torch.zeros_like(logit_fake)
        )
        return {"d_loss": d_loss, "d_real": torch.sigmoid(logit_real).mean(), "d_fake": torch.sigmoid(logit_fake).mean()}

    # -- training ---------------------------------------------------------------
    def _d_update(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, torch.Tensor]:
        """Maximise log D(x) + log(1 - D(G(z))) on model-space reals and (detached) fakes."""
        with self.autocast():
            d = self._losses(real, fake)
        optimizer_step(d["d_loss"], self.opt_d, name="d_loss")
        return {k: v.detach() for k, v in d.items()}

    def _g_update(self, fake: torch.Tensor) -> torch.Tensor:
        """Minimise the non-saturating -log D(G(z)) through the current D, whose weights stay frozen."""
        # Freezing D's weights lets backward skip their gradients.
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                logit = self.discriminator(fake)
                g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            optimizer_step(g_loss, self.opt_g, name="g_loss")
        finally:
            self.discriminator.requires_grad_(True)
        if self.ema is not None:
            self.ema.update(self.generator)
        return g_loss.detach()

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        real = self._to_model(batch.x)
        n = real.shape[0]
        z = torch.randn(n, self.latent_dim, device=real.device)
        with self.autocast():
            fake = self.generator(z)
        # 1. Discriminator; 2. generator through the updated D, reusing G(z).
        d = self._d_update(real, fake)
        g_loss = self._g_update(fake)
        stats = torch.stack([d["d_loss"], g_loss, d["d_real"], d["d_fake"]]).tolist()
        return dict(zip(("d_loss", "g_loss", "d_real", "d_fake"), stats))

    def prepare_batch(self, batch: Batch) -> tuple[torch.Tensor, None]:
        """(model-space images, no labels) for :meth:`discriminator_step`."""
        return self._to_model(batch.x.to(self.device)), None

    def discriminator_step(self, real: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of D alone on a model-space real batch against fresh fakes (the GAN view's Step D)."""
        self.train()
        with torch.no_grad(), self.autocast():
            fake = self.generator(torch.randn(real.shape[0], self.latent_dim, device=real.device))
        return self._d_update(real, fake)

    def generator_step(self, n: int, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of G alone on ``n`` fresh fakes through the current D (the GAN view's Step G)."""
        self.train()
        fake = self.generator(torch.randn(n, self.latent_dim, device=self.device))
        return {"g_loss": self._g_update(fake)}

    @contextlib.contextmanager
    def _d_as_in_training(self) -> Iterator[None]:
        """D with batch statistics, as it trains; its batch-norm buffers are restored on exit."""
        buffers = {k: v.clone() for k, v in self.discriminator.state_dict().items()}
        self.discriminator.train()
        try:
            yield
        finally:
            self.discriminator.load_state_dict(buffers)
            self.discriminator.eval()

    @torch.no_grad()
    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D's probability that each image (N x C x H x W in [0, 1]) is real, scored as one batch: N."""
        self.eval()
        with self._d_as_in_training():
            return torch.sigmoid(self.discriminator(self._to_model(x.to(self.device))))

    def generator_field(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(G(z) from the raw generator in [0, 1], -d g_loss / d x per pixel in model units).

        The raw generator (not its EMA) is the one D plays against, so this is
        what a Step D or Step G changes at once.
        """
        self.eval()
        with torch.no_grad():
            x = self.generator(z.to(self.device))
        x.requires_grad_(True)
        with self._d_as_in_training():
            logit = self.discriminator(x)
            loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit), reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
        return self._to_data(x.detach()), crop_to(-grad, *self.data_info.shape[1:])

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """D's losses and outputs on validation images against fakes from a fixed seed.

        D runs with batch statistics, as in training (its running averages mix
        real and fake batches and are never used); its buffers are restored
        afterwards so evaluating changes nothing.
        """
        self.eval()
        gen = torch.Generator().manual_seed(1234)
        real = self._to_model(batch.x)
        fake = self._generator(True)(self.prior_sample(real.shape[0], gen))
        with self._d_as_in_training():
            d = self._losses(real, fake)
            logit = self.discriminator(fake)
            g_loss = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        return {"d_loss": d["d_loss"].item(), "g_loss": g_loss.item(), "d_real": d["d_real"].item(), "d_fake": d["d_fake"].item()}

    # -- sampling and the latent capability ---------------------------------------
    def _generator(self, use_ema: bool) -> nn.Module:
        return self.ema.shadow if (use_ema and self.ema is not None) else self.generator

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return randn((n, self.latent_dim), generator, self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """G(z) in [0, 1], with G in eval mode (batch norm uses its running statistics)."""
        self.eval()
        return self._to_data(self._generator(use_ema)(z.to(self.device)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        z = self.prior_sample(n, generator) * float(opts["truncation"])
        return self.decode(z, use_ema=bool(opts["use_ema"]))

    def sample_options(self) -> dict[str, Any]:
        return {"use_ema": True, "truncation": 1.0}

    def preview_kwargs(self) -> dict[str, Any]:
        return {}
