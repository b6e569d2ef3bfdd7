"""What every flow model shares: preprocessing with its Jacobian, the prior, the training step.

A flow is a bijection f from (preprocessed) data to a latent z of the same
dimension with a simple prior, so by the change of variables

    log p(x) = log p_Z(f(x)) + log |det df/dx|             (RealNVP eq. 3)

is exact. Here x -> z is the composition of the model's own preprocessing
(below) and its :class:`~genstudio.models.flows.layers.FlowNetwork`, and the
log-det of both is counted, so ``log_prob`` is a density in data space.

Images (values k/255, k = 0..255) are discrete, so a continuous density on
them is meaningless until they are dequantised (Theis et al. 2016; RealNVP
section 4.1):

    y = (k + u) / 256,  u ~ U(0, 1)^D,   y in [0, 1]^D.

For any continuous density p on [0, 1]^D, the discrete model
P(k) = integral of p over the cube of k has, by Jensen,

    log P(k) >= E_u[log p(y)] - D log 256,

so ``log_prob`` of an image is log p(y) - D log 256 for one draw of u: an
unbiased estimate of that lower bound on the discrete log-likelihood, and the
number every flow paper reports. bits/dim = -log P / (D ln 2). The flow itself
sees the logit of y (RealNVP section 4.1):

    s = logit(alpha + (1 - 2 alpha) y),
    log |ds/dy| = sum_d [log(1 - 2 alpha) - log p_d - log(1 - p_d)],  p = alpha + (1 - 2 alpha) y,

which keeps s finite at y = 0 and 1. Points are shifted and scaled into
roughly [-1, 1] from the data's extent (log-det -sum log scale).

Capabilities: Likelihood (exact), Invertible (``forward_with_logdet`` and
``inverse`` between data space and the flat latent, per-example log-det,
``layerwise`` for the layer slider), Latent and Encoder (the latent is the
flattened z; ``encode`` and ``decode`` are the two directions of the flow).
``fast_density`` and ``fast_sampling`` say which direction costs one pass and
which costs one pass per dimension (MAF and IAF); the UI shows it.

Optional, read from the config where a model declares them (RealNVP, Glow):
``ema_decay`` keeps an average of the flow's weights (core.ema) that
sampling, ``log_prob``, ``encode``, ``decode`` and the layer views use, as the
diffusion models do; ``warmup_steps`` ramps the learning rate up linearly
(Glow's code warms up too) and ``lr_schedule = "linear"`` lets it fall to 0
over the run's budget (Li et al. 2020); ``dequantization = "variational"`` draws u from
Flow++'s learned q(u | x) instead of U(0, 1)^D and subtracts log q from the
bound (flows.dequantization).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from genstudio.core.config import param
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.ema import EMA, average_of, fill_missing_average
from genstudio.core.model import GenerativeModel, optimizer_step, rand, randn
from genstudio.models.nets import point_normalisation

from .dequantization import VariationalDequantizer
from .layers import FlowNetwork
from .priors import ClassPrior, standard_logistic_log_prob, standard_normal_log_prob

BINS = 256  # 8-bit data
# Fixed seed for the dequantisation noise of ``evaluate`` and ``log_prob``:
# reproducible numbers that never advance the training RNG stream.
EVAL_SEED = 1234


@dataclass
class FlowTrainingConfig:
    """Settings every flow shares; each model's config adds its architecture."""

    #: What a run folder's config.toml written before a setting existed trained with (core.runs reads it).
    #: (Only the keys a model's config has apply: RealNVP and Glow declare the FlowOptions.)
    absent_in_older_runs: ClassVar[dict[str, Any]] = {"dequantization": "uniform", "class_conditional": False, "lr_schedule": "constant"}

    lr: float = param(1e-3, "Adam learning rate", min=1e-6, max=1e-1, log=True)
    clip_grad: float = param(100.0, "clip the gradient norm to this (0: off); flows have rare large gradients", min=0.0, max=1e6)
    logit_alpha: float = param(
        0.05, "images: logit(alpha + (1 - 2 alpha) y) keeps the flow's input finite (RealNVP: 0.05 CIFAR, 1e-6 MNIST)", min=1e-6, max=0.25
    )


@dataclass
class FlowOptions:
    """Settings some flows offer (RealNVP, Glow), declared once; each config places them with ``param_of``.

    Not a base class: the configs place them after their architecture, where the form shows them.
    """

    ema_decay: float = param(0.999, "decay of the weight average (warmed up as in core.ema) used for sampling and bits/dim; 0 turns it off", min=0.0, max=0.99999)
    warmup_steps: int = param(0, "linear learning-rate warm-up over this many steps (0: none)", min=0, max=100000)
    # Variational by default (benchmarks/RESULTS.md, time to quality; mnist5k, 10 minutes, two seeds): RealNVP FID 27.5
    # and 30.4 at n=500 against 31.9 and 34.9 with uniform noise, Glow 28.4 and 23.8 against 35.0 and 29.4, and a
    # tighter bound (bits/dim 1.24 / 1.22 against 1.32 / 1.30, Glow 1.28 / 1.26 against 1.38 / 1.35) though the
    # dequantiser costs RealNVP 1.8x and Glow 1.5x the time a step.
    dequantization: str = param(
        "variational", "images: the dequantisation noise, uniform (RealNVP) or variational (Flow++: a conditional flow q(u | x) trained with the model)",
        choices=("uniform", "variational"),
    )
    class_conditional: bool = param(
        False, "data with labels: Glow's class-conditional prior (a learned mean and scale of z for each class); samples are drawn class by class",
    )
    lr_schedule: str = param(
        "constant",
        "learning rate over the run: constant, or linear (after any warm-up, falls to 0 at the end of the run's steps or minutes, whichever comes first)",
        choices=("constant", "linear"),
    )


# -- preprocessing as pure functions -------------------------------------------------


def dequantize(x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Images k/255 in [0, 1] and noise u in [0, 1) -> y = (k + u) / 256 in [0, 1)."""
    return (torch.round(x * (BINS - 1)) + noise) / BINS


def logit_transform(y: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """s = logit(alpha + (1 - 2 alpha) y) and the per-example log |ds/dy|."""
    p = alpha + (1 - 2 * alpha) * y
    log_p, log_1mp = torch.log(p), torch.log1p(-p)
    logdet = (math.log(1 - 2 * alpha) - log_p - log_1mp).flatten(1).sum(1)
    return log_p - log_1mp, logdet


def inverse_logit_transform(s: torch.Tensor, alpha: float) -> torch.Tensor:
    return (torch.sigmoid(s) - alpha) / (1 - 2 * alpha)


def bits_per_dim(nll_nats: torch.Tensor | float, dim: int) -> torch.Tensor | float:
    return nll_nats / (dim * math.log(2))


class FlowModel(GenerativeModel):
    """Base class of the flow models: subclasses implement :meth:`build_flow`."""

    family = "flow"
    data_kinds = ("image", "points")
    metric_groups = {"NLL (nats)": ["loss", "nll"], "Bits/dim (images)": ["bpd"]}
    exact_likelihood = True
    #: One network pass scores a batch (False: one pass per dimension, e.g. IAF).
    fast_density: ClassVar[bool] = True
    #: One network pass draws a batch (False: one pass per dimension, e.g. MAF).
    fast_sampling: ClassVar[bool] = True
    #: The flow works on flat vectors, so images are flattened on the way in (NICE, MAF, IAF).
    flattens_images: ClassVar[bool] = False
    #: "gaussian" or "logistic" (NICE); subclasses may read it from their config.
    prior: str = "gaussian"

    def __init__(self, config: Any, data_info: DataInfo):
        super().__init__(config, data_info)
        self.is_image = data_info.kind == "image"
        self.likelihood_data = "8-bit" if self.is_image else "continuous"  # images: dequantised, module doc
        self.latent_dim = data_info.dim
        if not self.is_image:
            centre, scale = point_normalisation(data_info)
            self.register_buffer("centre", centre)
            self.register_buffer("scale", scale)
        self.flow: FlowNetwork = self.build_flow()
        # Images: Flow++'s learned dequantisation noise where the config asks for it (flows.dequantization).
        self.dequantizer: VariationalDequantizer | None = None
        if self.is_image and getattr(config, "dequantization", "uniform") == "variational":
            self.dequantizer = VariationalDequantizer(tuple(data_info.shape))
        # Glow's class-conditional prior where the config asks for it and the data has labels (flows.priors).
        self.class_prior: ClassPrior | None = None
        self.num_classes = 0
        if getattr(config, "class_conditional", False) and data_info.num_classes > 0:
            self.num_classes = data_info.num_classes
            self.class_prior = ClassPrior(self.num_classes, self.latent_dim)
        #: What the weight average holds: the flow and, where there is one, the class prior it is sampled with.
        self._averaged_names = ["flow"] + (["class_prior"] if self.class_prior is not None else [])
        self.opt = torch.optim.Adam(self.parameters(), lr=config.lr)
        warmup = int(getattr(config, "warmup_steps", 0))
        self.lr_schedule = (
            torch.optim.lr_scheduler.LambdaLR(self.opt, lambda step: min(1.0, (step + 1) / warmup)) if warmup > 0 else None
        )
        self.ema: EMA | None = None
        decay = float(getattr(config, "ema_decay", 0.0))
        if decay > 0:
            self.ema = EMA(average_of(self, self._averaged_names), decay=decay)
            # Checkpoints from before the average existed start it from their weights.
            self._register_load_state_dict_pre_hook(lambda sd, prefix, *rest: fill_missing_average(sd, prefix, "ema", self._averaged_names))
        if getattr(self.flow, "split_priors", None) is not None:
            self._register_load_state_dict_pre_hook(lambda sd, prefix, *rest: self._fill_missing_split_priors(sd, prefix))

    def _fill_missing_split_priors(self, state_dict: dict, prefix: str) -> None:
        """A checkpoint from before the flow had split priors: zeros, the standard normal prior it was trained with."""
        for key, value in self.state_dict().items():
            if "split_priors." in key and f"{prefix}{key}" not in state_dict:
                state_dict[f"{prefix}{key}"] = torch.zeros_like(value)

    def build_flow(self) -> FlowNetwork:  # pragma: no cover - abstract
        raise NotImplementedError

    def sampling_model(self, use_ema: bool = True) -> "FlowModel":
        """The model whose flow samples and scores: a view through the averaged weights (when kept and ``use_ema``),
        else the model itself. Nothing is written to the live weights, so a panel may draw on one thread while
        another reads the model."""
        if self.ema is None or not use_ema:
            return self
        return self.ema.averaged_view(self, self._averaged_names)

    # -- data space <-> the flow's input ---------------------------------------------
    def _to_flow_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous data -> the flow's input, with log |d input / d x| per example."""
        if self.is_image:
            h, logdet = logit_transform(x, self.config.logit_alpha)
            return (h.flatten(1) if self.flattens_images else h), logdet
        h = (x - self.centre) / self.scale
        return h, (-torch.log(self.scale).sum()).expand(x.shape[0])

    def _from_flow_input(self, h: torch.Tensor) -> torch.Tensor:
        if self.is_image:
            return inverse_logit_transform(h, self.config.logit_alpha)
        return h * self.scale + self.centre

    def _prior_log_prob(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z), or with a class prior log p(z | y) where ``labels`` gives y (>= 0) and the marginal elsewhere."""
        if self.class_prior is not None:
            if labels is None:
                return self.class_prior.marginal_log_prob(z)
            known = labels >= 0
            conditional = self.class_prior.log_prob(z, labels.clamp(min=0))
            if bool(known.all()):  # a labelled batch, as in training: no marginal over the classes needed
                return conditional
            return torch.where(known, conditional, self.class_prior.marginal_log_prob(z))
        return standard_logistic_log_prob(z) if self.prior == "logistic" else standard_normal_log_prob(z)

    # -- Invertible ----------------------------------------------------------------
    def forward_with_logdet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Continuous data (images: already-dequantised values in [0, 1]) -> (z, log |dz/dx|), z N x D."""
        h, ld_pre = self._to_flow_input(x)
        z, ld_flow = self.flow(h)
        return z, ld_pre + ld_flow

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """Flat latent N x D -> data space (images in [0, 1], not rounded)."""
        h = self.flow.inverse(z.reshape(z.shape[0], -1))
        return self._from_flow_input(h).reshape(z.shape[0], *self.data_info.shape)

    @torch.no_grad()
    def layerwise(self, x: torch.Tensor, with_logdet: bool = False, use_ema: bool = True):
        """The data after each stage, for the layer-by-layer warp view.

        Entry 0 is ``x`` itself (data space), entry 1 the flow's input after the
        model's preprocessing (normalisation or logit), then one entry per layer
        (labels in :meth:`layer_labels`); the last is z. Each is N x D: for
        multi-scale image flows, factored-out parts are kept in place, so
        every entry is the whole state. With ``with_logdet`` also returns the
        cumulative per-example log |d state / dx| for each entry (the log-det map).
        """
        self.eval()
        h, ld_pre = self._to_flow_input(x)
        states, logdets = self.sampling_model(use_ema).flow.layerwise(h)
        states = [x.flatten(1)] + states
        logdets = [torch.zeros_like(ld_pre)] + [ld_pre + ld for ld in logdets]
        return (states, logdets) if with_logdet else states

    @torch.no_grad()
    def invertibility_error(self, x: torch.Tensor) -> float:
        """max |inverse(forward(x)) - x| over a batch of continuous data: the flow panel's check."""
        self.eval()
        m = self.sampling_model()
        z, _ = m.forward_with_logdet(x)
        return float((m.inverse(z) - x).abs().max())

    def layer_labels(self) -> list[str]:
        """Labels for the entries of :meth:`layerwise`."""
        pre = "logit" if self.is_image else "normalise"
        return ["data", pre] + self.flow.layer_labels()

    # -- Likelihood ----------------------------------------------------------------
    def _dequantization_noise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images: the noise one dequantisation of ``x`` draws from, u ~ U(0, 1) or, for the learned q, eps ~ N(0, I)."""
        if generator is None:  # training: the run's RNG stream, laid out as the batch is (channels-last too)
            return torch.randn_like(x) if self.dequantizer is not None else torch.rand_like(x)
        return (randn if self.dequantizer is not None else rand)(x.shape, generator, x.device)

    def _log_prob_with_noise(self, x: torch.Tensor, noise: torch.Tensor | None, dequantizer: VariationalDequantizer | None = None,
                             labels: torch.Tensor | None = None) -> torch.Tensor:
        """Per-example log-likelihood in nats: discrete (dequantised, see module doc) for images.

        With a learned dequantiser ``noise`` is its eps, and the bound subtracts log q(u | x) (Flow++ eq. 12).
        With a class prior and ``labels``, of x given its class (training); without, of x alone.
        """
        if self.is_image:
            log_q = 0.0
            if dequantizer is not None:
                noise, log_q = dequantizer(x, noise)
            y = dequantize(x, noise)
            z, logdet = self.forward_with_logdet(y)
            return self._prior_log_prob(z, labels) + logdet - self.latent_dim * math.log(BINS) - log_q
        z, logdet = self.forward_with_logdet(x)
        return self._prior_log_prob(z, labels) + logdet

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        """log p(x) per example in nats; images: of the 8-bit data, with fixed-seed dequantisation noise."""
        self.eval()
        noise = None
        if self.is_image:
            noise = self._dequantization_noise(x, torch.Generator().manual_seed(EVAL_SEED))
        # The averaged view averages the flow only; the dequantiser's live weights give a valid bound with it.
        return self.sampling_model(use_ema)._log_prob_with_noise(x, noise, self.dequantizer)

    def _metrics(self, nll: torch.Tensor) -> dict[str, float]:
        out = {"loss": nll.item(), "nll": nll.item()}
        if self.is_image:
            out["bpd"] = float(bits_per_dim(nll.item(), self.latent_dim))
        return out

    # -- training ------------------------------------------------------------------
    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        noise = self._dequantization_noise(batch.x) if self.is_image else None
        labels = batch.y.to(batch.x.device) if self.class_prior is not None and batch.y is not None else None
        with self.autocast():
            nll = -self._log_prob_with_noise(batch.x, noise, self.dequantizer, labels).mean()
        optimizer_step(nll, self.opt, clip_grad_norm=self.config.clip_grad)
        if self.lr_schedule is not None:
            self.lr_schedule.step()
        if self.ema is not None:
            self.ema.update(average_of(self, self._averaged_names))
        return self._metrics(nll.detach())

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    def schedulers(self) -> dict[str, Any]:
        return {"warmup": self.lr_schedule} if self.lr_schedule is not None else {}

    def set_progress(self, fraction: float) -> None:
        """With ``lr_schedule = "linear"`` the rate falls linearly to 0 over the run's budget (Li et al. 2020, "Budgeted
        training"), on top of the warm-up: the warm-up's factor for this step times the fraction of the budget left."""
        if getattr(self.config, "lr_schedule", "constant") != "linear":
            return
        warm = self.lr_schedule.lr_lambdas[0](self.lr_schedule.last_epoch) if self.lr_schedule is not None else 1.0
        for group in self.opt.param_groups:
            group["lr"] = self.config.lr * warm * (1.0 - fraction)

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        return self._metrics(-self.log_prob(batch.x).mean())

    # -- Latent / Encoder --------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f(x) (N x D) for continuous data; images are taken as they are, not dequantised."""
        self.eval()
        return self.sampling_model().forward_with_logdet(x)[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor, use_ema: bool = True) -> torch.Tensor:
        self.eval()
        out = self.sampling_model(use_ema).inverse(z.to(self.device))
        return out.clamp(0, 1) if self.is_image else out

    def prior_sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0,
                     labels: torch.Tensor | None = None, use_ema: bool = True) -> torch.Tensor:
        """Draws from the prior, scaled by ``temperature`` (Glow section 5: T < 1 trades diversity for quality).

        With a class prior: from class ``labels`` (default: classes drawn uniformly, so the marginal), its
        spread about the class mean scaled by ``temperature``; T = 0 gives each class's mean.
        """
        shape = (n, self.latent_dim)
        if self.prior == "logistic":
            u = rand(shape, generator, self.device).clamp(1e-6, 1 - 1e-6)
            z = torch.log(u) - torch.log1p(-u)
        else:
            z = randn(shape, generator, self.device)
        if self.class_prior is None:
            return z * temperature
        if labels is None:
            labels = torch.randint(0, self.num_classes, (n,), generator=generator).to(self.device)
        return self.sampling_model(use_ema).class_prior.sample(labels.to(self.device), z * temperature)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        opts = {**self.sample_options(), **kwargs}
        use_ema = bool(opts["use_ema"])
        return self.decode(self.prior_sample(n, generator, float(opts["temperature"]), use_ema=use_ema), use_ema=use_ema)

    @torch.no_grad()
    def sample_conditional(self, labels: torch.Tensor, generator: torch.Generator | None = None, guidance_scale: float = 1.0,
                           **kwargs: Any) -> torch.Tensor:
        """Samples of the classes ``labels`` from a class prior (``guidance_scale`` has no meaning for a flow: ignored)."""
        if self.class_prior is None:
            raise ValueError(f"this {type(self).__name__} was trained without class_conditional: it has no class prior")
        opts = {**self.sample_options(), **kwargs}
        use_ema = bool(opts["use_ema"])
        z = self.prior_sample(len(labels), generator, float(opts["temperature"]), labels=labels, use_ema=use_ema)
        return self.decode(z, use_ema=use_ema)

    def sample_options(self) -> dict[str, Any]:
        # The previews and the in-training FID sample at temperature 1 too: cooling (Glow section 5) made
        # every checkpoint of our mnist5k RealNVPs worse, FID 207 -> 282 at 0.8 (benchmarks/RESULTS.md).
        return {"temperature": 1.0, "use_ema": True}

    @property
    def sampling_nfe(self) -> int:
        """Passes through the flow per sample: one, or one per dimension where sampling is the slow direction (MAF)."""
        return 1 if self.fast_sampling else self.latent_dim

