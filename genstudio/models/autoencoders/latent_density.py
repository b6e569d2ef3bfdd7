"""Ex-post density estimation: a Gaussian mixture fitted to a VAE's encoded training set.

Ghosh et al. ("From Variational to Deterministic Autoencoders", ICLR 2020,
section 4) showed that a VAE's samples get much better when z is drawn from a
density fitted to the posterior means of the training set after training,
instead of from the N(0, I) prior: the aggregate posterior never fills the
prior (the "holes" of Rosca et al. 2018), and decoding z from a hole gives a
blurred, ambiguous digit. A 10-component full-covariance Gaussian mixture was
enough there; we fit it with scikit-learn.

:class:`CodeBank` keeps the posterior means of the most recent training
batches (a ring buffer registered as module buffers, so it is saved with the
weights and a resumed run holds the same codes); :func:`fit_mixture` fits the
mixture with a fixed seed, so the same codes always give the same density;
:func:`sample_mixture` draws from it with a torch generator (a fixed-seed
preview grid stays fixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

#: Added to each covariance's diagonal: keeps a component over a near-constant latent dimension invertible.
REG_COVAR = 1e-4


@dataclass(frozen=True)
class Mixture:
    """A fitted Gaussian mixture: weights (K), means (K x L), Cholesky factors of the covariances (K x L x L)."""

    weights: torch.Tensor
    means: torch.Tensor
    chol: torch.Tensor

    @property
    def components(self) -> int:
        return int(self.weights.shape[0])

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of each row of ``z`` (N x L) under the mixture."""
        comps = torch.distributions.MultivariateNormal(self.means.double(), scale_tril=self.chol.double())
        lp = comps.log_prob(z.double().unsqueeze(1)) + torch.log(self.weights.double())
        return torch.logsumexp(lp, 1).float()


def fit_mixture(codes: torch.Tensor, components: int, seed: int = 0) -> Mixture:
    """A full-covariance Gaussian mixture fitted to ``codes`` (N x L) by EM, with a fixed seed.

    Uses fewer components when there are fewer than ``2 * components`` codes.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    x = codes.detach().double().cpu().numpy()
    if len(x) < 2:
        raise ValueError(f"need at least 2 codes to fit a mixture, got {len(x)}")
    k = max(1, min(components, len(x) // 2))
    gm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=REG_COVAR, random_state=seed, max_iter=200)
    # One BLAS/OpenMP thread: on a busy 2-core machine k-means' threads spin against the training
    # thread (measured 39 s for 4,096 codes against 2.8 s with one thread); one thread is also deterministic.
    with threadpool_limits(1):
        gm.fit(x)
    cov = torch.as_tensor(gm.covariances_, dtype=torch.float64)
    return Mixture(
        weights=torch.as_tensor(gm.weights_, dtype=torch.float32),
        means=torch.as_tensor(gm.means_, dtype=torch.float32),
        chol=torch.linalg.cholesky(cov).float(),
    )


def sample_mixture(mix: Mixture, n: int, generator: torch.Generator | None, temperature: float = 1.0) -> torch.Tensor:
    """``n`` draws (N x L, CPU) from ``mix``; ``temperature`` scales each draw's offset from its component's mean."""
    idx = torch.multinomial(mix.weights, n, replacement=True, generator=generator)
    eps = torch.randn(n, mix.means.shape[1], generator=generator)
    offset = torch.einsum("nij,nj->ni", mix.chol[idx], eps)
    return mix.means[idx] + temperature * offset


class CodeBank(nn.Module):
    """The last ``size`` posterior means seen in training (a ring buffer saved with the weights)."""

    def __init__(self, size: int, latent_dim: int):
        super().__init__()
        self.register_buffer("codes", torch.zeros(size, latent_dim))
        self.register_buffer("written", torch.zeros((), dtype=torch.long))  # codes written so far, ever

    @torch.no_grad()
    def add(self, mu: torch.Tensor) -> None:
        mu = mu.detach().float()[-len(self.codes):]  # under bf16 autocast mu is bf16; the bank stays fp32
        start = int(self.written) % len(self.codes)
        idx = (torch.arange(len(mu), device=mu.device) + start) % len(self.codes)
        self.codes[idx] = mu.to(self.codes.device)
        self.written += len(mu)

    def filled(self) -> torch.Tensor:
        """The codes written so far (at most ``size``)."""
        return self.codes[: min(int(self.written), len(self.codes))]
