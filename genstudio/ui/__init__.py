"""Everything Qt: the studio window, its panels and the bridge to the training thread.

Importing this package first protects Python 3.11 from a shiboken6 6.12
reference-count bug (see :mod:`genstudio.ui.shiboken_refcount`).
"""

from . import shiboken_refcount as _shiboken_refcount  # noqa: F401  (applied on import)
