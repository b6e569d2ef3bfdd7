"""Window-level bugs found by trying the studio as a new user would (notes/walkthrough.md), one test each."""

from __future__ import annotations


def test_compare_window_fits_the_screen(window, qtbot):
    """Compare runs opens as a floating window; on a small screen it must not hang off the bottom or the side."""
    dock = window.show_compare()
    qtbot.waitUntil(dock.isVisible, timeout=5_000)
    avail = window.screen().availableGeometry()
    geo = dock.frameGeometry()
    assert dock.isFloating()
    assert avail.contains(geo), (geo, avail)
