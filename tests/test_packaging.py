"""Packaging: resources are package data, `genstudio install-desktop`, and the built wheel works on its own."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

import genstudio
from genstudio import desktop
from genstudio.cli import main
from genstudio.core.resources import resource_path

ROOT = Path(__file__).resolve().parents[1]


def _entry(path: Path) -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive in desktop entries
    cp.read_string(path.read_text())
    return cp["Desktop Entry"]


def test_runtime_resources_live_inside_the_package():
    package = Path(genstudio.__file__).parent
    presets = sorted(resource_path("presets").glob("*.toml"))
    assert presets and all(p.is_relative_to(package) for p in presets)
    assert {"vae.toml", "dcgan.toml", "ddpm.toml"} <= {p.name for p in presets}
    for name in ("genstudio.desktop", "genstudio.svg"):
        assert resource_path("desktop", name).is_file()
    assert not (ROOT / "resources" / "presets").exists(), "presets belong in genstudio/resources/presets"


def test_install_desktop_honours_xdg_data_home(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert main(["install-desktop"]) == 0
    entry_file = tmp_path / "data" / "applications" / "genstudio.desktop"
    icon_file = tmp_path / "data" / "icons" / "hicolor" / "scalable" / "apps" / "genstudio.svg"
    assert entry_file.is_file() and icon_file.is_file()
    assert icon_file.read_bytes() == resource_path("desktop", "genstudio.svg").read_bytes()
    entry = _entry(entry_file)
    assert entry["Type"] == "Application" and entry["Icon"] == "genstudio" and entry["Name"] == "genstudio"
    program = entry["Exec"].split(" ")[0]
    assert Path(program).is_absolute() and Path(program).parent == Path(sys.executable).absolute().parent
    assert os.access(program, os.X_OK) and entry["TryExec"] == program
    assert str(entry_file) in capsys.readouterr().err
    # Installing again replaces the files; uninstall removes exactly them.
    assert main(["install-desktop"]) == 0
    assert main(["install-desktop", "--uninstall"]) == 0
    assert not entry_file.exists() and not icon_file.exists()
    assert main(["install-desktop", "--uninstall"]) == 0
    assert "nothing to remove" in capsys.readouterr().err


def test_install_desktop_defaults_to_local_share(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    written = desktop.install()
    assert written[0] == tmp_path / ".local" / "share" / "applications" / "genstudio.desktop"
    assert desktop.uninstall() == written


def test_exec_key_quoting():
    assert desktop.exec_quote("/usr/bin/genstudio") == "/usr/bin/genstudio"
    assert desktop.exec_quote("/home/a b/venv/bin/genstudio") == '"/home/a b/venv/bin/genstudio"'
    assert desktop.exec_quote('/x/say "hi"$') == '"/x/say \\"hi\\"\\$"'
    assert desktop.exec_quote("/opt/100%/bin/genstudio") == "/opt/100%%/bin/genstudio"
    text = desktop.render_entry(["/home/a b/bin/genstudio"])
    lines = text.splitlines()
    assert [x for x in lines if x.startswith("Exec=")] == ['Exec="/home/a b/bin/genstudio"']
    assert [x for x in lines if x.startswith("TryExec=")] == ['TryExec="/home/a b/bin/genstudio"']


# -- the wheel, installed on its own ----------------------------------------------------------------------

STUDIO_CHECK = textwrap.dedent(
    """
    import json, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication(["genstudio"])
    import genstudio
    from genstudio.ui import app as studio
    from genstudio.ui.main_window import MainWindow
    from genstudio.ui.model_panel import PRESET_DIR

    def check():
        wins = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        panel = wins[0].model_panel
        panel.set_dataset("mnist5k", "image")
        presets = [panel.preset_box.itemText(i) for i in range(panel.preset_box.count())]
        print(json.dumps({"genstudio": genstudio.__file__, "preset_dir": str(PRESET_DIR), "presets": presets, "windows": len(wins)}))
        for w in wins:
            w.close()
        app.quit()

    QTimer.singleShot(300, check)
    sys.exit(studio.main(["--model", "vae", "--runs", sys.argv[1]]))
    """
)


@pytest.mark.slow
def test_wheel_installs_and_runs_on_its_own(tmp_path):
    # Build from a copy of the sources, so the checkout gets no build/ folder.
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(ROOT / "genstudio", src / "genstudio", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(dist), str(src)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("genstudio-*.whl")
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("genstudio/resources/presets/vae.toml", "genstudio/resources/desktop/genstudio.desktop", "genstudio/resources/desktop/genstudio.svg"):
        assert name in names
    assert not any(n.startswith(("tests/", "resources/", "benchmarks/")) for n in names)
    assert not any("screenshots" in n for n in names), "README screenshots stay out of the wheel"

    # A fresh venv that borrows the dev environment's packages (torch, Qt...) through a .pth line:
    # nothing is downloaded, and the editable genstudio there is not seen (its .pth is not processed).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    purelib = subprocess.run([str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "genstudio_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(vpy), "-m", "pip", "--disable-pip-version-check", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", str(wheel)],
        check=True,
        cwd=tmp_path,
    )
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "XDG_CONFIG_HOME": str(tmp_path / "config"),  # the studio's QSettings
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PYTHONPATH", None)
    script = venv / "bin" / "genstudio"
    listed = subprocess.run([str(script), "list", "models"], check=True, capture_output=True, text=True, cwd=tmp_path, env=env).stdout
    assert "vae" in listed and "glow" in listed  # the entry points came with the wheel

    out = subprocess.run([str(vpy), "-c", STUDIO_CHECK, str(tmp_path / "runs")], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["windows"] == 1
    assert Path(report["genstudio"]).is_relative_to(venv), report  # the installed copy, not the checkout
    assert Path(report["preset_dir"]).is_relative_to(venv) and "tuned for mnist5k" in report["presets"], report

    subprocess.run([str(script), "install-desktop"], check=True, capture_output=True, cwd=tmp_path, env=env)
    exec_line = _entry(tmp_path / "data" / "applications" / "genstudio.desktop")["Exec"]
    assert exec_line == str(script.absolute())
