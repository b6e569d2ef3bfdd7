"""What the latent explorer's tabs use of the panel that holds them.

The tabs are typed against this protocol, not against ``LatentExplorerPanel``,
so no tab imports the panel that imports the tabs: a new tab is one file that
reads the session and is added in ``panel.py``.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from PySide6.QtWidgets import QLabel

from .prepare import ExplorerData


class LatentSession(Protocol):
    data: ExplorerData | None  # the loaded model's encodings and decoder; None until loaded
    current: np.ndarray | None  # the latent point the tabs decode around
    current_changed: Any  # Signal(object), emitted with the new point
    status: QLabel
    last_decode_ms: float

    def decode(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray: ...

    def set_current(self, z: np.ndarray) -> None: ...

    def update_status(self) -> None: ...
