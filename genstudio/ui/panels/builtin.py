"""The built-in capability panels: importing a panel module registers it.

Each panel issue adds one import line below (and nothing to the window).
"""

from __future__ import annotations

_loaded = False


def load_builtin_panels() -> None:
    """Import the panel modules once, so their ``register_panel`` calls run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    # -- panel modules (one line each) --
    from .diffusion import panel as _diffusion  # noqa: F401  (Denoiser: forward / reverse scrubbing, schedules, Markov chain)
    from .latent import panel as _latent  # noqa: F401  (Latent: map, manifold, traversals, interpolation, classes, codebook)
    from .gan import panel as _gan  # noqa: F401  (Adversarial: D heatmap and G arrows on 2-D data, D(x) / D(G(z)) on images, step D / G)
    from .autoregressive import panel as _autoregressive  # noqa: F401  (Autoregressive: generation, distributions, receptive field, completion, MADE masks, WaveNet)
    from .flow import panel as _flow  # noqa: F401  (Invertible: density, layer-by-layer warp, log-det map, temperatures, invertibility)
    from .vq_prior import panel as _vq_prior  # noqa: F401  (CodePrior: code grid drawn position by position and decoded, code usage, completion in code space)
