"""The fuzz's worker process, shared by the fuzz's tests, and the report of what it saw."""

from __future__ import annotations

import os

import pytest

from .runner import TALLY, Worker


@pytest.fixture(scope="module")
def worker():
    """One worker for the fuzz's module, closed when it is done (the rest of the run goes without)."""
    w = Worker()
    yield w
    w.close()


def pytest_sessionfinish(session, exitstatus):
    """With FLATCORE_RELIABILITY_REPORT=path, write every call's outcome, by function, as JSON."""
    path = os.environ.get("FLATCORE_RELIABILITY_REPORT")
    if path and TALLY.counts:
        TALLY.write(path)
