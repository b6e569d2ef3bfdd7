"""The original GAN with multilayer perceptrons (Goodfellow et al., "Generative
Adversarial Nets", NeurIPS 2014), for 2-D point sets and small images.

The idea: a generator G maps noise z ~ N(0, I) to data and a discriminator D
outputs the probability that its input is real; they play

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]                (Goodfellow et al. eq. 1)

D is updated ``d_steps`` times per G update (the k of the paper's
Algorithm 1). G minimises the non-saturating -log D(G(z)) rather than
log(1 - D(G(z))), whose gradient vanishes while D rejects every fake
(section 3). Both networks are MLPs: ReLU in G, LeakyReLU(0.2) in D, no
batch norm in D (so D scores each example on its own and the 2-D view can
evaluate it on a grid). On images G gets batch norm before each ReLU and D
dropout after each LeakyReLU (DCGAN's and the original paper's remedies):
without them, on mnist5k, D wins within a few hundred steps and G collapses
to one speckled blob. Points are normalised into [-1, 1] from the data's
extent; images are flattened and scaled to [-1, 1] to match G's tanh.

This module is also the base of ``cgan``, ``lsgan`` and ``wgan-gp``: a
variant changes :meth:`d_loss`, :meth:`g_loss`, :meth:`d_objective` or the
conditioning hooks. All log the same names as ``dcgan`` (d_loss, g_loss,
d_real, d_fake) so their curves compare; on ``8gaussians`` validation also
counts the modes covered (``genstudio.metrics.modes``).

For the GAN view on 2-D data, :meth:`discriminate` evaluates D anywhere in
data space and :meth:`generator_field` returns the direction in which G's
loss pushes each generated point.

Capabilities: Latent (``latent_dim`` = z_dim, ``decode`` = G(z),
``prior_sample``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import GenerativeModel, optimizer_step, randn
from genstudio.models.nets import mlp, point_normalisation

EVAL_SEED = 1234
MODE_SAMPLES = 2500  # VEEGAN's sample count for mode coverage


@dataclass
class GANConfig:
    z_dim: int = param(8, "dimension of the noise z fed to the generator", min=1, max=1024)
    hidden: int = param(256, "width of the hidden layers of G and D", min=8, max=4096)
    layers: int = param(3, "hidden layers in each network", min=1, max=8)
    lr_g: float = param(2e-4, "Adam learning rate of the generator", min=1e-6, max=1e-1, log=True)
    lr_d: float = param(2e-4, "Adam learning rate of the discriminator", min=1e-6, max=1e-1, log=True)
    beta1: float = param(0.5, "Adam beta1 (0.5 as in DCGAN; 0.9 tends to oscillate)", min=0.0, max=0.999)
    beta2: float = param(0.999, "Adam beta2", min=0.0, max=0.9999)
    d_steps: int = param(1, "discriminator updates per generator update (k in Goodfellow et al., Algorithm 1)", min=1, max=20)
    d_dropout: float = param(
        0.3, "dropout after each hidden layer of D on images (Goodfellow et al. trained D with dropout); none on 2-D points", min=0.0, max=0.9
    )


def normalised_mlp(sizes: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU blocks and a plain last layer: G on images (Radford et al. 2016, section 3)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b, bias=last))  # batch norm's shift replaces the bias
        if not last:
            layers += [nn.BatchNorm1d(b), nn.ReLU()]
    return nn.Sequential(*layers)


class GAN(GenerativeModel):
    config_class = GANConfig
    family = "adversarial"
    summary = "GAN (Goodfellow et al. 2014) with MLP generator and discriminator, for 2-D points and small images"
    data_kinds = ("image", "points")
    metric_groups = {"Losses": ["d_loss", "g_loss"], "D outputs": ["d_real", "d_fake"], "Modes covered (8gaussians)": ["modes"], "Sample diversity": ["diversity"]}
    #: What :meth:`discriminate` returns: "probability" of real, or a raw "score".
    d_output_kind = "probability"

    def __init__(self, config: Any, data_info: DataInfo):
        super().__init__(config, data_info)
        self.is_image = data_info.kind == "image"
        self.latent_dim = config.z_dim
        cond = self.condition_size(data_info)
        d = data_info.dim
        hid = [config.hidden] * config.layers
        self.generator = mlp([config.z_dim + cond, *hid, d], nn.ReLU) if not self.is_image else normalised_mlp([config.z_dim + cond, *hid, d])
        self.discriminator = mlp([d + cond, *hid, 1], self._d_activation(config))
        if not self.is_image:
            centre, scale = point_normalisation(data_info)
            self.register_buffer("centre", centre)
            self.register_buffer("scale", scale)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=betas)

    def _d_activation(self, config: Any):
        """LeakyReLU(0.2), followed on images by dropout.

        Without it an MLP D on 784 pixels wins within a few hundred steps on
        mnist5k (D(G(z)) near 0) and G collapses to one blob; dropout keeps D
        from memorising the 4,500 training digits. On 2-D points D must stay
        sharp enough to draw the heatmap, and dropout there only slows it.
        Dropout has no weights, so checkpoints load either way.
        """
        p = float(getattr(config, "d_dropout", 0.0)) if self.is_image else 0.0
        if p <= 0:
            return functools.partial(nn.LeakyReLU, 0.2)
        return lambda: nn.Sequential(nn.LeakyReLU(0.2), nn.Dropout(p))

    # -- conditioning hooks (cgan overrides them) ----------------------------------------
    def condition_size(self, data_info: DataInfo) -> int:
        return 0

    def _condition(self, h: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return h

    def _labels(self, batch: Batch) -> torch.Tensor | None:
        return None

    def _default_labels(self, n: int) -> torch.Tensor | None:
        return None

    # -- losses (lsgan and wgan-gp override them) -------------------------------------------
    def d_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        """-[log D(x) + log(1 - D(G(z)))] on logits (Goodfellow et al. eq. 1, D's side)."""
        return F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out)) + F.binary_cross_entropy_with_logits(
            fake_out, torch.zeros_like(fake_out)
        )

    def g_loss_per_example(self, fake_out: torch.Tensor) -> torch.Tensor:
        """Non-saturating -log D(G(z)) per example (Goodfellow et al. section 3)."""
        return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out), reduction="none")

    def d_output(self, out: torch.Tensor) -> torch.Tensor:
        """D's raw output as shown to the user: here the probability of real."""
        return torch.sigmoid(out)

    def d_objective(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on a real and a (detached) fake batch, and the logged statistics."""
        out_r, out_f = self.D(real, y), self.D(fake, y)
        return self.d_loss(out_r, out_f), {"d_real": self.d_output(out_r).mean(), "d_fake": self.d_output(out_f).mean()}

    # -- networks in model space ----------------------------------------------------------------
    def G(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Generated examples in model space, flattened: N x dim."""
        out = self.generator(self._condition(z, y))
        return torch.tanh(out) if self.is_image else out

    def D(self, x_model: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """D's raw output (a logit here) for flattened model-space examples: N."""
        return self.discriminator(self._condition(x_model, y)).squeeze(1)

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        if self.is_image:
            return (x * 2 - 1).flatten(1)
        return (x - self.centre) / self.scale

    def _to_data(self, x_model: torch.Tensor) -> torch.Tensor:
        if self.is_image:
            return ((x_model + 1) / 2).clamp(0, 1).view(-1, *self.data_info.shape)
        return x_model * self.scale + self.centre

    # -- training ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        """``d_steps`` discriminator updates, then one generator update (Goodfellow et al., Algorithm 1)."""
        real = self._to_model(batch.x)
        y = self._labels(batch)
        for _ in range(self.config.d_steps):
            d_stats = self.discriminator_step(real, y)
        g_stats = self.generator_step(real.shape[0], y)
        values = {**d_stats, **g_stats}
        names = ["d_loss", "g_loss", *[k for k in values if k not in ("d_loss", "g_loss")]]
        return dict(zip(names, torch.stack([values[k].float() for k in names]).tolist()))

    def discriminator_step(self, real: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of D (or the critic) on a model-space real batch against fresh fakes, G fixed.

        Public so the GAN view can step D alone; returns detached statistics.
        """
        self.train()
        with self.autocast():
            with torch.no_grad():
                fake = self.G(torch.randn(real.shape[0], self.latent_dim, device=real.device), y)
            d_loss, stats = self.d_objective(real, fake, y)
        optimizer_step(d_loss, self.opt_d, stats, name="d_loss")
        return {"d_loss": d_loss.detach(), **{k: v.detach() for k, v in stats.items()}}

    def generator_step(self, n: int, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of G on ``n`` fresh fakes through the current D, whose weights stay frozen meanwhile."""
        self.train()
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                fake = self.G(torch.randn(n, self.latent_dim, device=self.device), y)
                g_loss = self.g_loss_per_example(self.D(fake, y)).mean()
            optimizer_step(g_loss, self.opt_g, name="g_loss")
        finally:
            self.discriminator.requires_grad_(True)
        return {"g_loss": g_loss.detach()}

    def prepare_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(model-space examples, labels or None) for :meth:`discriminator_step`."""
        return self._to_model(batch.x), self._labels(batch)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """D's losses and outputs on validation data against fakes from a fixed seed; modes covered on 8gaussians."""
        self.eval()
        gen = torch.Generator().manual_seed(EVAL_SEED)
        real = self._to_model(batch.x)
        y = self._labels(batch)
        fake = self.G(self.prior_sample(real.shape[0], gen), y)
        with torch.enable_grad():  # the WGAN-GP critic objective differentiates D
            d_loss, stats = self.d_objective(real, fake, y)
        out = {"d_loss": d_loss.item(), "g_loss": self.g_loss_per_example(self.D(fake, y)).mean().item()}
        out.update({k: float(v) for k, v in stats.items()})
        if real.shape[0] > 2:
            # Mean pairwise distance of samples over that of real data: falls towards 0 as G collapses.
            out["diversity"] = (torch.pdist(self._to_data(fake).flatten(1)).mean() / torch.pdist(batch.x.to(self.device).flatten(1)).mean().clamp_min(1e-12)).item()
        if self.data_info.name == "8gaussians" and not self.is_image:
            from genstudio.metrics.modes import mode_coverage

            covered, _, _ = mode_coverage(self.sample(MODE_SAMPLES, torch.Generator().manual_seed(EVAL_SEED)))
            out["modes"] = float(covered)
        return out

    # -- the 2-D view ---------------------------------------------------------------------------------
    @torch.no_grad()
    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """D at data-space points or images: the probability of real (``d_output_kind``), N."""
        self.eval()
        return self.d_output(self.D(self._to_model(x), self._labels_or_default(labels, x.shape[0])))

    def generator_field(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(G(z) in data space, -d g_loss / d x at each generated point, in data units).

        The arrows GAN Lab draws: where G's loss, seen through the current D,
        pushes each generated example. x_data = x_model * scale + centre, so a
        model-space step delta moves the point by delta * scale.
        """
        self.eval()
        y = self._labels_or_default(labels, z.shape[0])
        with torch.no_grad():
            x = self.G(z.to(self.device), y)
        x.requires_grad_(True)
        loss = self.g_loss_per_example(self.D(x, y)).sum()
        (grad,) = torch.autograd.grad(loss, x)
        direction = -grad if self.is_image else -grad * self.scale
        return self._to_data(x.detach()), direction.detach()

    def _labels_or_default(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        return labels.to(self.device).long() if labels is not None else self._default_labels(n)

    # -- sampling and the latent capability --------------------------------------------------------
    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return randn((n, self.latent_dim), generator, self.device)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) in data space (images in [0, 1])."""
        self.eval()
        z = z.to(self.device)
        return self._to_data(self.G(z, self._labels_or_default(labels, z.shape[0])))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        return self.decode(self.prior_sample(n, generator) * float(opts["truncation"]))

    def sample_options(self) -> dict[str, Any]:
        return {"truncation": 1.0}
