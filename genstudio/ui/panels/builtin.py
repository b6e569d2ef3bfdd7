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
    from . import diffusion_panel  # noqa: F401  (Denoiser: forward / reverse scrubbing, schedules, Markov chain)
    from . import latent_explorer  # noqa: F401  (Latent: map, manifold, traversals, interpolation, classes, codebook)
    from . import gan_view  # noqa: F401  (Adversarial: D heatmap, G gradient arrows, step D / G, drawn data)
