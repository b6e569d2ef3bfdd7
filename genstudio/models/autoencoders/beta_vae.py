"""beta-VAE (Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", ICLR 2017).

The idea: the VAE objective with the KL term weighted by beta > 1,

    L = E_q[log p(x|z)] - beta * KL(q(z|x) || N(0, I))                (Higgins et al. eq. 4)

The stronger pull towards the isotropic prior makes the posterior use few
latent dimensions, each for one factor of variation ("disentangled"), at the
cost of blurrier reconstructions. The latent explorer ranks traversal
sliders by ``kl_per_dim``: the dimensions with KL well above zero are the
ones the model uses; the rest are switched off (posterior collapse by design).

Everything but the default beta and latent size is the VAE of ``vae.py``
(which is the beta = 1 case). Capabilities: Latent, Encoder, Likelihood.
"""

from __future__ import annotations

from dataclasses import dataclass

from genstudio.core.config import param_of
from genstudio.models.autoencoders.vae import VAE, VAEConfig


@dataclass
class BetaVAEConfig(VAEConfig):
    latent_dim: int = param_of(VAEConfig, "latent_dim", default=10, help="dimension of the latent z (the beta-VAE paper uses 10)")
    beta: float = param_of(VAEConfig, "beta", default=4.0, help="weight of the KL term (Higgins et al. use 4 on dSprites; 1 is the plain VAE)")
    # The paper's objective from the first step: the VAE's KL warm-up would weaken the pressure that disentangles.
    kl_warmup: int = param_of(VAEConfig, "kl_warmup", default=0)


class BetaVAE(VAE):
    config_class = BetaVAEConfig
    summary = "beta-VAE: a VAE whose KL term is weighted by beta > 1, for fewer, disentangled latent dimensions"
