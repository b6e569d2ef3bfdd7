"""Semi-supervised GAN (Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen,
"Improved Techniques for Training GANs", NeurIPS 2016, section 5; Odena,
"Semi-Supervised Learning with Generative Adversarial Networks", 2016).

The idea: the discriminator is a classifier with K + 1 outputs, the K
classes of the data and "generated". Labelled examples teach it the K
classes; unlabelled real examples must land in any of the K classes; fakes
in the (K+1)-th. The generator's fakes make the classifier learn what the
data's manifold looks like, so a few labels go further than in a plain
classifier.

As Salimans et al. (section 5) we keep K logits l_1..l_K and fix the fake
class's logit at 0 (a softmax is unchanged by a shift, so nothing is lost).
Then, with Z(x) = sum_k exp(l_k(x)),

    D(x) = p(real | x) = Z(x) / (Z(x) + 1),   i.e.  logit D(x) = logsumexp_k l_k(x)

    L_D = L_supervised + L_unsupervised
    L_supervised   = -E_{x,y labelled} log p(y | x, y < K+1)       (cross-entropy over the K logits)
    L_unsupervised = -E_x log D(x) - E_z log(1 - D(G(z)))          (the GAN loss on logsumexp)

and the generator uses feature matching (section 3.1): it matches the mean
of the discriminator's last hidden layer f on real and generated data,

    L_G = || E_x f(x) - E_z f(G(z)) ||^2 / width.

Networks (section 5, the permutation-invariant MNIST model, made smaller for
a 2-core CPU): an MLP discriminator with Gaussian noise added to its input
and hidden layers while it trains (sd ``noise_input`` and ``noise_hidden``,
the paper's 0.3 and 0.5; images only) and ``gan``'s MLP generator with batch
norm. Model space, sampling and the GAN view's hooks are ``gan``'s.

The labelled examples: ``labelled_per_class`` of each class, the first ones
of that class the training stream delivers. The stream is the training split
shuffled with the run's seed, so this is a uniform random choice from the
training split fixed by the seed; it is kept in the model's buffers
(``labelled_x``, ``labelled_y``), so a checkpoint, a resumed run and the
benchmark's plain classifier (benchmarks/sgan_accuracy.py) all see the same
examples. Every other label in the batches is ignored. Under torchrun each
process would pick its own set: not supported beyond one process.

Logged: d_loss, g_loss, d_real and d_fake (D(x) as a probability),
``sup_loss`` and, on the validation split, ``accuracy`` of the K-way
classifier argmax_k l_k(x). A dataset without labels is refused with the list
of datasets that have them. Capabilities: Latent and Adversarial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError, optimizer_step
from genstudio.models.adversarial.gan import EVAL_SEED, GAN, GANConfig

#: The datasets with class labels, for the refusal message (tests/models/test_sgan.py checks the built-in ones).
LABELLED_DATASETS = (
    "mnist5k, digits, MNIST, FashionMNIST, KMNIST, CIFAR10 (images); moons, circles, 8gaussians (2-D points); "
    "or your own: an image folder with one sub-folder per class, an array file with labels, a CSV with a label column"
)


def unlabelled_message(dataset: str, num_classes: int) -> str:
    """The one line that refuses ``sgan`` on data without (enough) classes."""
    has = "has no class labels" if num_classes == 0 else f"has only {num_classes} class"
    return f"sgan learns a classifier from a few labelled examples, but the dataset '{dataset}' {has}; datasets with labels: {LABELLED_DATASETS}"


@dataclass
class SGANConfig(GANConfig):
    labelled_per_class: int = param(10, "labelled examples per class the classifier learns from (the rest are used unlabelled)", min=1, max=500)
    lr_g: float = param_of(GANConfig, "lr_g", default=1e-3, help="Adam learning rate of the generator")
    lr_d: float = param_of(GANConfig, "lr_d", default=1e-3, help="Adam learning rate of the discriminator / classifier")
    sup_weight: float = param(1.0, "weight of the supervised cross-entropy beside the unsupervised GAN loss", min=0.0, max=100.0)
    noise_input: float = param(0.3, "sd of Gaussian noise added to D's input while it trains, on images (Salimans et al.: 0.3)", min=0.0, max=2.0)
    noise_hidden: float = param(0.5, "sd of Gaussian noise added to D's hidden layers while it trains, on images (Salimans et al.: 0.5)", min=0.0, max=2.0)
    d_dropout: float = param_of(GANConfig, "d_dropout", default=0.0, help="dropout after each hidden layer of D on images (the Gaussian noise already regularises it)")


class GaussianNoise(nn.Module):
    """x + N(0, sd^2) in training mode; the identity in eval mode (Salimans et al. section 5)."""

    def __init__(self, sd: float):
        super().__init__()
        self.sd = sd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sd * torch.randn_like(x) if self.training and self.sd > 0 else x


class ClassifierD(nn.Module):
    """The discriminator: a body (noise, Linear, LeakyReLU blocks) whose last hidden layer is f, and a K-logit head."""

    def __init__(self, dim: int, hidden: list[int], num_classes: int, noise_input: float, noise_hidden: float, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [GaussianNoise(noise_input)]
        for i, (a, b) in enumerate(zip([dim, *hidden[:-1]], hidden)):
            if i > 0:
                layers.append(GaussianNoise(noise_hidden))
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(GaussianNoise(noise_hidden), nn.Linear(hidden[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits l_1..l_K (the fake class's logit is the fixed 0)."""
        return self.head(self.body(x))


def unsupervised_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-E log D(x) - E log(1 - D(G(z))) with logit D = logsumexp of the K logits (Salimans et al. section 5)."""
    lse_r, lse_f = torch.logsumexp(logits_real, 1), torch.logsumexp(logits_fake, 1)
    # -log sigmoid(a) = softplus(-a) and -log(1 - sigmoid(a)) = softplus(a).
    return F.softplus(-lse_r).mean() + F.softplus(lse_f).mean()


def feature_matching(f_real: torch.Tensor, f_fake: torch.Tensor) -> torch.Tensor:
    """||E f(x) - E f(G(z))||^2 / width (Salimans et al. section 3.1)."""
    return ((f_real.mean(0) - f_fake.mean(0)) ** 2).mean()


class SGAN(GAN):
    config_class = SGANConfig
    summary = "Semi-supervised GAN: a K+1-way discriminator learns the classes from a few labels, G uses feature matching"
    metric_groups = {
        "Losses": ["d_loss", "g_loss"],
        "Supervised loss": ["sup_loss"],
        "D outputs": ["d_real", "d_fake"],
        "Classifier accuracy (validation)": ["accuracy"],
        "Sample diversity": ["diversity"],
    }

    @classmethod
    def data_problem(cls, data_info: DataInfo) -> str | None:
        """Why this data cannot train an sgan (the studio's form asks before Train), or None."""
        if data_info.num_classes < 2:
            return unlabelled_message(data_info.name or "this dataset", data_info.num_classes)
        return None

    def __init__(self, config: SGANConfig, data_info: DataInfo):
        problem = self.data_problem(data_info)
        if problem is not None:
            raise DataMismatchError(problem)
        self.num_labels = data_info.num_classes  # not ``num_classes``: that would make the model look Conditional
        super().__init__(config, data_info)
        noise = (config.noise_input, config.noise_hidden) if self.is_image else (0.0, 0.0)
        dropout = config.d_dropout if self.is_image else 0.0
        self.discriminator = ClassifierD(data_info.dim, [config.hidden] * config.layers, self.num_labels, *noise, dropout)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
        # The labelled set, slot k * n + i for the i-th example of class k; -1 marks an empty slot.
        n = config.labelled_per_class * self.num_labels
        self.register_buffer("labelled_x", torch.zeros(n, *data_info.shape))
        self.register_buffer("labelled_y", torch.full((n,), -1, dtype=torch.long))
        self._fm_real: torch.Tensor | None = None  # the latest real batch (model space), for feature matching

    # -- the labelled set -----------------------------------------------------------------------
    @torch.no_grad()
    def collect_labelled(self, batch: Batch) -> None:
        """Fill empty slots with the batch's first examples of each class still short of ``labelled_per_class``."""
        y = batch.y.to(self.device)
        free = self.labelled_y < 0
        if not bool(free.any()) or not bool((y >= 0).any()):
            return
        n = self.config.labelled_per_class
        filled = (~free).view(self.num_labels, n).sum(1).tolist()
        x = batch.x.to(self.device)
        for k in range(self.num_labels):
            if filled[k] >= n:
                continue
            idx = (y == k).nonzero().flatten()[: n - filled[k]]
            slots = k * n + filled[k] + torch.arange(len(idx), device=self.device)
            self.labelled_x[slots] = x[idx].to(self.labelled_x.dtype)
            self.labelled_y[slots] = k

    def labelled(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(examples in data space, labels) of the labelled set collected so far."""
        keep = self.labelled_y >= 0
        return self.labelled_x[keep], self.labelled_y[keep]

    # -- networks ---------------------------------------------------------------------------------
    def class_logits(self, x_model: torch.Tensor) -> torch.Tensor:
        """The K class logits for flattened model-space examples: N x K."""
        return self.discriminator(x_model)

    def features(self, x_model: torch.Tensor) -> torch.Tensor:
        """f(x), D's last hidden layer, which feature matching compares."""
        return self.discriminator.body(x_model)

    def D(self, x_model: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """logit D(x) = logsumexp_k l_k(x): the log-odds of real against the fake class's fixed logit 0."""
        return torch.logsumexp(self.class_logits(x_model), 1)

    # -- training ---------------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.collect_labelled(batch)
        return super().train_step(batch)

    def prepare_batch(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        real, y = super().prepare_batch(batch)
        self._fm_real = real  # a Step G alone (the GAN view) matches features against this batch
        return real, y

    def d_objective(self, real: torch.Tensor, fake: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Unsupervised GAN loss on the real and fake batches plus cross-entropy on the labelled set."""
        self._fm_real = real
        logits_r, logits_f = self.class_logits(real), self.class_logits(fake)
        unsup = unsupervised_loss(logits_r, logits_f)
        lx, ly = self.labelled()
        if len(ly):
            sup = F.cross_entropy(self.class_logits(self._to_model(lx)), ly)
        else:  # the first batches of a run can lack a class; nothing labelled yet only before the first step
            sup = torch.zeros((), device=real.device)
        stats = {
            "unsup_loss": unsup,
            "sup_loss": sup,
            "d_real": torch.sigmoid(torch.logsumexp(logits_r, 1)).mean(),
            "d_fake": torch.sigmoid(torch.logsumexp(logits_f, 1)).mean(),
        }
        return unsup + self.config.sup_weight * sup, stats

    def _g_objective(self, fake: torch.Tensor) -> torch.Tensor:
        """Feature matching against the latest real batch (or the labelled set before any batch); G's loss."""
        real = self._fm_real
        if real is None:
            lx, _ = self.labelled()
            real = self._to_model(lx) if len(lx) else None
        if real is None:  # a model that has seen no data at all: the non-saturating loss instead
            return self.g_loss_per_example(self.D(fake)).mean()
        with torch.no_grad():
            f_real = self.features(real)
        return feature_matching(f_real, self.features(fake))

    def generator_step(self, n: int, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One update of G by feature matching through the current D, whose weights stay frozen meanwhile."""
        self.train()
        self.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                fake = self.G(torch.randn(n, self.latent_dim, device=self.device))
                g_loss = self._g_objective(fake)
            optimizer_step(g_loss, self.opt_g, name="g_loss")
        finally:
            self.discriminator.requires_grad_(True)
        return {"g_loss": g_loss.detach()}

    def generator_field(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(G(z) in data space, -d L_G / d x per generated example): where feature matching pushes each fake."""
        self.eval()
        with torch.no_grad():
            x = self.G(z.to(self.device))
        x.requires_grad_(True)
        # The mean over fakes scales each example's gradient by 1/n; times n gives the per-example push.
        (grad,) = torch.autograd.grad(self._g_objective(x) * x.shape[0], x)
        direction = -grad if self.is_image else -grad * self.scale
        return self._to_data(x.detach()), direction.detach()

    # -- validation --------------------------------------------------------------------------------
    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example correctness (float 0/1) of the K-way classifier argmax_k l_k(x) on data-space ``x``."""
        self.eval()
        return (self.class_logits(self._to_model(x)).argmax(1) == y.to(self.device)).float()

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        """gan's D statistics, feature matching as G's loss, and the classifier's accuracy on the labelled examples of the batch."""
        saved = self._fm_real  # evaluating must not change what the next training step matches against
        try:
            out = super().evaluate(batch)
            fake = self.G(self.prior_sample(batch.x.shape[0], torch.Generator().manual_seed(EVAL_SEED)))
            self._fm_real = self._to_model(batch.x)
            out["g_loss"] = float(self._g_objective(fake))
        finally:
            self._fm_real = saved
        keep = batch.y >= 0
        if bool(keep.any()):
            out["accuracy"] = float(self.accuracy(batch.x[keep], batch.y[keep]).mean())
        return out

    def sandbox_diagnostics(self, real: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        """What the GAN tab shows beside the game: the classifier's accuracy on the view's labelled real examples."""
        out: dict[str, Any] = {"num_classes": self.num_labels, "chance": 1.0 / self.num_labels, "labelled": int((self.labelled_y >= 0).sum())}
        if labels is None or not len(real):
            return out
        keep = labels >= 0
        if not bool(keep.any()):
            return out
        y = labels[keep].long()
        correct = self.accuracy(real[keep], y).cpu().numpy()
        y_np = y.cpu().numpy()
        out["accuracy"] = float(correct.mean())
        out["per_class"] = np.array([correct[y_np == k].mean() if (y_np == k).any() else np.nan for k in range(self.num_labels)])
        out["examples"] = int(len(correct))
        return out
