"""The base of the latent tabs that decode only while shown."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from .session import LatentSession


class LazyTab(QWidget):
    """A tab that decodes only while it is shown: a change while hidden marks it stale, the next show redraws.

    A click on the map then costs one decode, not the manifold grid and the
    traversal rows of tabs nobody is looking at.
    """

    panel: LatentSession

    def __init__(self) -> None:
        super().__init__()
        self._stale = True

    def render(self) -> None:
        raise NotImplementedError

    def request_render(self) -> None:
        if self.isVisible():
            self._stale = False
            self.render()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        if self._stale and self.panel.data is not None:
            self._stale = False
            self.render()
