"""Everything Qt: the studio window, its panels and the bridge to the training thread.

PySide6 is pinned below 6.12 in pyproject.toml: 6.12.0 drops a reference to
None / True on every void call and ``emit()`` on Python 3.11, which aborts a
window with timers within minutes ("Fatal Python error: none_dealloc").
"""
