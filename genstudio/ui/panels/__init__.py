"""Which extra panels a run gets, decided by the model's capabilities.

napari picks layer controls from a dict of layer type -> widget, most
specific match first; here the keys are capability names
(:data:`genstudio.core.capabilities.ALL`). A panel issue adds one line:

    register_panel("Denoiser", "Diffusion", DiffusionScrubPanel)

and the window shows the tab for every model that offers ``Denoiser``,
without a change to the window. A factory receives a :class:`PanelContext`
and returns a QWidget; it may also define ``on_event(event)`` to follow the
live run and ``shutdown()`` to let go of resources when the run closes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

# A more specific capability replaces the panel of the one it refines:
# a model that can encode gets the encoder panel, not also the decoder-only one.
REFINES: dict[str, str] = {"Encoder": "Latent"}


@dataclass
class PanelContext:
    """What a panel knows about the run it shows (it loads the model itself, from checkpoints)."""

    run_dir: Path | None
    capabilities: list[str]
    metric_groups: dict[str, list[str]] = field(default_factory=dict)
    data_info: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    live: bool = False
    #: The live run's newest weights (ui.training_worker.LiveWeightsFeed): panels look at the model before any checkpoint.
    live_weights: Any = None


PanelFactory = Callable[[PanelContext], Any]

#: capability name -> list of (tab title, factory)
PANELS: dict[str, list[tuple[str, PanelFactory]]] = {}


def register_panel(capability: str, title: str, factory: PanelFactory) -> None:
    PANELS.setdefault(capability, [])
    PANELS[capability] = [(t, f) for t, f in PANELS[capability] if t != title] + [(title, factory)]


def unregister_panel(capability: str, title: str | None = None) -> None:
    if title is None:
        PANELS.pop(capability, None)
    elif capability in PANELS:
        PANELS[capability] = [(t, f) for t, f in PANELS[capability] if t != title]


def panels_for(capabilities: list[str]) -> list[tuple[str, PanelFactory]]:
    """Tabs for a model, most specific capability first, each title once."""
    caps = set(capabilities)
    chosen: list[tuple[str, PanelFactory]] = []
    seen: set[str] = set()
    superseded = {REFINES[c] for c in caps if c in REFINES and PANELS.get(c)}
    ordered = sorted(caps, key=lambda c: (c not in REFINES, c))
    for cap in ordered:
        if cap in superseded:
            continue
        for title, factory in PANELS.get(cap, []):
            if title not in seen:
                seen.add(title)
                chosen.append((title, factory))
    return chosen
