"""An autoregressive prior over a VQ-VAE's code maps: the second stage of van den Oord, Vinyals &
Kavukcuoglu, "Neural Discrete Representation Learning" (NeurIPS 2017), section 3.3, and the small
analogue of DALL-E's discrete VAE plus transformer prior (Ramesh et al., "Zero-Shot Text-to-Image
Generation", ICML 2021).

The idea: a trained VQ-VAE turns each image into a small grid of discrete
codes (7 x 7 of K = 64 for 28 x 28 digits) and decodes any grid back to an
image. While it trains, its prior over the codes is uniform, so decoding
random grids gives noise (its own ``sample``). Section 3.3: "after training,
we fit an autoregressive distribution over z, p(z), so that we can generate x
via ancestral sampling". Here p(z) is a Gated PixelCNN over the code grid,
p(z) = prod_(i,j) p(z_ij | z_<ij), each factor a categorical over the K codes,
built from the same gated layers as ``gated_pixelcnn.py`` (vertical and
horizontal stacks, no blind spot, class bias when labels exist, eq. 4) with a
learned embedding of each code as input. Training encodes every batch with
the frozen VQ-VAE (its nearest-code indices) and minimises the codes' exact
negative log-likelihood; sampling draws a grid position by position and
decodes it with the VQ-VAE's decoder, which is never trained here.

The VQ-VAE comes from a finished run (``codebook_run``, checked by
``core/run_refs.py`` like ``ldm``'s autoencoder: a vq-vae, finished, with a
checkpoint, on data of this shape). Its weights are copied into this model
and saved in every checkpoint; its run folder is read again when the model is
rebuilt, so the folder must stay where it is.

Numbers: ``nll`` is -log p(codes) in nats per image, ``bpd`` the bits per
code position (nll / (h w ln 2)), a likelihood of the code maps, not of the
pixels (``likelihood_data = "VQ codes"``). Sample quality (FID and the rest)
comes from the decoded images, as for every image model.

Capabilities: Likelihood (of the codes), Conditional (when trained with
labels), and CodePrior: ``codes``, ``decode_codes``, ``decode_partial``,
``generate_code_steps`` (one :class:`CodeStep` per position, with the
distribution it was drawn from) and ``complete_codes`` (some positions kept,
the rest drawn), which the studio's code-prior panel uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.core.config import param, param_of
from genstudio.core.data_types import Batch, DataInfo
from genstudio.core.model import GenerativeModel, optimizer_step, rand
from genstudio.core.run_refs import RunRefError, load_run_ref

from .common import AutoregressiveTrainingConfig, categorical_from_uniform
from .gated_pixelcnn import GatedLayer, GatedPixelCNNConfig

#: The models whose runs can serve as the codebook: they map images to a grid of code indices and back.
CODEBOOK_MODELS = ("vq-vae",)


@dataclass
class VQPriorConfig:
    codebook_run: str = param(
        "",
        "run folder of a finished vq-vae on this dataset: the prior learns its code maps, and samples decode through its frozen decoder",
        kind="run",
        accepts=CODEBOOK_MODELS,
    )
    embed_dim: int = param(16, "size of the learned vector each code is fed to the network as", min=2, max=512)
    channels: int = param_of(GatedPixelCNNConfig, "channels", default=32, help="channels p of each stack")
    layers: int = param_of(GatedPixelCNNConfig, "layers", default=6, help="gated layers (the first uses first_kernel, the rest 3 x 3 reach); 6 with a first kernel of 5 reach all 7 rows of a 7 x 7 grid")
    first_kernel: int = param_of(GatedPixelCNNConfig, "first_kernel", default=5)
    output_hidden: int = param_of(GatedPixelCNNConfig, "output_hidden", default=64, help="channels of the 1x1 layer before the K-way output")
    class_conditional: bool = param_of(GatedPixelCNNConfig, "class_conditional")
    label_dropout: float = param_of(GatedPixelCNNConfig, "label_dropout")
    # The shared 1e-3, not the Gated PixelCNN's 2e-3: that one is paired with its linear fall, which this prior lacks.
    lr: float = param_of(AutoregressiveTrainingConfig, "lr")
    grad_clip: float = param_of(GatedPixelCNNConfig, "grad_clip")


@dataclass
class CodeStep:
    """One position of a code grid drawn: the grid so far, which positions are drawn, and the draw's distribution."""

    codes: torch.Tensor  # N x h x w, long; positions not drawn yet hold 0
    drawn: torch.Tensor  # h x w, bool: drawn or given
    position: tuple[int, int]  # (i, j) just drawn
    probs: torch.Tensor  # N x K: p(z_ij | z_<ij) it was drawn from (after temperature and guidance)
    index: int  # positions drawn so far in this run
    total: int  # positions this run draws


class VQPrior(GenerativeModel):
    config_class = VQPriorConfig
    family = "autoregressive"
    summary = "VQ-VAE prior: a Gated PixelCNN over a trained vq-vae's code grid; samples decode through its frozen decoder"
    data_kinds = ("image",)
    metric_groups = {"Code NLL (nats/image)": ["loss", "nll"], "Bits per code": ["bpd"], "Gradient norm": ["grad_norm"]}
    exact_likelihood = True
    likelihood_data = "VQ codes"

    def __init__(self, config: VQPriorConfig, data_info: DataInfo):
        super().__init__(config, data_info)
        if not config.codebook_run:
            raise RunRefError(
                "vq-prior needs codebook_run: the run folder of a finished vq-vae on this dataset (--set codebook_run=runs/my-vq-vae)"
            )
        self.vqvae = load_run_ref("codebook_run", CODEBOOK_MODELS, config.codebook_run, tuple(data_info.shape), data_info.name)
        self.grid: tuple[int, int] = tuple(self.vqvae.grid)  # type: ignore[assignment]
        self.num_codes = int(self.vqvae.num_codes)
        p, e = config.channels, config.embed_dim
        self.conditional = bool(config.class_conditional and data_info.num_classes > 0)
        classes = data_info.num_classes if self.conditional else 0
        if self.conditional:
            self.num_classes = classes  # only then is the model Conditional
        self.null_class = classes
        self.embed = nn.Embedding(self.num_codes, e)
        # One "colour": the gated layers' channel masks are then open, and the first layer's mask A and the
        # vertical stack's shift keep each position from seeing itself or anything after it.
        self.layers = nn.ModuleList(
            GatedLayer(p, config.first_kernel if n == 0 else 3, 1, n == 0, e if n == 0 else p, classes + 1 if classes else 0)
            for n in range(config.layers)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(p, config.output_hidden, 1), nn.ReLU(), nn.Conv2d(config.output_hidden, self.num_codes, 1))
        self.opt = torch.optim.Adam([q for name, q in self.named_parameters() if not name.startswith("vqvae.")], lr=config.lr)

    def train(self, mode: bool = True) -> "VQPrior":
        super().train(mode)
        self.vqvae.eval()  # frozen: never in training mode
        return self

    # -- the network ---------------------------------------------------------------------------
    def _emb_index(self, labels: torch.Tensor | None, n: int, device: torch.device) -> torch.Tensor | None:
        if not self.conditional:
            return None
        if labels is None:
            return torch.full((n,), self.null_class, dtype=torch.long, device=device)
        labels = labels.to(device).long()
        return torch.where(labels >= 0, labels, torch.full_like(labels, self.null_class))

    def code_logits(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits N x K x h x w of every position's code given the codes before it in raster order (teacher forcing)."""
        x = self.embed(codes.to(self.device).long()).permute(0, 3, 1, 2)
        idx = self._emb_index(labels, x.shape[0], x.device)
        v = h = x
        skip: torch.Tensor | float = 0.0
        for layer in self.layers:
            v, h, s = layer(v, h, idx)
            skip = skip + s
        return self.head(skip)

    def _guided_logits(self, codes: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        if labels is None or guidance == 1.0 or not self.conditional:
            return self.code_logits(codes, labels)
        # Classifier-free guidance on logits (Ho & Salimans 2022): uncond + s (cond - uncond).
        cond, uncond = self.code_logits(codes, labels), self.code_logits(codes, None)
        return uncond + guidance * (cond - uncond)

    def nll_per_example(self, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """-log p(codes) in nats per example."""
        return F.cross_entropy(logits.float(), codes, reduction="none").flatten(1).sum(1)

    # -- the codes ----------------------------------------------------------------------------
    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen VQ-VAE's code map of each image: N x h x w (int64)."""
        return self.vqvae.codes(x.to(self.device))

    @torch.no_grad()
    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] decoded from code maps N x h x w by the frozen VQ-VAE."""
        return self.vqvae.decode_codes(codes)

    @torch.no_grad()
    def decode_partial(self, codes: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
        """Decode a grid of which only ``drawn`` (h x w) is filled: the other cells get the codebook's mean vector,
        a neutral stand-in, so the picture shows what the codes drawn so far contribute."""
        vq = self.vqvae
        book = vq.codebook.detach()
        z_q = book[codes.to(self.device).long()]  # N x h x w x D
        z_q = torch.where(drawn.to(self.device)[None, :, :, None], z_q, book.mean(0))
        # The VQ-VAE's decoder on code vectors directly: its public decode would snap the mean back to a code.
        return torch.sigmoid(vq._decode_grid(z_q.permute(0, 3, 1, 2)))

    # -- training ------------------------------------------------------------------------------
    def _bpd(self, nll: float) -> float:
        return nll / (self.grid[0] * self.grid[1] * math.log(2))

    def train_step(self, batch: Batch) -> dict[str, float]:
        self.train()
        codes = self.codes(batch.x)  # outside autocast: the nearest code is found in fp32, as the VQ-VAE trained
        labels = batch.y.to(self.device) if self.conditional else None
        if labels is not None and self.config.label_dropout > 0:
            drop = torch.rand(labels.shape, device=labels.device) < self.config.label_dropout
            labels = torch.where(drop, torch.full_like(labels, -1), labels)
        with self.autocast():
            nll = self.nll_per_example(self.code_logits(codes, labels), codes).mean()
        clip = self.config.grad_clip if self.config.grad_clip > 0 else None
        grad_norm = optimizer_step(nll, self.opt, clip_grad_norm=clip, name="nll")
        value = nll.item()
        out = {"loss": value, "nll": value, "bpd": self._bpd(value)}
        if grad_norm is not None:
            out["grad_norm"] = grad_norm
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"adam": self.opt}

    @torch.no_grad()
    def evaluate(self, batch: Batch) -> dict[str, float]:
        nll = -self.log_prob(batch.x, batch.y if self.conditional else None).mean().item()
        return {"loss": nll, "nll": nll, "bpd": self._bpd(nll)}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log p(codes(x)) per example in nats: a likelihood of the VQ-VAE's code maps, not of the pixels."""
        self.eval()
        codes = self.codes(x)
        return -self.nll_per_example(self.code_logits(codes, labels), codes)

    # -- generation -----------------------------------------------------------------------------
    @torch.no_grad()
    def generate_code_steps(
        self,
        n: int,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
        temperature: float = 1.0,
        guidance: float = 1.0,
        known: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> Iterator[CodeStep]:
        """Draw code grids in raster order, yielding a :class:`CodeStep` after each position.

        Where ``mask`` (h x w, bool) is True the code is taken from ``known`` (N x h x w) and not drawn. The
        uniforms are drawn up front from ``generator`` and inverted through each position's CDF, so a run is
        fixed by its seed, whichever positions are given.
        """
        self.eval()
        dev = self.device
        h, w = self.grid
        u = rand((n, h, w), generator, dev)
        codes = torch.zeros(n, h, w, dtype=torch.long, device=dev)
        drawn = torch.zeros(h, w, dtype=torch.bool, device=dev)
        if mask is not None:
            if known is None:
                raise ValueError("a mask needs the known codes it keeps")
            drawn = mask.to(dev).bool().clone()
            codes = torch.where(drawn[None], known.to(dev).long(), codes)
        if labels is not None:
            labels = labels.to(dev).long()
        total = int((~drawn).sum())
        index = 0
        for i in range(h):
            for j in range(w):
                if bool(drawn[i, j]):
                    continue
                # Rows below i cannot influence (i, j): the stacks are causal, so the crop is exact.
                logits = self._guided_logits(codes[:, : i + 1], labels, guidance)[:, :, i, j].float() / temperature
                codes[:, i, j] = categorical_from_uniform(logits, u[:, i, j])
                drawn[i, j] = True
                index += 1
                yield CodeStep(codes.clone(), drawn.clone(), (i, j), torch.softmax(logits, -1), index, total)

    def _draw_codes(self, n: int, generator: torch.Generator | None, **kwargs: Any) -> torch.Tensor:
        codes = torch.zeros(n, *self.grid, dtype=torch.long, device=self.device)
        for step in self.generate_code_steps(n, generator, **kwargs):
            codes = step.codes
        return codes

    @torch.no_grad()
    def complete_codes(
        self, codes: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Keep the codes where ``mask`` (h x w) is True, draw the rest in raster order given them: N x h x w."""
        out = codes.to(self.device).long().clone()
        for step in self.generate_code_steps(len(codes), generator, labels=labels, temperature=temperature, known=codes, mask=mask):
            out = step.codes
        return out

    def _check_options(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(kwargs) - set(self.sample_options())
        if unknown:
            raise TypeError(f"unknown sampling option(s) {', '.join(sorted(unknown))}; known: {', '.join(self.sample_options())}")
        return {**self.sample_options(), **kwargs}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **kwargs: Any) -> torch.Tensor:
        """Draw code grids and decode them (images in [0, 1]); a conditional prior cycles through the classes."""
        opts = self._check_options(kwargs)
        labels = torch.arange(n, device=self.device) % self.num_classes if self.conditional else None
        codes = self._draw_codes(n, generator, labels=labels, temperature=float(opts["temperature"]))
        return self.decode_codes(codes).clamp(0, 1)

    @torch.no_grad()
    def sample_conditional(self, labels: torch.Tensor, generator: torch.Generator | None = None,
                           guidance_scale: float = 1.0, **kwargs: Any) -> torch.Tensor:
        if not self.conditional:
            raise ValueError("this vq-prior was trained without class conditioning")
        opts = self._check_options(kwargs)
        codes = self._draw_codes(len(labels), generator, labels=labels, temperature=float(opts["temperature"]), guidance=float(guidance_scale))
        return self.decode_codes(codes).clamp(0, 1)

    def sample_options(self) -> dict[str, Any]:
        return {"temperature": 1.0}


__all__ = ["CODEBOOK_MODELS", "CodeStep", "VQPrior", "VQPriorConfig"]
