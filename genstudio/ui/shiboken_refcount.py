"""Work around a reference-count bug of shiboken6 6.12 on Python 3.11.

shiboken6 6.12 returns ``None`` from every void Qt method (``setText``,
``processEvents``, ...) and ``True`` from ``Signal.emit`` without taking a
reference. On Python 3.12+ these singletons are immortal and nothing
happens; on 3.11 each call steals one reference, and a window with timers
aborts within minutes with "Fatal Python error: none_dealloc" (or
bool_dealloc). We give the three singletons a reference count so large that
no session can exhaust it, which is what 3.12 does by design. They are
never freed in any case, so this changes nothing else.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 48  # ~9 years of a million leaked references a second
_done = False


def protect_singletons() -> bool:
    """Make None, True and False effectively immortal on CPython < 3.12; True if applied."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        before = sys.getrefcount(obj)
        cell = ctypes.c_ssize_t.from_address(id(obj))  # ob_refcnt is the first field of PyObject
        if abs(cell.value - before) > 4:
            return False  # an unusual object layout (debug build): leave it alone
        cell.value += _BOOST
    _done = True
    return True


protect_singletons()
