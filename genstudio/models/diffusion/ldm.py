"""Latent diffusion (Rombach et al., "High-Resolution Image Synthesis with Latent Diffusion Models",
CVPR 2022): a DDPM that runs in the latent space of a trained autoencoder.

The idea: an autoencoder already maps images to a small latent z = E(x) and
back, x ~ D(z); perceptually irrelevant detail is left to the decoder, and
the diffusion model only has to learn the distribution of the latents, which
is smaller and smoother. Training encodes each batch with the frozen encoder
(the posterior mean) and trains an ordinary DDPM (``ddpm.py``: schedule,
parameterisations, samplers, EMA) on the latents, rescaled per dimension to
zero mean and unit variance from the first batch (the paper's rescaling of
the latent, section 4.3.2 and appendix G, so the unit-variance forward
process fits). Sampling runs the reverse chain on latents and decodes; every
``DenoiseStep`` is decoded too, so the panel shows D(z_t) and D(z0_hat) at
every step, while eps_hat stays in the latent space.

The autoencoder comes from a finished run (``autoencoder_run``: any model
with the Encoder capability, the ``vae`` in particular) on data of the same
shape. Its weights are copied into this model and saved in every
checkpoint; its run folder's config is read again when a checkpoint is
loaded, so the folder must stay where it is.

Capability: Denoiser (as DDPM; ``noise_shape`` tells the panel the noise is
a latent vector).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from genstudio.core.capabilities import Encoder
from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import DataMismatchError, GenerativeModel
from genstudio.core.registry import get_model_class
from genstudio.core.runs import RunError, RunFolder

from .base import check_sample_options
from .ddpm import DDPM, DDPMConfig
from .samplers import SAMPLERS, SPACINGS, VARIANCES, DenoiseStep


#: Models whose runs can serve as the autoencoder: they encode images to a flat latent and decode it
#: without labels (the cvae needs a class to encode; flows have no small latent).
AUTOENCODER_MODELS = ("vae", "beta-vae", "ae", "dae", "sparse-ae", "vq-vae")


@dataclass
class LDMConfig(DDPMConfig):
    # DDPM's original parameterisation: the v / cosine / min-SNR defaults were measured on pixels
    # (benchmarks/ddpm_methods.py), not in an autoencoder's latent space.
    schedule: str = param_of(DDPMConfig, "schedule", default="linear")
    prediction: str = param_of(DDPMConfig, "prediction", default="eps")
    loss_weighting: str = param_of(DDPMConfig, "loss_weighting", default="uniform")
    autoencoder_run: str = param(
        "",
        "run folder of a trained autoencoder (for example a vae run on the same dataset) whose latent space the diffusion runs in",
        kind="run",
        accepts=AUTOENCODER_MODELS,
    )


def load_autoencoder(run_dir: str | Path) -> GenerativeModel:
    """The model of a finished run at its latest checkpoint, on the CPU, frozen (core only: no engine import)."""
    run = RunFolder(Path(run_dir).expanduser())
    if not run.path.is_dir():
        raise RunError(f"autoencoder_run '{run_dir}' does not exist; train a vae first (genstudio train --model vae ...)")
    spec = run.spec()
    meta = run.meta
    if "data_info" not in meta:
        raise RunError(f"'{run.meta_path}' has no data_info; the autoencoder run folder is incomplete")
    model = get_model_class(spec.run.model)(spec.model, DataInfo.from_dict(meta["data_info"]))
    if not isinstance(model, Encoder):
        raise DataMismatchError(f"autoencoder_run '{run_dir}' holds a '{spec.run.model}' model, which cannot encode; use a vae or ae run")
    if run.latest_checkpoint() is None:
        raise RunError(f"autoencoder_run '{run_dir}' has no checkpoint yet")
    _, weights, _ = run.load_checkpoint(None, with_state=False)
    model.load_state_dict(weights)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class LatentDiffusion(GenerativeModel):
    config_class = LDMConfig
    family = "diffusion"
    summary = "Latent diffusion: a DDPM in the latent space of a trained autoencoder run, decoded at every step"
    data_kinds = ("image",)
    metric_groups = {"Loss": ["loss", "loss_ema"], "Gradient norm": ["grad_norm"]}

    def __init__(self, config: LDMConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        if not config.autoencoder_run:
            raise DataMismatchError("ldm needs autoencoder_run: the run folder of a trained vae on this dataset (--set autoencoder_run=runs/my-vae)")
        autoencoder = load_autoencoder(config.autoencoder_run)
        if tuple(autoencoder.data_info.shape) != tuple(data_info.shape):
            raise DataMismatchError(
                f"the autoencoder was trained on {autoencoder.data_info.shape} data, but '{data_info.name}' is {data_info.shape}; train it on this dataset"
            )
        self.autoencoder = autoencoder
        self.latent_dim = int(autoencoder.latent_dim)
        latent_info = DataInfo("points", (self.latent_dim,), data_info.num_classes, f"{data_info.name} latents")
        ddpm_fields = {f.name for f in dataclasses.fields(DDPMConfig)}
        self.diffusion = DDPM(DDPMConfig(**{k: v for k, v in dataclasses.asdict(config).items() if k in ddpm_fields}), latent_info)
        self.schedule = self.diffusion.schedule
        self.noise_shape = (self.latent_dim,)
        # Per-dimension latent statistics, fixed from the first training batch and saved with the weights.
        self.register_buffer("latent_mean", torch.zeros(self.latent_dim))
        self.register_buffer("latent_std", torch.ones(self.latent_dim))
        self.register_buffer("latent_stats_set", torch.zeros((), dtype=torch.bool))

    def train(self, mode: bool = True) -> "LatentDiffusion":
        super().train(mode)
        self.autoencoder.eval()  # frozen: never in training mode
        return self

    # -- image <-> normalised latent -------------------------------------------------------
    @torch.no_grad()
    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] -> normalised latents (N x latent_dim)."""
        return (self.autoencoder.encode(x.to(self.device)) - self.latent_mean) / self.latent_std

    @torch.no_grad()
    def to_data(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> decoded images in [0, 1]."""
        return self.autoencoder.decode(z * self.latent_std + self.latent_mean)

    # -- training -------------------------------------------------------------------------------
    def _latent_batch(self, batch: Batch) -> Batch:
        with torch.no_grad():
            z = self.autoencoder.encode(batch.x)
            if not bool(self.latent_stats_set):
                self.latent_mean.copy_(z.mean(0))
                self.latent_std.copy_(z.std(0).clamp(min=1e-3) if len(z) > 1 else torch.ones_like(z[0]))
                self.latent_stats_set.fill_(True)
        return Batch((z - self.latent_mean) / self.latent_std, batch.y)

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.autoencoder.eval()
        with self.autocast():  # the encoder's forward pass; the inner DDPM wraps its own
            latents = self._latent_batch(batch)
        return self.diffusion.train_step(latents)

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return self.diffusion.optimizers()

    def schedulers(self) -> dict[str, Any]:
        return self.diffusion.schedulers()

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        z = (self.autoencoder.encode(batch.x) - self.latent_mean) / self.latent_std
        out = self.diffusion.evaluate(Batch(z, batch.y))
        # The inner DDPM's bound is on the normalised latents, not on the images: not a likelihood of the data.
        return {k: v for k, v in out.items() if k not in ("nll", "bpd")}

    # -- the Denoiser capability -------------------------------------------------------------------
    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Encode, noise the latent (DDPM eq. 4), decode: what z_t looks like as an image. ``noise`` is latent-shaped."""
        z0 = self.to_model(x0)
        if noise is None:
            noise = torch.randn_like(z0)
        return self.to_data(self.schedule.q_sample(z0, t.to(self.device), noise.to(self.device)))

    def initial_noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.diffusion.initial_noise(n, generator)

    def denoise_steps(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> Iterator[DenoiseStep]:
        """The latent chain of :meth:`DDPM.denoise_steps`, with x_t and x0_hat decoded to images at every step."""
        for step in self.diffusion.denoise_steps(n, generator, **kwargs):
            # The inner DDPM has no extent, so its "data space" is the normalised latent itself.
            step.x_t = self.to_data(step.x_t)
            step.x0_hat = self.to_data(step.x0_hat)
            yield step

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Sample latents with the DDPM and decode them (images in [0, 1])."""
        check_sample_options(self, kwargs)
        z = self.diffusion.sample(n, generator, **kwargs)
        return self.to_data(z).clamp(0, 1)

    def sample_options(self) -> dict[str, Any]:
        return self.diffusion.sample_options()

    def sample_choices(self) -> dict[str, tuple[Any, ...]]:
        return {"sampler": SAMPLERS, "spacing": SPACINGS, "variance": VARIANCES}

    def preview_kwargs(self) -> dict[str, Any]:
        return self.diffusion.preview_kwargs()
