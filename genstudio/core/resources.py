"""Files shipped inside the package (``genstudio/resources/``): presets, the desktop entry, the icon.

They are package data, so they travel in the wheel and a frozen app and are
found the same way from a source checkout, an installed wheel or a
PyInstaller bundle: through ``importlib.resources`` relative to the
``genstudio`` package, never relative to the repository. (Screenshots for
the README stay in the repository's ``resources/screenshots/``, outside the
wheel.)
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """The path of ``genstudio/resources/<parts...>`` on disk.

    genstudio is always installed as plain files (a wheel unpacks, PyInstaller
    collects the data as files), so the package's resources are real paths.
    """
    root = resources.files("genstudio").joinpath("resources", *parts)
    return Path(str(root))
