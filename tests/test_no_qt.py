"""core, data, models, metrics and the CLI must import and work with Qt unimportable."""

import subprocess
import sys

SCRIPT = r"""
import importlib.abc, sys

class BlockQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6"):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, BlockQt())
import genstudio.core, genstudio.core.engine, genstudio.data, genstudio.models, genstudio.metrics, genstudio.metrics.evaluate, genstudio.cli
import genstudio.core.cluster, genstudio.core.distributed, genstudio.desktop
from genstudio.core import registry
for mid in registry.model_ids():
    registry.get_model_class(mid)
for did in registry.dataset_ids():
    registry.get_dataset_loader(did)
assert genstudio.cli.main(["list", "models"]) == 0
bad = [m for m in sys.modules if m.split(".")[0] in ("PySide6", "pyqtgraph", "shiboken6")]
assert not bad, bad
print("OK")
"""


def test_imports_without_qt():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith("OK")


def test_studio_without_pyside_says_how():
    script = SCRIPT.split("import genstudio.core")[0] + "import genstudio.cli; raise SystemExit(genstudio.cli.main(['studio']))"
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "genstudio train --help" in r.stderr
