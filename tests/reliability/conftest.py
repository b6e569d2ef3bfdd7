"""Fault injection: every test in this folder is marked ``reliability`` (and runs in CI like the rest)."""

import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        if "/reliability/" in str(item.fspath):
            item.add_marker(pytest.mark.reliability)
