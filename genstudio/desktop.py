"""``genstudio install-desktop``: put genstudio in the desktop's application menu (freedesktop.org).

Writes ``$XDG_DATA_HOME/applications/genstudio.desktop`` (``~/.local/share``
when XDG_DATA_HOME is unset) whose ``Exec`` is the absolute path of this
interpreter's ``genstudio`` script, so the menu entry starts the same
installation even when its bin folder is not on the desktop session's PATH,
and the icon as ``$XDG_DATA_HOME/icons/hicolor/scalable/apps/genstudio.svg``.
``--uninstall`` removes both. The entry and the icon ship inside the package
(``genstudio/resources/desktop/``). No Qt needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from genstudio.core.resources import resource_path

DESKTOP_NAME = "genstudio.desktop"
ICON_NAME = "genstudio.svg"


class DesktopError(ValueError):
    """The entry cannot be installed; the message says why."""


def data_home() -> Path:
    """XDG_DATA_HOME, or ~/.local/share when it is unset or not absolute (as the spec says)."""
    raw = os.environ.get("XDG_DATA_HOME", "")
    if raw and os.path.isabs(raw):
        return Path(raw)
    return Path.home() / ".local" / "share"


def entry_path() -> Path:
    return data_home() / "applications" / DESKTOP_NAME


def icon_path() -> Path:
    return data_home() / "icons" / "hicolor" / "scalable" / "apps" / ICON_NAME


def launcher_command() -> list[str]:
    """How to start this installation's studio: its ``genstudio`` script, else ``python -m genstudio``.

    ``sys.executable`` is not resolved: in a virtual environment it is a link
    to the base interpreter, and resolving it would leave the environment.
    """
    python = Path(sys.executable).absolute()
    for name in ("genstudio", "genstudio.exe"):
        script = python.parent / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)]
    return [str(python), "-m", "genstudio"]


def exec_quote(arg: str) -> str:
    """Quote one argument for a desktop entry's Exec key (Desktop Entry Specification, 'The Exec key')."""
    arg = arg.replace("%", "%%")  # a lone % would be read as a field code
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`='):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return f'"{escaped}"'


def render_entry(command: list[str]) -> str:
    """The shipped entry with ``Exec`` (and ``TryExec``) pointing at ``command``."""
    template = resource_path("desktop", DESKTOP_NAME).read_text()
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + " ".join(exec_quote(a) for a in command)
        elif line.startswith("TryExec="):
            continue
        lines.append(line)
        if line.startswith("Exec="):
            lines.append("TryExec=" + exec_quote(command[0]))  # the menu hides the entry if the program is gone
    return "\n".join(lines) + "\n"


def install() -> list[Path]:
    """Write the entry and the icon; returns the files written."""
    if sys.platform == "darwin" or sys.platform.startswith("win"):
        raise DesktopError("install-desktop writes a freedesktop.org menu entry (Linux and BSD desktops); on this system start the studio with `genstudio`")
    entry, icon = entry_path(), icon_path()
    for p in (entry, icon):
        p.parent.mkdir(parents=True, exist_ok=True)
    icon.write_bytes(resource_path("desktop", ICON_NAME).read_bytes())
    entry.write_text(render_entry(launcher_command()))
    entry.chmod(0o755)  # some desktops (GNOME) only trust executable entries
    _refresh_menus(entry.parent)
    return [entry, icon]


def uninstall() -> list[Path]:
    """Remove the entry and the icon; returns the files that were there."""
    removed = []
    for p in (entry_path(), icon_path()):
        if p.is_file():
            p.unlink()
            removed.append(p)
    _refresh_menus(entry_path().parent)
    return removed


def _refresh_menus(applications: Path) -> None:
    """Ask the desktop to re-read its menu when the tool is there; menus also notice on their own."""
    try:
        subprocess.run(["update-desktop-database", str(applications)], check=False, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pass  # optional: absent on many systems, and the entry works without it
