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
